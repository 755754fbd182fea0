"""Tags in the negative prompt: A1111 sends them to CLIP as text; loraloom strips them first.

Only lora/lyco tags are removed (other extensions' tags stay), exactly as A1111 removes tags
from the positive prompt (the tag text only; commas and spaces around it stay).
"""

from __future__ import annotations

from typing import Any

from ...syntax import Tag, parse_prompt

NEGATIVE_FIELD = "Lora negative"
"""The infotext field that keeps the negative prompt's tags (they are removed from the prompt)."""


def strip_lora_tags(text: str) -> tuple[str, list[Tag]]:
    """``text`` without its lora/lyco tags, and those tags."""
    parsed = parse_prompt(text, "negative")
    pieces, last = [], 0
    for tag in parsed.tags:
        pieces.append(text[last : tag.span[0]])
        last = tag.span[1]
    pieces.append(text[last:])
    return "".join(pieces), list(parsed.tags)


def strip_negative_prompts(p: Any) -> list[Tag]:
    """Strip tags from every negative prompt list ``p`` carries; return the first image's tags."""
    first: list[Tag] | None = None
    for attribute in ("all_negative_prompts", "negative_prompts", "all_hr_negative_prompts", "hr_negative_prompts"):
        prompts = getattr(p, attribute, None)
        if not isinstance(prompts, list):
            continue
        cleaned = []
        for prompt in prompts:
            text, tags = strip_lora_tags(str(prompt))
            cleaned.append(text)
            if first is None:
                first = tags
        setattr(p, attribute, cleaned)
    return first or []


def restore_negative_tags(params: dict) -> None:
    """On paste, put the negative prompt's tags (kept in :data:`NEGATIVE_FIELD`) back into it."""
    tags = str(params.get(NEGATIVE_FIELD, "")).strip()
    if not tags:
        return
    negative = str(params.get("Negative prompt", ""))
    if tags not in negative:
        params["Negative prompt"] = f"{negative.rstrip()} {tags}".strip()
