"""Edits of prompt text for UI controls: set a weight, rename, remove, insert a tag.

Every edit returns an :class:`Edit`: the new text and the one range that changed, so callers
(and tests) can rely on "nothing outside the edited span changed" and place the cursor.
Tags are addressed by their index among the lora/lyco tags of the text (as in ``tags``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .formatting import format_number
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
    """Set a tag's weight. ``unet=None`` keeps te and unet together (an explicit unet follows)."""
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


_SEPARATOR_BEFORE = re.compile(r"[ \t]*,?[ \t]*\Z")
_SPACES_BEFORE = re.compile(r"[ \t]*\Z")
_SEPARATOR_AFTER = re.compile(r"[ \t]*,?[ \t]*")


def remove_tag(text: str, index: int) -> Edit:
    """Remove a tag and the one separator that joined it to its neighbours."""
    start, end = tag_at(text, index).span
    before, after = text[:start], text[end:]
    if not before or before[-1] in "\r\n":
        end += len(_SEPARATOR_AFTER.match(after).group())  # type: ignore[union-attr]
    elif not after or after[0] in "\r\n,":
        start -= len(_SEPARATOR_BEFORE.search(before).group())  # type: ignore[union-attr]
    elif after[0].isspace():
        start -= len(_SPACES_BEFORE.search(before).group())  # type: ignore[union-attr]
    return _replace(text, start, end, "")


def insert_tag(text: str, cursor: int, tag_text: str, separator: str = " ") -> Edit:
    """Insert ``tag_text`` at ``cursor``, adding ``separator`` where it touches other words.

    ``separator`` is A1111's "extra networks add text separator" (a space by default). A cursor
    inside an existing tag moves to that tag's end, so a tag is never split.
    """
    cursor = max(0, min(cursor, len(text)))
    for tag in parse_prompt(text).tags:
        if tag.span[0] < cursor < tag.span[1]:
            cursor = tag.span[1]
    before, after = text[:cursor], text[cursor:]
    prefix = separator if before and not before[-1].isspace() and not before.endswith(separator) else ""
    if prefix and before.endswith(separator.strip() or "\0"):
        prefix = separator[len(separator.rstrip()) :] or prefix
    mark = separator.strip()
    if not after or after[0] in ",)]" or (mark and after.lstrip().startswith(mark)):
        suffix = ""
    else:
        suffix = mark if after[0].isspace() else separator
    return _replace(text, cursor, cursor, prefix + tag_text + suffix)
