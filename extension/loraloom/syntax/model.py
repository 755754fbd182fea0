"""Plain data produced by the parser: tags, foreign tags, diagnostics and the result.

Everything here is frozen and JSON-friendly (`to_json()`), because the same values travel to
the CLI, the UI and the hosts; nothing here knows about torch, gradio or a host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Source = Literal["positive", "negative"]
Severity = Literal["error", "warning"]
Span = tuple[int, int]
"""``[start, end)`` in characters of the prompt the item came from."""

LORA_TYPES = ("lora", "lyco")
"""Tag types loraloom interprets; ``lyco`` is an alias of ``lora`` as in A1111."""


@dataclass(frozen=True)
class Keyframe:
    """One point of a step schedule: ``weight@position``.

    ``position`` ≤ 1 is a fraction of the pass, > 1 an absolute sampling step (loractl's rule).
    """

    position: float
    weight: float


Schedule = tuple[Keyframe, ...]
Weight = float | Schedule
"""A constant multiplier or a keyframe schedule."""

Bound = int | float
"""``start=``/``stop=``: an ``int`` is a step, a ``float`` (≤ 1) a fraction of the pass."""

BlockWeights = str | tuple[float, ...]
"""``lbw=``: a preset name or explicit per-block multipliers."""


@dataclass(frozen=True)
class Arg:
    """One ``:``-separated item of a tag body, kept with its position for in-place edits."""

    key: str | None
    """``None`` for a positional item, else the (stripped) name before ``=``."""
    text: str
    """The value text, stripped of surrounding whitespace."""
    span: Span
    """Where the whole item (key, ``=`` and value with its whitespace) sits in the prompt."""
    value_span: Span
    """Where the stripped value sits in the prompt (an empty span for an empty value)."""


@dataclass(frozen=True)
class Diagnostic:
    """A problem the user can act on: what, where, and what to do."""

    severity: Severity
    message: str
    span: Span
    hint: str
    source: Source

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "message": self.message,
            "span": list(self.span),
            "hint": self.hint,
            "source": self.source,
        }


@dataclass(frozen=True)
class Tag:
    """A ``<lora:…>``/``<lyco:…>`` tag and its interpreted arguments.

    Invalid tags are kept (``valid=False``) so the UI can show and fix them; their unusable
    values are ``None``. ``unet`` already holds the te default when the tag gives no unet.
    """

    type: str
    name: str
    te: Weight | None
    unet: Weight | None
    span: Span
    source: Source
    raw: str
    valid: bool = True
    dyn: int | None = None
    lbw: BlockWeights | None = None
    start: Bound | None = None
    stop: Bound | None = None
    hr_te: Weight | None = None
    """Hires-pass text-encoder weight; ``None`` means "same as the first pass"."""
    hr_unet: Weight | None = None
    args: tuple[Arg, ...] = field(default=(), compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "te": _constant_json(self.te),
            "unet": _constant_json(self.unet),
            "dyn": self.dyn,
            "schedule_te": _schedule_json(self.te),
            "schedule_unet": _schedule_json(self.unet),
            "lbw": list(self.lbw) if isinstance(self.lbw, tuple) else self.lbw,
            "start": self.start,
            "stop": self.stop,
            "hr_te": _weight_json(self.hr_te),
            "hr_unet": _weight_json(self.hr_unet),
            "span": list(self.span),
            "source": self.source,
            "raw": self.raw,
            "valid": self.valid,
        }


@dataclass(frozen=True)
class ForeignTag:
    """An extra-network tag of another type (``<hypernet:…>``, ``<word:…>``), uninterpreted."""

    type: str
    raw: str
    span: Span
    source: Source

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "raw": self.raw, "span": list(self.span), "source": self.source}


@dataclass(frozen=True)
class PromptParse:
    """The parse of one prompt text."""

    text: str
    clean: str
    """The text with every tag removed exactly as A1111 removes it."""
    tags: tuple[Tag, ...]
    foreign: tuple[ForeignTag, ...]
    diagnostics: tuple[Diagnostic, ...]
    source: Source


@dataclass(frozen=True)
class ParseResult:
    """The parse of a positive/negative prompt pair (the shape the CLI prints)."""

    positive: PromptParse
    negative: PromptParse

    @property
    def tags(self) -> tuple[Tag, ...]:
        return self.positive.tags + self.negative.tags

    @property
    def foreign(self) -> tuple[ForeignTag, ...]:
        return self.positive.foreign + self.negative.foreign

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        return self.positive.diagnostics + self.negative.diagnostics

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt": self.positive.text,
            "negative": self.negative.text,
            "clean_prompt": self.positive.clean,
            "clean_negative": self.negative.clean,
            "tags": [tag.to_json() for tag in self.tags],
            "foreign": [tag.to_json() for tag in self.foreign],
            "diagnostics": [d.to_json() for d in self.diagnostics],
        }


def is_schedule(weight: Weight | None) -> bool:
    return isinstance(weight, tuple)


def _constant_json(weight: Weight | None) -> float | None:
    return None if weight is None or is_schedule(weight) else weight  # type: ignore[return-value]


def _schedule_json(weight: Weight | None) -> list[list[float]] | None:
    if not is_schedule(weight):
        return None
    return [[k.position, k.weight] for k in weight]  # type: ignore[union-attr]


def _weight_json(weight: Weight | None) -> float | list[list[float]] | None:
    return _schedule_json(weight) if is_schedule(weight) else weight  # type: ignore[return-value]
