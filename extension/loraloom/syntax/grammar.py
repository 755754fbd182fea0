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
    """The ``prompt`` rule alone: a flat sequence of tokens, so lexing it *is* parsing it.

    Kept as the reference :func:`scan_prompt` is tested against; a regex lexer is quadratic on
    text such as ``"<a:" * n`` (every ``<`` scans to the end for a ``>``), so it is not used.
    """
    return Lark(GRAMMAR_PATH.read_text(encoding="utf-8"), parser="lalr", lexer="basic", start="prompt")


TAG_OPENING = re.compile(r"<\w+:")
"""The start of the grammar's ``TAG`` terminal (``<\\w+:[^>]+>``): its body runs to the first ``>``."""


def scan_prompt(text: str) -> list[Token]:
    """Split prompt text into TAG / TEXT / LT tokens (positions are character offsets).

    The same tokens as the grammar's ``prompt`` rule, found in linear time: a tag's body ends at
    the first ``>`` after its opening, so once no ``>`` is left no later ``<`` can open a tag.
    """
    tokens: list[Token] = []
    position, length = 0, len(text)
    closing = 0  # the first '>' at or after the current opening (-1: none left)
    while position < length:
        lt = text.find("<", position)
        if lt == -1:
            tokens.append(Token("TEXT", text[position:], start_pos=position))
            break
        if lt > position:
            tokens.append(Token("TEXT", text[position:lt], start_pos=position))
        end = _tag_end(text, lt, closing)
        if end is None:
            tokens.append(Token("LT", "<", start_pos=lt))
            position = lt + 1
            continue
        if end == -1:
            closing = -1
            tokens.append(Token("LT", "<", start_pos=lt))
            position = lt + 1
            continue
        tokens.append(Token("TAG", text[lt : end + 1], start_pos=lt))
        position = end + 1
    return tokens


def _tag_end(text: str, lt: int, closing: int) -> int | None:
    """Where the tag opening at ``lt`` closes: the ``>``'s index, ``None`` (no opening), ``-1`` (never)."""
    opening = TAG_OPENING.match(text, lt)
    if opening is None:
        return None
    if closing == -1:
        return -1
    body = opening.end()
    end = text.find(">", body)
    if end == -1:
        return -1
    return end if end > body else None
