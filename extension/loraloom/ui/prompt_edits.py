"""Prompt edits the gallery and the sliders ask for, as one minimal text change each.

Every operation goes through the syntax editor (so nothing outside the touched tag changes) and
returns a :class:`TextChange`: the one range of the old text to replace. The browser applies it
with ``insertText`` on exactly that range, which keeps the textarea's own undo history.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..syntax.editor import find_tags, insert_tag, remove_tag, remove_tags, set_weight
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
    limit = min(len(old), len(new))
    prefix = _common_prefix(old, new, limit)
    suffix = _common_prefix(old[::-1], new[::-1], limit - prefix)
    inserted = new[prefix : len(new) - suffix]
    caret = prefix + len(inserted) if cursor is None else cursor
    return TextChange(prefix, len(old) - suffix, inserted, new, caret)


def _common_prefix(a: str, b: str, limit: int) -> int:
    """How many leading characters ``a`` and ``b`` share (at most ``limit``), in C-speed steps."""
    low, high = 0, limit  # a[:low] == b[:low]; the answer is in [low, high]
    while low < high:
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


@dataclass(frozen=True)
class Toggle:
    """What a card click did: ``inserted`` or ``removed``, and which trigger words it added."""

    action: str
    change: TextChange
    words_added: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "change": self.change.to_json(), "words_added": list(self.words_added)}


_SEGMENT = re.compile(r"[^,<>\n]+")
"""Text between delimiters; no nested quantifiers, so finding them is linear (a lazy phrase
pattern with ``[ \t]*`` around it took quadratic time on long runs of spaces)."""


def prompt_words(text: str) -> set[str]:
    """The comma-separated phrases of a prompt outside tags, folded for duplicate checks."""
    clean = parse_prompt(text).clean
    return {word.strip().casefold() for word in clean.split(",") if word.strip()}


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
    tag; removing also removes ``words_to_remove`` (the words an earlier insert added). The
    caret ends right after what was inserted (separators included), so the next click adds
    after it: consecutive clicks never land inside a word.
    """
    indices = find_tags(text, name)
    if indices:
        new = remove_words(remove_tags(text, indices).text, words_to_remove)
        return Toggle("removed", text_change(text, new))
    present = prompt_words(text)
    fresh = (w.strip() for w in trigger_words if insertable_word(w) and w.strip().casefold() not in present)
    added = tuple(dict.fromkeys(fresh))
    insertion = new_tag_text(name, weight) + "".join(f", {word}" for word in added)
    edit = insert_tag(text, cursor, insertion, separator)
    end = edit.inserted[1]
    following = edit.text[end:].lstrip(" \t")
    if added and following and following[0] not in ",<\r\n":
        # keep the last word a phrase of its own, so removing it later finds it
        edit = replace(edit, text=edit.text[:end] + "," + edit.text[end:], span=(edit.span[0], edit.span[1] + 1))
        end += 1
    _check_inserted(text, edit.text, name)
    return Toggle("inserted", text_change(text, edit.text, cursor=end), added)


def insertable_word(word: str) -> bool:
    """A trigger word that cannot form, close or swallow a tag (files may hold anything)."""
    return bool(word.strip()) and "<" not in word and ">" not in word


def _check_inserted(old: str, new: str, name: str) -> None:
    """The insertion added exactly one valid tag naming ``name`` and changed no other tag."""
    before = [tag.raw for tag in parse_prompt(old).tags]
    after = parse_prompt(new).tags
    added = [tag for tag in after if tag.name == name and tag.valid]
    others = sorted(tag.raw for tag in after if not (added and tag is added[0]))
    if len(after) != len(before) + 1 or len(added) != 1 or others != sorted(before):
        raise ValueError(f"'{name}' cannot be inserted here without changing the prompt's other tags")


def remove_words(text: str, words: Iterable[str]) -> str:
    """Remove whole comma-separated phrases equal to one of ``words`` (once each), with one comma."""
    for word in words:
        folded = word.strip().casefold()
        if folded:
            found = next((span for span, phrase in _phrases(text) if phrase.casefold() == folded), None)
            if found is not None:
                text = _cut_phrase(text, *found)
    return text


def _phrases(text: str) -> Iterable[tuple[tuple[int, int], str]]:
    """Phrases outside tags: text after a start, ``,``, ``>`` or a newline, up to ``,``, ``<``, a newline or the end."""
    for match in _SEGMENT.finditer(text):
        start, end = match.span()
        if start and text[start - 1] not in ",>\n":
            continue  # inside a tag or after a '<'
        if end < len(text) and text[end] == ">":
            continue
        phrase = match.group().strip(" \t")
        if phrase:
            yield (start, end), phrase


def _cut_phrase(text: str, start: int, end: int) -> str:
    """Cut ``text[start:end]`` and the comma that joined it to the phrase before (or after).

    A space stays between what comes together (``cat, ink <lora:…>`` → ``cat <lora:…>``).
    """
    before, after = text[:start], text[end:]
    trimmed = before.rstrip(" \t")
    if trimmed.endswith(","):
        before = trimmed[:-1]
    elif after.startswith(","):
        after = after[1:].lstrip(" \t")
    if before and after and not before[-1].isspace() and not after[0].isspace() and after[0] != ",":
        return before + " " + after
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
