"""Builds the LALR parser from ``grammar.lark`` once and parses its start rules.

Only lark APIs present in lark 1.1.2 (A1111's pin) are used.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

GRAMMAR_PATH = Path(__file__).with_name("grammar.lark")
START_RULES = ["prompt", "weight", "lbw", "bound", "dyn"]


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    return Lark(
        GRAMMAR_PATH.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        start=START_RULES,
        maybe_placeholders=False,
    )


@functools.lru_cache(maxsize=1)
def number_pattern() -> re.Pattern[str]:
    """The grammar's own NUMBER terminal, for a fast exact check of plain numbers."""
    return re.compile(parser().get_terminal("NUMBER").pattern.to_regexp())


@dataclass(frozen=True)
class ValueError_:
    """Where (offset inside the value) and why a value did not parse."""

    offset: int
    found: str


def parse_value(text: str, start: str) -> Tree | ValueError_:
    """Parse one stripped argument value with start rule ``start``; errors are returned."""
    try:
        return parser().parse(text, start=start)
    except UnexpectedInput as error:
        offset = getattr(error, "pos_in_stream", None)
        at_end = getattr(getattr(error, "token", None), "type", None) == "$END"
        if offset is None or offset < 0 or at_end:
            offset = len(text)
        return ValueError_(offset=offset, found=text[offset : offset + 1])


@functools.lru_cache(maxsize=1)
def prompt_lexer() -> Lark:
    """The ``prompt`` rule alone: a flat sequence of tokens, so lexing it *is* parsing it."""
    return Lark(GRAMMAR_PATH.read_text(encoding="utf-8"), parser="lalr", lexer="basic", start="prompt")


def scan_prompt(text: str) -> list[Token]:
    """Split prompt text into TAG / TEXT / LT tokens (positions are character offsets)."""
    return list(prompt_lexer().lex(text))
