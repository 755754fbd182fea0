"""Tag text from values: numbers, weights and whole tags, so that parsing gives them back."""

from __future__ import annotations

import math

from .model import Bound, Tag, Weight, is_schedule


def format_number(value: float, digits: int | None = None) -> str:
    """Shortest text for ``value`` that parses back to it (or to it rounded to ``digits``).

    Whole numbers lose their ``.0`` (``1`` not ``1.0``), as people write weights.
    """
    value = float(value)
    if digits is not None:
        value = round(value, digits)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def format_weight(weight: Weight, digits: int | None = None) -> str:
    """A constant as a number, a schedule as ``w@t,w@t``."""
    if is_schedule(weight):
        return ",".join(
            f"{format_number(k.weight, digits)}@{format_number(k.position, digits)}"
            for k in weight  # type: ignore[union-attr]
        )
    return format_number(weight, digits)  # type: ignore[arg-type]


def format_bound(bound: Bound) -> str:
    """Steps stay integers; fractions keep their decimal point (``1.0`` ≠ step ``1``)."""
    return str(bound) if isinstance(bound, int) else repr(float(bound))


def format_tag(tag: Tag) -> str:
    """Canonical text of a valid tag; an invalid tag is returned as written."""
    if not tag.valid or tag.te is None or tag.unet is None:
        return tag.raw
    parts = [tag.name, format_weight(tag.te)]
    if tag.unet != tag.te:
        parts.append(f"unet={format_weight(tag.unet)}")
    if tag.dyn is not None:
        parts.append(f"dyn={tag.dyn}")
    if tag.hr_te is not None and tag.hr_te == tag.hr_unet:
        parts.append(f"hr={format_weight(tag.hr_te)}")
    else:
        if tag.hr_te is not None:
            parts.append(f"hrte={format_weight(tag.hr_te)}")
        if tag.hr_unet is not None:
            parts.append(f"hrunet={format_weight(tag.hr_unet)}")
    if tag.lbw is not None:
        lbw = tag.lbw if isinstance(tag.lbw, str) else ",".join(format_number(v) for v in tag.lbw)
        parts.append(f"lbw={lbw}")
    if tag.start is not None:
        parts.append(f"start={format_bound(tag.start)}")
    if tag.stop is not None:
        parts.append(f"stop={format_bound(tag.stop)}")
    return f"<{tag.type}:{':'.join(parts)}>"


def can_be_tagged(name: str) -> bool:
    """Whether ``<lora:NAME:1>`` reads back as exactly one valid tag naming ``name``.

    Not when the name holds ``:`` or ``>``, is blank or has surrounding spaces (tags strip
    them), or reads as an argument (``te=1``): a tag could not name that file.
    """
    if not name.strip() or ":" in name or ">" in name or name != name.strip():
        return False
    from .parser import parse_prompt

    parsed = parse_prompt(f"<lora:{name}:1>")
    return not parsed.foreign and len(parsed.tags) == 1 and parsed.tags[0].valid and parsed.tags[0].name == name


def new_tag_text(name: str, weight: float, tag_type: str = "lora") -> str:
    """The text the gallery inserts for a LoRA: ``<lora:NAME:W>``."""
    if not can_be_tagged(name):
        raise ValueError(
            f"a tag cannot name {name!r}: names may not contain ':' or '>', start or end with a space, "
            "or read as an argument such as 'te=1'"
        )
    if not math.isfinite(weight):
        raise ValueError(f"the weight of a tag must be a finite number, not {weight!r}")
    return f"<{tag_type}:{name}:{format_number(weight, 4)}>"
