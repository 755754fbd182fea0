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
                line = f"{where}{_tag_text(prompt, d.span)}: {d.message} ({d.hint})"
                if line not in problems:
                    problems.append(line)
    return tags, problems


def _tag_text(prompt: str, span: tuple[int, int]) -> str:
    return str(prompt)[span[0] : span[1]] or "prompt"


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

NEGATIVE_LISTS = ("all_negative_prompts", "all_hr_negative_prompts")


def strip_lora_tags(text: str) -> tuple[str, list[Tag]]:
    """``text`` without its lora/lyco tags (as A1111 strips: commas and spaces stay), and those tags."""
    parsed = parse_prompt(text, "negative")
    pieces, last = [], 0
    for tag in parsed.tags:
        pieces.append(text[last : tag.span[0]])
        last = tag.span[1]
    pieces.append(text[last:])
    return "".join(pieces), list(parsed.tags)


def strip_negative_prompts(p: Any) -> dict[str, list[list[Tag]]]:
    """Take the tags out of every negative prompt list of ``p``; return them per list and image."""
    found: dict[str, list[list[Tag]]] = {}
    for attribute in (*NEGATIVE_LISTS, "negative_prompts", "hr_negative_prompts"):
        prompts = getattr(p, attribute, None)
        if not isinstance(prompts, list):
            continue
        cleaned, tags = [], []
        for prompt in prompts:
            text, image_tags = strip_lora_tags(str(prompt))
            cleaned.append(text)
            tags.append(image_tags)
        setattr(p, attribute, cleaned)
        found[attribute] = tags
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
