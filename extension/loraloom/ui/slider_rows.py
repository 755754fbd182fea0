"""One slider row per tag of a prompt: weights, range and the warning the row shows.

The browser re-asks for rows as the user types (debounced), so this is a parse plus dictionary
look-ups: names are resolved against the gallery's cards, the library only as a fallback, each
distinct name once. Rows stop at :data:`MAX_ROWS` per prompt (no one moves 20,000 sliders; a
hostile prompt must not cost 20,000 library searches), and diagnostics are matched to tags by
position, so the work stays linear in the prompt.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from typing import Any

from ..syntax.model import Source, is_schedule
from ..syntax.parser import parse_prompt
from .cards import DEFAULT_RANGE, FAMILY_LABELS

Lookup = Callable[[str], tuple[dict[str, Any] | None, str]]
"""name → (card or ``None``, note): how the gallery finds the LoRA a tag names."""
MAX_ROWS = 200


def slider_rows(text: str, source: Source, lookup: Lookup, model_family: str | None) -> list[dict[str, Any]]:
    parsed = parse_prompt(text, source)
    diagnostics = sorted(parsed.diagnostics, key=lambda d: d.span)  # the parser's order, made sure
    starts = [d.span[0] for d in diagnostics]
    found: dict[str, tuple[dict[str, Any] | None, str]] = {}
    rows = []
    for index, tag in enumerate(parsed.tags[:MAX_ROWS]):
        if tag.name not in found:
            found[tag.name] = lookup(tag.name) if tag.name else (None, "the tag names no LoRA")
        card, note = found[tag.name]
        first, last = bisect.bisect_left(starts, tag.span[0]), bisect.bisect_left(starts, tag.span[1])
        inside = [d for d in diagnostics[first:last] if _inside(d.span, tag.span)]
        problems = [f"{d.message} — {d.hint}" for d in inside]
        if card is None:
            problems.append(note)
        elif mismatch := family_mismatch(card, model_family):
            problems.append(mismatch)
        low, high = card["range"] if card else DEFAULT_RANGE
        weights = [w for w in (_constant(tag.te), _constant(tag.unet)) if w is not None]
        rows.append(
            {
                "index": index,
                "name": tag.name,
                "source": source,
                "te": _constant(tag.te),
                "unet": _constant(tag.unet),
                "split": _constant(tag.unet) != _constant(tag.te),
                "scheduled": is_schedule(tag.te) or is_schedule(tag.unet),
                "min": min([low, *weights]),
                "max": max([high, *weights]),
                "known": card is not None,
                "valid": tag.valid,
                "warning": "; ".join(problems) or None,
                "span": list(tag.span),
            }
        )
    return rows


def family_mismatch(card: Mapping[str, Any], model_family: str | None) -> str | None:
    """Why a LoRA will not fit the loaded model, or ``None`` (unknown families never mismatch)."""
    family = card.get("family")
    if not model_family or family in (None, "unknown") or family == model_family:
        return None
    theirs, ours = FAMILY_LABELS.get(family, family), FAMILY_LABELS.get(model_family, model_family)
    return f"{card['name']} is a {theirs} LoRA but the model is {ours}: most of it will not apply"


def _constant(weight: Any) -> float | None:
    return None if weight is None or is_schedule(weight) else float(weight)


def _inside(span: tuple[int, int], tag_span: tuple[int, int]) -> bool:
    return tag_span[0] <= span[0] < tag_span[1] or span == tag_span
