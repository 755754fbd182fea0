"""The standalone app's live parse view: clean prompts, tags and diagnostics as HTML."""

from __future__ import annotations

from html import escape

from ..syntax import parse
from ..syntax.model import Tag, is_schedule


def render_parse(prompt: str, negative: str) -> str:
    result = parse(prompt or "", negative or "")
    parts = ['<div class="loraloom-parse">']
    parts.append(f"<p><b>Clean prompt</b><br><code>{escape(result.positive.clean) or '∅'}</code></p>")
    parts.append(f"<p><b>Clean negative</b><br><code>{escape(result.negative.clean) or '∅'}</code></p>")
    if result.tags:
        parts.append("<table><tr><th>where</th><th>name</th><th>te</th><th>unet</th><th>more</th></tr>")
        for tag in result.tags:
            parts.append(
                f'<tr class="loraloom-parse-tag"><td>{tag.source}</td><td>{escape(tag.name)}</td>'
                f"<td>{_weight(tag.te)}</td><td>{_weight(tag.unet)}</td><td>{escape(_extras(tag))}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p>No LoRA tags.</p>")
    for diagnostic in result.diagnostics:
        start, end = diagnostic.span
        parts.append(
            f'<p class="loraloom-diagnostic loraloom-{diagnostic.severity}">{diagnostic.severity}: '
            f"{escape(diagnostic.message)} ({diagnostic.source} prompt, characters {start}–{end}) — "
            f"{escape(diagnostic.hint)}</p>"
        )
    parts.append("</div>")
    return "".join(parts)


def _weight(weight: object) -> str:
    if weight is None:
        return "—"
    if is_schedule(weight):  # type: ignore[arg-type]
        return escape(", ".join(f"{k.weight:g}@{k.position:g}" for k in weight))  # type: ignore[union-attr]
    return f"{weight:g}"  # type: ignore[str-format]


def _extras(tag: Tag) -> str:
    extras = []
    for label, value in (("lbw", tag.lbw), ("start", tag.start), ("stop", tag.stop), ("dyn", tag.dyn)):
        if value is not None:
            extras.append(f"{label}={value}")
    if tag.hr_te is not None:
        extras.append("hires weight set")
    if not tag.valid:
        extras.append("invalid: ignored")
    return ", ".join(extras)
