"""A readable, plain-text rendering of a parse result for the terminal."""

from __future__ import annotations

from .formatting import format_weight
from .model import ParseResult, Tag


def _weights(tag: Tag) -> tuple[str, str]:
    if not tag.valid:
        return "-", "-"
    return format_weight(tag.te), format_weight(tag.unet)  # type: ignore[arg-type]


def _extras(tag: Tag) -> str:
    extras = []
    for label, value in (("dyn", tag.dyn), ("lbw", tag.lbw), ("start", tag.start), ("stop", tag.stop)):
        if value is not None:
            extras.append(f"{label}={','.join(map(str, value)) if isinstance(value, tuple) else value}")
    for label, weight in (("hrte", tag.hr_te), ("hrunet", tag.hr_unet)):
        if weight is not None:
            extras.append(f"{label}={format_weight(weight)}")
    return " ".join(extras)


def format_table(result: ParseResult) -> str:
    rows = [("source", "span", "type", "name", "te", "unet", "extra", "ok")]
    for tag in result.tags:
        te, unet = _weights(tag)
        span = f"{tag.span[0]}-{tag.span[1]}"
        rows.append((tag.source, span, tag.type, tag.name, te, unet, _extras(tag), "yes" if tag.valid else "NO"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    if len(rows) == 1:
        lines = ["no <lora:…> tags"]
    lines += [f"other tags: {', '.join(t.raw for t in result.foreign)}"] if result.foreign else []
    lines += [f"clean prompt:   {result.positive.clean!r}", f"clean negative: {result.negative.clean!r}"]
    for d in result.diagnostics:
        lines.append(f"{d.severity} ({d.source} {d.span[0]}-{d.span[1]}): {d.message} — {d.hint}")
    return "\n".join(lines)
