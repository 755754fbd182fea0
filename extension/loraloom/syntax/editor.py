"""Edits of prompt text for UI controls: set a weight, rename, remove, insert a tag.

Every edit returns an :class:`Edit`: the new text and the one range that changed, so callers
(and tests) can rely on "nothing outside the edited span changed" and place the cursor.
Tags are addressed by their index among the lora/lyco tags of the text (as in ``tags``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .formatting import format_number
from .grammar import TAG_OPENING, scan_prompt
from .model import Span, Tag
from .parser import parse_prompt

WEIGHT_DIGITS = 6
"""Edited weights are rounded so slider steps don't leave float noise in the prompt."""


@dataclass(frozen=True)
class Edit:
    text: str
    """The whole new text."""
    span: Span
    """Where the replacement sits in the new text."""
    replaced: Span
    """The range of the old text that was replaced."""


def _replace(text: str, start: int, end: int, new: str) -> Edit:
    return Edit(text=text[:start] + new + text[end:], span=(start, start + len(new)), replaced=(start, end))


def tag_at(text: str, index: int) -> Tag:
    """The ``index``-th lora/lyco tag of ``text``; ``IndexError`` if there is none."""
    tags = parse_prompt(text).tags
    if not -len(tags) <= index < len(tags):
        raise IndexError(f"the text has {len(tags)} lora tags, not {index + 1}")
    return tags[index]


def find_tags(text: str, name: str) -> list[int]:
    """Indices of the tags of ``text`` that name ``name``."""
    return [i for i, tag in enumerate(parse_prompt(text).tags) if tag.name == name]


def _splice_tag(text: str, tag: Tag, changes: list[tuple[Span, str]]) -> Edit:
    """Apply changes (prompt coordinates inside ``tag``) and return one edit of the tag's span."""
    raw = tag.raw
    base = tag.span[0]
    for (start, end), new in sorted(changes, key=lambda change: change[0], reverse=True):
        raw = raw[: start - base] + new + raw[end - base :]
    return _replace(text, tag.span[0], tag.span[1], raw)


def _role_arg(tag: Tag, role: str, position: int):  # -> Arg | None
    named = [arg for arg in tag.args if arg.key == role]
    if named:
        return named[-1]
    positional = [arg for arg in tag.args if arg.key is None]
    return positional[position] if len(positional) > position else None


def set_weight(text: str, index: int, weight: float, *, unet: float | None = None) -> Edit:
    """Set a tag's weight. ``unet=None`` keeps te and unet together (an explicit unet follows).

    ``ValueError`` for a weight that is not a finite number (the tag would stop being valid).
    """
    if not math.isfinite(weight) or (unet is not None and not math.isfinite(unet)):
        raise ValueError(f"a weight must be a finite number, not {weight if unet is None else unet!r}")
    tag = tag_at(text, index)
    value = format_number(weight, WEIGHT_DIGITS)
    unet_value = format_number(weight if unet is None else unet, WEIGHT_DIGITS)
    changes: list[tuple[Span, str]] = []
    te_arg = _role_arg(tag, "te", 1)
    if te_arg is not None:
        changes.append((te_arg.value_span, value))
    else:
        name_end = tag.args[0].span[1]
        changes.append(((name_end, name_end), f":{value}"))
    unet_arg = _role_arg(tag, "unet", 2)
    if unet_arg is not None:
        changes.append((unet_arg.value_span, unet_value))
    elif unet_value != value:
        closing = tag.span[1] - 1
        changes.append(((closing, closing), f":unet={unet_value}"))
    return _splice_tag(text, tag, changes)


def rename_tag(text: str, index: int, name: str) -> Edit:
    """Point a tag at another LoRA, keeping all its arguments."""
    tag = tag_at(text, index)
    name_arg = _role_arg(tag, "name", 0) or tag.args[0]
    return _splice_tag(text, tag, [(name_arg.value_span, name)])


_SEPARATOR_AFTER = re.compile(r"[ \t]*,?[ \t]*")


def remove_tag(text: str, index: int) -> Edit:
    """Remove a tag and the one separator that joined it to its neighbours."""
    tag_at(text, index)  # IndexError with a clear message when there is no such tag
    return remove_tags(text, [index])


def remove_tags(text: str, indices: Iterable[int]) -> Edit:
    """Remove several tags, each as :func:`remove_tag` would one after the other, in one pass.

    Linear in the text: a prompt with thousands of tags of one LoRA is not re-parsed per tag.
    """
    tags = parse_prompt(text).tags
    spans = sorted({tags[index].span for index in indices})
    if not spans:
        return Edit(text=text, span=(0, 0), replaced=(0, 0))
    kept = _Pieces()
    position, first = 0, -1
    for start, end in spans:
        kept.add(text[position:start])
        if kept.empty() or kept.last() in "\r\n":
            end += len(_SEPARATOR_AFTER.match(text, end).group())  # type: ignore[union-attr]
        elif end == len(text) or text[end] in "\r\n,":
            kept.trim(" \t")
            kept.trim(",", most=1)
            kept.trim(" \t")
        elif text[end].isspace():
            kept.trim(" \t")
        first = kept.length if first == -1 else min(first, kept.length)
        position = end
    kept.add(text[position:])
    new = kept.text()
    return Edit(text=new, span=(first, len(new) - (len(text) - position)), replaced=(first, position))


class _Pieces:
    """The text kept so far, as pieces whose tails can be trimmed without copying."""

    def __init__(self) -> None:
        self._pieces: list[list[Any]] = []  # [text, end]
        self.length = 0

    def add(self, piece: str) -> None:
        if piece:
            self._pieces.append([piece, len(piece)])
            self.length += len(piece)

    def empty(self) -> bool:
        return not self._pieces

    def last(self) -> str:
        piece, end = self._pieces[-1]
        return piece[end - 1]

    def trim(self, characters: str, most: int | None = None) -> None:
        """Drop trailing ``characters`` (at most ``most`` of them)."""
        budget = most if most is not None else self.length
        while self._pieces and budget:
            piece = self._pieces[-1]
            end = piece[1]
            while end and budget and piece[0][end - 1] in characters:
                end -= 1
                budget -= 1
            self.length -= piece[1] - end
            piece[1] = end
            if end:
                return
            self._pieces.pop()

    def text(self) -> str:
        return "".join(piece if end == len(piece) else piece[:end] for piece, end in self._pieces)


def insert_tag(text: str, cursor: int, tag_text: str, separator: str = " ") -> Edit:
    """Insert ``tag_text`` at ``cursor``, adding ``separator`` where it touches other words.

    ``separator`` is A1111's "extra networks add text separator" (a space by default). The
    insertion never lands inside a ``<\\w+:…>`` span: a cursor inside a tag (ours or foreign)
    moves to its end, and a cursor after an opening that is never closed (``<lora:ink``,
    ``a <3:``) moves before it, since that opening would swallow the new tag up to its ``>``.
    """
    cursor = safe_insertion_point(text, max(0, min(cursor, len(text))))
    before, after = text[:cursor], text[cursor:]
    prefix = separator if before and not before[-1].isspace() and not before.endswith(separator) else ""
    if prefix and before.endswith(separator.strip() or "\0"):
        prefix = separator[len(separator.rstrip()) :] or prefix
    mark = separator.strip()
    if not after or after[0] in ",)]" or (mark and after.lstrip().startswith(mark)):
        suffix = ""
    else:
        suffix = mark if after[0].isspace() else separator
    edit = _replace(text, cursor, cursor, prefix + tag_text + suffix)
    return Inserted(edit.text, edit.span, edit.replaced, (cursor + len(prefix), cursor + len(prefix) + len(tag_text)))


@dataclass(frozen=True)
class Inserted(Edit):
    """An insertion: also where the inserted text itself sits (without the separators added)."""

    inserted: Span = (0, 0)


def safe_insertion_point(text: str, cursor: int) -> int:
    """The nearest place at or around ``cursor`` where new text cannot join a tag.

    Inside a tag (``<lora:…>``, a foreign ``<hypernet:…>``, any ``<word:…>``): its end. After
    an opening that would take the new text as its body (no ``>`` left in the text, or an
    empty ``<x:>`` with the cursor before its ``>``): before that opening.
    """
    last_closing = text.rfind(">")
    for token in scan_prompt(text):
        start = token.start_pos or 0
        if start >= cursor:
            break
        if token.type == "TAG" and cursor < start + len(token):
            return start + len(token)
        opening = TAG_OPENING.match(text, start) if token.type == "LT" else None
        if opening is None:
            continue
        # An opening that did not become a tag has no body before its first '>' (or no '>' at
        # all): text inserted up to that '>' would become its body.
        closing = -1 if opening.end() > last_closing else text.find(">", opening.end())
        if closing == -1 or cursor <= closing:
            return start
    return cursor
