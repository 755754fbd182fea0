"""Typed argument values (weights, schedules, block weights, bounds, dyn) from their text.

Each reader returns ``(value, problem)``: exactly one of them is ``None``. A problem is a
message, a hint and the offset inside the value where it starts; the caller turns it into a
positioned diagnostic. The grammar decides what is well-formed; Python only adds range checks.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from lark import Tree

from .blocks import BLOCK_COUNTS, find_preset, preset_names
from .grammar import ValueError_, number_pattern, parse_value
from .model import Bound, Keyframe, Weight

CACHE_SIZE = 4096
"""Values repeat across tags, prompts and keystrokes; readers are pure, so they are cached."""
CACHED_LENGTH = 64
"""Only values this short are cached, so the cache holds at most ``CACHE_SIZE × CACHED_LENGTH``
characters of keys: a real weight is a few characters, a hostile one can be megabytes."""
MAX_DIGITS = 18
"""Steps and ranks are whole numbers far below 10¹⁸; longer digit runs are refused before
``int()`` sees them (it refuses over 4,300 digits, and takes quadratic time below that)."""
QUOTED_LENGTH = 40
"""Messages quote a value up to this many characters, then end it with ``…``."""

R = TypeVar("R")
WEIGHT_HINT = "write a number such as 0.8, or a schedule such as 0.8@0,0.2@0.5"


@dataclass(frozen=True)
class Problem:
    message: str
    hint: str
    offset: int = 0
    length: int | None = None
    """How many characters of the value are at fault (``None``: the rest of the value)."""


def cached(function: Callable[..., R]) -> Callable[..., R]:
    """An LRU cache for a reader whose first argument is the value text, skipping long texts."""
    memo = functools.lru_cache(maxsize=CACHE_SIZE)(function)

    @functools.wraps(function)
    def read(text: str, *args: Any) -> R:
        return memo(text, *args) if len(text) <= CACHED_LENGTH else function(text, *args)

    read.cache_clear = memo.cache_clear  # type: ignore[attr-defined]
    read.cache_info = memo.cache_info  # type: ignore[attr-defined]
    return read


def quoted(text: str) -> str:
    """``'text'`` for a message, shortened: a 500 KB value must not make a 500 KB message."""
    if len(text) > QUOTED_LENGTH:
        text = text[: QUOTED_LENGTH - 1] + "…"
    return f"'{text}'"


def _not_parsed(what: str, text: str, error: ValueError_, hint: str) -> Problem:
    if not text:
        return Problem(f"{what} is empty", hint)
    if error.offset == 0:
        return Problem(f"{what} {quoted(text)} is not a number", hint)
    if not error.found:
        return Problem(f"{what} {quoted(text)} ends too early", hint, error.offset, 0)
    message = f"{what} {quoted(text)}: unexpected {error.found!r} at character {error.offset + 1}"
    return Problem(message, hint, error.offset, 1)


def _finite(text: str, what: str, offset: int = 0) -> tuple[float | None, Problem | None]:
    value = float(text)
    if not math.isfinite(value):
        return None, Problem(f"{what} {quoted(text)} is too large", "use a number of ordinary size", offset, len(text))
    return value, None


def _whole(text: str, what: str, hint: str) -> tuple[int | None, Problem | None]:
    """A whole number the grammar accepted (``[+-]?digits``), refused when absurdly long."""
    if len(text.lstrip("+-").lstrip("0")) > MAX_DIGITS:
        return None, Problem(f"{what} {quoted(text)} is too large", hint, 0, len(text))
    return int(text), None


@cached
def read_weight(text: str, what: str = "weight") -> tuple[Weight | None, Problem | None]:
    """A constant multiplier, or a keyframe schedule ``w@t,w@t`` (``,`` or ``;`` between)."""
    if number_pattern().fullmatch(text):
        return _finite(text, what)
    if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        return None, Problem(f"{what} {quoted(text)} is not a finite number", "use a number such as 1 or 0.5")
    tree = parse_value(text, "weight")
    if isinstance(tree, ValueError_):
        return None, _not_parsed(what, text, tree, WEIGHT_HINT)
    keyframes = []
    for keyframe in tree.children:
        assert isinstance(keyframe, Tree)
        weight_token, position_token = keyframe.children
        weight, problem = _finite(str(weight_token), what, weight_token.start_pos)
        if problem:
            return None, problem
        position, problem = _finite(str(position_token), "position", position_token.start_pos)
        if problem:
            return None, problem
        if position < 0:  # type: ignore[operator]
            return None, Problem(
                f"schedule position {quoted(str(position_token))} is negative",
                "positions are a fraction of the pass (0…1) or a step number (> 1)",
                position_token.start_pos,
                len(position_token),
            )
        keyframes.append(Keyframe(position=position, weight=weight))  # type: ignore[arg-type]
    return tuple(keyframes), None


@cached
def read_dyn(text: str) -> tuple[int | None, Problem | None]:
    """``dyn=``: how many ranks of a DyLoRA file to keep."""
    hint = "dyn is a whole number of ranks to keep, such as 8"
    tree = parse_value(text, "dyn")
    if isinstance(tree, ValueError_):
        return None, _not_parsed("dyn", text, tree, hint)
    value, problem = _whole(text, "dyn", hint)
    if problem or value is None:
        return None, problem
    if value < 1:
        return None, Problem(f"dyn {quoted(text)} must be at least 1", hint)
    return value, None


@cached
def read_bound(text: str, what: str) -> tuple[Bound | None, Problem | None]:
    """``start=``/``stop=``: an integer is a step, a decimal ≤ 1 a fraction of the pass."""
    hint = f"{what} is a step number such as 5, or a fraction of the pass such as 0.5"
    tree = parse_value(text, "bound")
    if isinstance(tree, ValueError_):
        return None, _not_parsed(what, text, tree, hint)
    if any(c in text for c in ".eE"):
        value, problem = _finite(text, what)
        if problem:
            return None, problem
        if not 0 <= value <= 1:  # type: ignore[operator]
            return None, Problem(f"{what} {quoted(text)} is a decimal outside 0…1", hint)
        return value, None
    number, problem = _whole(text, what, hint)
    if problem or number is None:
        return None, problem
    if number < 0:
        return None, Problem(f"{what} {quoted(text)} is negative", hint)
    return number, None


def read_lbw(
    text: str, user_presets: Mapping[str, tuple[float, ...]] | None = None
) -> tuple[str | tuple[float, ...] | None, Problem | None]:
    """``lbw=``: a preset name, or one multiplier per block (17 for SD1.x, 12 for SDXL)."""
    if not user_presets:
        return _read_lbw_builtin(text)
    return _read_lbw(text, user_presets)


@cached
def _read_lbw_builtin(text: str) -> tuple[str | tuple[float, ...] | None, Problem | None]:
    return _read_lbw(text, None)


def _read_lbw(
    text: str, user_presets: Mapping[str, tuple[float, ...]] | None
) -> tuple[str | tuple[float, ...] | None, Problem | None]:
    counts = " or ".join(f"{n} values ({family})" for n, family in BLOCK_COUNTS.items())
    tree = parse_value(text, "lbw")
    if isinstance(tree, ValueError_):
        hint = f"give a preset name ({', '.join(preset_names(user_presets))}) or {counts}"
        return None, _not_parsed("lbw", text, tree, hint)
    if tree.data == "lbw_preset":
        name = find_preset(text, user_presets)
        if name is None:
            from difflib import get_close_matches

            close = get_close_matches(text, preset_names(user_presets), n=3, cutoff=0.5)
            suggestion = f"did you mean {', '.join(close)}? " if close else ""
            known = ", ".join(preset_names(user_presets))
            return None, Problem(f"lbw preset {quoted(text)} is unknown", f"{suggestion}known presets: {known}")
        return name, None
    values = []
    for token in tree.children:
        value, problem = _finite(str(token), "lbw value", token.start_pos)  # type: ignore[union-attr]
        if problem:
            return None, problem
        values.append(value)
    if len(values) not in BLOCK_COUNTS:
        return None, Problem(f"lbw has {len(values)} values", f"give {counts}")
    return tuple(values), None  # type: ignore[arg-type]
