"""``parse()``: prompt text → tags, foreign tags, diagnostics and the clean prompt.

Never raises on user input: anything that is not a well-formed tag is prompt text, and every
problem is a :class:`Diagnostic` value.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from .grammar import scan_prompt
from .model import LORA_TYPES, Diagnostic, ForeignTag, ParseResult, PromptParse, Source, Tag
from .tags import read_tag
from .values import quoted


def parse(
    prompt: str,
    negative: str = "",
    *,
    presets: Mapping[str, tuple[float, ...]] | None = None,
) -> ParseResult:
    """Parse a positive and a negative prompt. ``presets`` are user ``lbw=`` presets."""
    return ParseResult(
        positive=parse_prompt(prompt, "positive", presets=presets),
        negative=parse_prompt(negative, "negative", presets=presets),
    )


def parse_prompt(
    text: str,
    source: Source = "positive",
    *,
    presets: Mapping[str, tuple[float, ...]] | None = None,
) -> PromptParse:
    """Parse one prompt text; spans are character offsets into ``text``."""
    clean: list[str] = []
    tags: list[Tag] = []
    foreign: list[ForeignTag] = []
    diagnostics: list[Diagnostic] = []
    for token in scan_prompt(text):
        start = token.start_pos
        assert start is not None
        if token.type == "TAG":
            raw = str(token)
            span = (start, start + len(raw))
            tag_type = raw[1 : raw.index(":")]
            if tag_type in LORA_TYPES:
                tag, problems = read_tag(tag_type, raw, span, source, presets)
                tags.append(tag)
                diagnostics.extend(problems)
            else:
                foreign.append(ForeignTag(type=tag_type, raw=raw, span=span, source=source))
            continue
        clean.append(str(token))
        if token.type == "LT":
            diagnostics.extend(_unclosed_tag(text, start, source))
    diagnostics.extend(_duplicates(tags, source))
    diagnostics.sort(key=lambda d: d.span)
    return PromptParse(
        text=text,
        clean="".join(clean),
        tags=tuple(tags),
        foreign=tuple(foreign),
        diagnostics=tuple(diagnostics),
        source=source,
    )


def _unclosed_tag(text: str, start: int, source: Source) -> list[Diagnostic]:
    """A ``<lora:`` that did not become a tag has no ``>`` after it (or an empty body)."""
    for tag_type in LORA_TYPES:
        opening = f"<{tag_type}:"
        if text.startswith(opening, start):
            end = start + len(opening)
            if text.startswith(">", end):
                return [
                    Diagnostic(
                        "warning",
                        f"empty tag '{opening}>' is ignored",
                        (start, end + 1),
                        "write a name: <lora:NAME:1>",
                        source,
                    )
                ]
            return [
                Diagnostic(
                    "warning",
                    f"'{opening}' is never closed, so it stays prompt text",
                    (start, end),
                    "add '>' after the tag's arguments",
                    source,
                )
            ]
    return []


def _duplicates(tags: list[Tag], source: Source) -> list[Diagnostic]:
    """Report a name used by several tags of one prompt (A1111 applies every one of them)."""
    counts = Counter(tag.name for tag in tags if tag.name)
    seen: Counter[str] = Counter()
    problems = []
    for tag in tags:
        if counts[tag.name] < 2:
            continue
        seen[tag.name] += 1
        if seen[tag.name] > 1:
            problems.append(
                Diagnostic(
                    "warning",
                    f"{quoted(tag.name)} appears {counts[tag.name]} times in the {source} prompt; all are applied",
                    tag.span,
                    "keep one tag per LoRA, or mean it: their weights add up",
                    source,
                )
            )
    return problems
