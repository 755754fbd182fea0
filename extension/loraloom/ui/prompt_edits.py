"""Prompt edits the gallery and the sliders ask for, as one minimal text change each.

Every operation goes through the syntax editor (so nothing outside the touched tag changes) and
returns a :class:`TextChange`: the one range of the old text to replace. The browser applies it
with ``insertText`` on exactly that range, which keeps the textarea's own undo history.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..syntax.editor import find_tags, insert_tag, remove_tag, set_weight
from ..syntax.formatting import new_tag_text
from ..syntax.parser import parse_prompt


@dataclass(frozen=True)
class TextChange:
    """Replace ``old[start:end]`` by ``text``; ``full`` is the result, ``cursor`` where to put the caret."""

    start: int
    end: int
    text: str
    full: str
    cursor: int

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "text": self.text, "full": self.full, "cursor": self.cursor}


def text_change(old: str, new: str, cursor: int | None = None) -> TextChange:
    """The smallest single range that turns ``old`` into ``new`` (common prefix and suffix kept)."""
    prefix = 0
    limit = min(len(old), len(new))
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old[len(old) - 1 - suffix] == new[len(new) - 1 - suffix]:
        suffix += 1
    inserted = new[prefix : len(new) - suffix]
    caret = prefix + len(inserted) if cursor is None else cursor
    return TextChange(prefix, len(old) - suffix, inserted, new, caret)


@dataclass(frozen=True)
class Toggle:
    """What a card click did: ``inserted`` or ``removed``, and which trigger words it added."""

    action: str
    change: TextChange
    words_added: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "change": self.change.to_json(), "words_added": list(self.words_added)}


_WORD_SPLIT = re.compile(r"\s*,\s*")


def prompt_words(text: str) -> set[str]:
    """The comma-separated phrases of a prompt outside tags, folded for duplicate checks."""
    clean = parse_prompt(text).clean
    return {word.strip().casefold() for word in _WORD_SPLIT.split(clean) if word.strip()}


def toggle_lora(
    text: str,
    cursor: int,
    name: str,
    weight: float,
    trigger_words: Sequence[str] = (),
    words_to_remove: Sequence[str] = (),
    separator: str = " ",
) -> Toggle:
    """A card click: remove every tag naming ``name`` if there is one, else insert one at ``cursor``.

    Inserting also inserts ``trigger_words`` that the prompt does not have yet, right after the
    tag; removing also removes ``words_to_remove`` (the words an earlier insert added).
    """
    if find_tags(text, name):
        new = text
        while indices := find_tags(new, name):
            new = remove_tag(new, indices[0]).text
        new = remove_words(new, words_to_remove)
        return Toggle("removed", text_change(text, new))
    present = prompt_words(text)
    added = tuple(dict.fromkeys(w for w in trigger_words if w.strip() and w.strip().casefold() not in present))
    insertion = new_tag_text(name, weight) + "".join(f", {word.strip()}" for word in added)
    following = text[cursor:].lstrip()
    if added and following and following[0] not in ",<":
        insertion += ","  # keep the last word a phrase of its own, so removing it finds it
    edit = insert_tag(text, cursor, insertion, separator)
    change = text_change(text, edit.text, cursor=edit.span[0] + len(insertion))
    return Toggle("inserted", change, added)


def remove_words(text: str, words: Iterable[str]) -> str:
    """Remove whole comma-separated phrases equal to one of ``words`` (once each), with one comma."""
    for word in words:
        folded = word.strip().casefold()
        if not folded:
            continue
        for match in re.finditer(r"(?:^|(?<=,)|(?<=>))[ \t]*([^,<>\n]+?)[ \t]*(?=,|<|$|\n)", text):
            if match.group(1).casefold() == folded:
                text = _cut_phrase(text, match.start(), match.end())
                break
    return text


def _cut_phrase(text: str, start: int, end: int) -> str:
    """Cut ``text[start:end]`` and the comma that joined it to the phrase before (or after)."""
    before, after = text[:start], text[end:]
    if before.rstrip(" \t").endswith(","):
        before = before.rstrip(" \t")[:-1]
        return before + after
    if after.startswith(","):
        after = after[1:].lstrip(" \t")
    return before + after


def set_tag_weight(text: str, index: int, te: float, unet: float | None = None) -> TextChange:
    """A slider moved: rewrite only the weight(s) of the ``index``-th tag."""
    edit = set_weight(text, index, te, unet=unet)
    return text_change(text, edit.text, cursor=edit.span[1])


def remove_tag_at(text: str, index: int, words_to_remove: Sequence[str] = ()) -> TextChange:
    """A slider row's remove button: the tag, its separator, and the trigger words it added."""
    edit = remove_tag(text, index)
    new = remove_words(edit.text, words_to_remove)
    return text_change(text, new, cursor=min(edit.span[0], len(new)))
