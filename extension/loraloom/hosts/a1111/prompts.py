"""The tags of an A1111 batch, read once from the prompts, and texts the encoder can tell apart.

Tags are read from ``p.prompts`` in ``before_process_batch`` — the moment after A1111 sliced the
batch and before it strips the tags — so every image's tags are known (A1111 itself only hands
the first image's to extra networks). Negative-prompt tags are taken out of every negative
prompt list in ``process`` (CLIP never sees them) and kept per image.

A1111 encodes each *distinct* prompt once, so two images whose prompts differ only in their
tags share one encoding. When their LoRAs differ, each image group's prompts get a different
number of leading spaces: the tokenizer drops whitespace (the conditioning is unchanged), but
the texts differ, A1111 encodes each group separately, and the encoder's hook reads the group
back from the spaces. ``AND`` sub-prompts get the same mark, since A1111 splits on ``AND``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ...activation import TextRow
from ...syntax import Tag, parse_prompt

AND = re.compile(r"\bAND\b")
NEGATIVE_FIELD = "Lora negative"
"""The infotext field that keeps the negative prompt's tags (they are removed from the prompt)."""


def tags_and_problems(prompts: Sequence[str], source: str = "positive") -> tuple[list[list[Tag]], list[str]]:
    """Each prompt's lora/lyco tags (valid or not) and one line per syntax error (each once)."""
    tags, problems = [], []
    for prompt in prompts:
        parsed = parse_prompt(str(prompt), source)  # type: ignore[arg-type]
        tags.append(list(parsed.tags))
        for d in parsed.diagnostics:
            if d.severity == "error":
                where = "negative prompt: " if source == "negative" else ""
                line = f"{where}{_tag_text(prompt, d.span, parsed.tags)}: {d.message} ({d.hint})"
                if line not in problems:
                    problems.append(line)
    return tags, problems


def _tag_text(prompt: str, span: tuple[int, int], tags: Sequence[Tag] = ()) -> str:
    """The whole tag an error is in (else the text it points at): where the user must look."""
    tag = next((t for t in tags if t.span[0] <= span[0] and span[1] <= t.span[1]), None)
    return tag.raw if tag is not None else str(prompt)[span[0] : span[1]] or "prompt"


@dataclass
class BatchTags:
    """One batch's tags per image: first pass and hires pass, positive and negative."""

    iteration: int
    positive: list[list[Tag]]
    hires: list[list[Tag]] | None = None
    problems: list[str] = field(default_factory=list)
    hires_problems: list[str] = field(default_factory=list)


def capture_batch(p: Any) -> BatchTags:
    """The tags of the batch A1111 is about to process (``p.prompts`` still holds them)."""
    iteration = int(getattr(p, "iteration", 0) or 0)
    positive, problems = tags_and_problems(list(getattr(p, "prompts", None) or []))
    batch = BatchTags(iteration, positive, problems=problems)
    all_hr = getattr(p, "all_hr_prompts", None)
    if getattr(p, "enable_hr", False) and isinstance(all_hr, list):
        size = max(len(positive), 1)
        batch.hires, batch.hires_problems = tags_and_problems(all_hr[iteration * size : (iteration + 1) * size])
    return batch


# -- negative prompts -----------------------------------------------------------------------------


def strip_lora_tags(text: str) -> tuple[str, list[Tag], list[str]]:
    """``text`` without its lora/lyco tags (as A1111 strips: commas and spaces stay), those tags
    (valid or not: CLIP sees none of them) and one line per syntax error."""
    parsed = parse_prompt(text, "negative")
    pieces, last = [], 0
    for tag in parsed.tags:
        pieces.append(text[last : tag.span[0]])
        last = tag.span[1]
    pieces.append(text[last:])
    problems = [
        f"negative prompt: {_tag_text(text, d.span, parsed.tags)}: {d.message} ({d.hint})"
        for d in parsed.diagnostics
        if d.severity == "error"
    ]
    return "".join(pieces), list(parsed.tags), problems


@dataclass
class NegativeTags:
    """The tags (and syntax errors) taken out of each negative prompt list of ``p``, per image."""

    tags: dict[str, list[list[Tag]]] = field(default_factory=dict)
    problems: dict[str, list[list[str]]] = field(default_factory=dict)

    def first_tags(self) -> list[Tag]:
        """The first image's tags that have any (kept in the infotext for paste)."""
        return next((tags for tags in self.tags.get("all_negative_prompts", []) if tags), [])

    def for_batch(self, hires: bool, iteration: int, size: int) -> tuple[list[list[Tag]], list[str]]:
        """One batch's tags per image and its problems (each line once)."""
        lists = NEGATIVE_LISTS[1] if hires else NEGATIVE_LISTS[0]
        whole, current = lists
        if self.tags.get(whole):
            tags = batch_slice(self.tags[whole], iteration, size)
            problems = batch_slice(self.problems.get(whole), iteration, size)
        else:
            tags, problems = list(self.tags.get(current) or []), list(self.problems.get(current) or [])
        return tags, list(dict.fromkeys(line for lines in problems for line in lines))


NEGATIVE_LISTS = (("all_negative_prompts", "negative_prompts"), ("all_hr_negative_prompts", "hr_negative_prompts"))
"""(the whole job's list, the current batch's list) for the first pass and the hires pass."""


def strip_negative_prompts(p: Any) -> NegativeTags:
    """Take the tags out of every negative prompt list of ``p``; return them per list and image."""
    found = NegativeTags()
    for attribute in (name for lists in NEGATIVE_LISTS for name in lists):
        prompts = getattr(p, attribute, None)
        if not isinstance(prompts, list):
            continue
        cleaned, tags, problems = [], [], []
        for prompt in prompts:
            text, image_tags, image_problems = strip_lora_tags(str(prompt))
            cleaned.append(text)
            tags.append(image_tags)
            problems.append(image_problems)
        setattr(p, attribute, cleaned)
        found.tags[attribute], found.problems[attribute] = tags, problems
    return found


def batch_slice(items: Sequence[Any] | None, iteration: int, size: int) -> list[Any]:
    return list(items or [])[iteration * size : (iteration + 1) * size]


def restore_negative_tags(params: dict) -> None:
    """On paste, put the negative prompt's tags (kept in :data:`NEGATIVE_FIELD`) back into it."""
    tags = str(params.get(NEGATIVE_FIELD, "")).strip()
    if not tags:
        return
    negative = str(params.get("Negative prompt", ""))
    if tags not in negative:
        params["Negative prompt"] = f"{negative.rstrip()} {tags}".strip()


# -- texts the encoder can tell apart -------------------------------------------------------------


def mark(text: str, group: int, *, split_and: bool) -> str:
    """``text`` with ``group + 1`` leading spaces (on every ``AND`` part when ``split_and``)."""
    marker = " " * (group + 1)
    if not split_and:
        return marker + text.strip()
    parts = AND.split(text)
    return "AND".join(marker + part.strip() + (" " if i < len(parts) - 1 else "") for i, part in enumerate(parts))


def group_of(text: str) -> int:
    """The group a marked text belongs to (``-1``: not marked)."""
    return len(text) - len(text.lstrip(" ")) - 1


@dataclass(frozen=True)
class TextGroups:
    """Images grouped by the LoRAs that act on them: one mark per group."""

    groups: tuple[frozenset[int], ...]

    @classmethod
    def of(cls, signatures: Sequence[tuple]) -> TextGroups:
        order: dict[tuple, set[int]] = {}
        for image, signature in enumerate(signatures):
            order.setdefault(signature, set()).add(image)
        return cls(tuple(frozenset(images) for images in order.values()))

    @property
    def needed(self) -> bool:
        return len(self.groups) > 1

    def group_index(self, image: int) -> int:
        return next(i for i, images in enumerate(self.groups) if image in images)

    def mark_prompts(self, prompts: list[str], *, split_and: bool) -> list[str]:
        return [mark(str(text), self.group_index(i), split_and=split_and) for i, text in enumerate(prompts)]

    def rows(self, texts: Sequence[str], negative: bool) -> list[TextRow]:
        rows = []
        for text in texts:
            group = group_of(str(text)) if self.needed else -1
            images = self.groups[group] if 0 <= group < len(self.groups) else None
            rows.append(TextRow(images, negative))
        return rows
