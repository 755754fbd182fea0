"""Reading what downloaded files say, defensively: JSON, numbers, word lists and names.

A LoRA's header, its sidecars and the gallery's own files may hold anything: JSON nested a
hundred thousand levels deep (``RecursionError``), ``NaN``/``Infinity``/``1e400`` (which JSON
responses cannot carry), numbers of 5,000 digits, lone surrogates (which UTF-8 cannot encode),
a string where a list belongs. Everything here turns such input into a value or one
:class:`UntrustedJSON` error with a readable reason, never another exception.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

MAX_DEPTH = 64
"""Real headers and sidecars nest 3–4 levels; anything deeper is refused."""
MAX_INT_DIGITS = 30


class UntrustedJSON(ValueError):
    """JSON that is invalid or refused (too deep, non-finite numbers, duplicate keys)."""


def _refuse_constant(name: str) -> Any:
    raise UntrustedJSON(f"holds {name}, which is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UntrustedJSON(f"holds the number {text[:20]!r}, too large for a double")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise UntrustedJSON(f"holds a {len(text):,}-digit number")
    return int(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        raise UntrustedJSON(f"has the key {display(duplicate)[:80]!r} twice")
    return result


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH, unique_keys: bool = False) -> Any:
    """``json.loads`` for untrusted text: invalid, too deep or non-finite input raises :class:`UntrustedJSON`."""
    hook: Callable[[list[tuple[str, Any]]], Any] | None = _unique_keys if unique_keys else None
    try:
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
            object_pairs_hook=hook,
        )
    except UntrustedJSON:
        raise
    except RecursionError:
        raise UntrustedJSON("is nested too deeply") from None
    except UnicodeDecodeError:
        raise UntrustedJSON("is not UTF-8 text") from None
    except ValueError as error:
        raise UntrustedJSON(f"is not valid JSON ({str(error).split(':')[0]})") from None
    if depth(value) > max_depth:
        raise UntrustedJSON(f"is nested more than {max_depth} levels deep")
    return value


def depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (iterative: safe on any depth)."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            pending.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            pending.extend((child, level + 1) for child in item)
    return deepest


def finite_number(value: Any) -> float | None:
    """A finite number from a JSON value (a number or a numeric string), else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if len(value) > 64:
            return None
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def text_of(value: Any) -> str:
    """A JSON value meant as text: a string as is (made encodable), anything else empty."""
    return display(value) if isinstance(value, str) else ""


def text_list(value: Any) -> list[str]:
    """A JSON value meant as a list of strings: a list keeps its strings, a string is one item."""
    if isinstance(value, str):
        return [display(value)]
    if isinstance(value, list):
        return [display(item) for item in value if isinstance(item, str)]
    return []


_SURROGATES = re.compile("[\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return "\ufffd"


def display(text: str) -> str:
    """``text`` made valid Unicode: undecodable file-name bytes show as ``\\xNN``, lone surrogates as ``�``.

    Names and paths keep their raw form internally (to open the file); what is shown, printed,
    written to JSON or matched against a tag is this form.
    """
    if text.isascii():
        return text
    return _SURROGATES.sub(_escape, text)


def display_all(texts: Iterable[str]) -> list[str]:
    return [display(text) for text in texts]


def json_safe(value: Any) -> Any:
    """``value`` as strict JSON can carry it: strings made valid Unicode, non-finite numbers ``None``.

    For output (``inspect --json``, HTTP responses): whatever a file held, the output is valid
    UTF-8 JSON that any client can parse.
    """
    if isinstance(value, str):
        return display(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {display(str(key)): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value
