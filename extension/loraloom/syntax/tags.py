"""Interprets the body of one ``<lora:…>`` tag the way A1111 does, plus loraloom's extensions.

A1111 (``ExtraNetworkParams``, ``ExtraNetworkLora.activate``): the body is split on ``:``; an
item with exactly one ``=`` is named, others positional; positional = name, te, unet, dyn;
named ``te``/``unet``/``dyn`` override; a bare name means 1.0 and unet defaults to te.
Deliberate differences, all friendlier and documented in the README: keys and names are
stripped of surrounding spaces; a first item like ``a=b`` whose key we don't know is the name
(A1111 would look up the next item as the name); bad values invalidate only their own tag.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .model import Arg, Diagnostic, Source, Span, Tag, Weight
from .values import Problem, quoted, read_bound, read_dyn, read_lbw, read_weight

WEIGHT_KEYS = ("te", "unet", "hr", "hrte", "hrunet")
WEIGHT_LABELS = {
    "te": "weight",
    "unet": "unet weight",
    "hr": "hires weight",
    "hrte": "hires te weight",
    "hrunet": "hires unet weight",
}
KNOWN_KEYS = (*WEIGHT_KEYS, "dyn", "lbw", "start", "stop")
POSITIONAL_ROLES = ("name", "te", "unet", "dyn")


def split_args(body: str, body_start: int) -> tuple[Arg, ...]:
    """Split a tag body into items with their positions in the prompt (A1111's split)."""
    args = []
    offset = body_start
    for index, item in enumerate(body.split(":")):
        item_span = (offset, offset + len(item))
        key: str | None = None
        value, value_offset = item, offset
        parts = item.split("=")
        if len(parts) == 2 and (parts[0].strip() in KNOWN_KEYS or index > 0):
            key = parts[0].strip()
            value, value_offset = parts[1], offset + len(parts[0]) + 1
        stripped = value.strip()
        lead = len(value) - len(value.lstrip())
        value_span = (value_offset + lead, value_offset + lead + len(stripped))
        args.append(Arg(key=key, text=stripped, span=item_span, value_span=value_span))
        offset += len(item) + 1
    return tuple(args)


@dataclass
class _TagReader:
    """Collects one tag's values and diagnostics; a helper of :func:`read_tag`."""

    source: Source
    diagnostics: list[Diagnostic]
    failed: bool = False

    def report(self, arg: Arg, problem: Problem) -> None:
        start = arg.value_span[0] + problem.offset
        end = arg.value_span[1] if problem.length is None else start + problem.length
        self.failed = True
        self.diagnostics.append(
            Diagnostic("error", problem.message, (start, max(end, start)), problem.hint, self.source)
        )

    def warn(self, span: Span, message: str, hint: str) -> None:
        self.diagnostics.append(Diagnostic("warning", message, span, hint, self.source))

    def read(self, arg: Arg | None, reader: Callable[[str], tuple[object, Problem | None]]) -> object:
        if arg is None:
            return None
        value, problem = reader(arg.text)
        if problem is not None:
            self.report(arg, problem)
        return value


def read_tag(
    tag_type: str,
    raw: str,
    span: Span,
    source: Source,
    presets: Mapping[str, tuple[float, ...]] | None = None,
) -> tuple[Tag, list[Diagnostic]]:
    """Interpret one lora/lyco tag; never raises on user input."""
    diagnostics: list[Diagnostic] = []
    reader = _TagReader(source, diagnostics)
    body_start = span[0] + len(tag_type) + 2
    args = split_args(raw[len(tag_type) + 2 : -1], body_start)
    positional = [arg for arg in args if arg.key is None]
    named: dict[str, Arg] = {}
    for arg in args:
        if arg.key is None:
            continue
        if arg.key not in KNOWN_KEYS:
            known = f"known: {', '.join(KNOWN_KEYS)}"
            reader.warn(arg.span, f"unknown argument {quoted(arg.key + '=')} is ignored", known)
        elif arg.key in named:
            reader.warn(arg.span, f"{quoted(arg.key + '=')} is given twice; the last one counts", "remove one of them")
        named[arg.key] = arg
    for extra in positional[len(POSITIONAL_ROLES) :]:
        reader.warn(
            extra.span,
            f"extra argument {quoted(extra.text)} is ignored",
            "positional arguments are name:te:unet:dyn; use key=value for the others",
        )
    roles = dict(zip(POSITIONAL_ROLES, positional, strict=False))
    for role in ("te", "unet", "dyn"):
        if role in roles and role in named:
            reader.warn(roles[role].span, f"{role} is given twice; '{role}=' wins", f"remove one {role}")

    name_arg = roles.get("name")
    name = name_arg.text if name_arg else ""
    if not name:
        where = name_arg.span if name_arg else (body_start, body_start)
        reader.failed = True
        diagnostics.append(
            Diagnostic("error", "tag has no name", where, "write the LoRA's name: <lora:NAME:1>", source)
        )

    def weight(role: str) -> Weight | None:
        what = WEIGHT_LABELS[role]
        return reader.read(named.get(role) or roles.get(role), lambda t: read_weight(t, what))  # type: ignore[return-value]

    te = weight("te")
    te = 1.0 if te is None else te
    unet = weight("unet")
    unet = te if unet is None else unet
    hr, hr_te, hr_unet = weight("hr"), weight("hrte"), weight("hrunet")
    dyn = reader.read(named.get("dyn") or roles.get("dyn"), read_dyn)
    lbw = reader.read(named.get("lbw"), lambda t: read_lbw(t, presets))
    start = reader.read(named.get("start"), lambda t: read_bound(t, "start"))
    stop = reader.read(named.get("stop"), lambda t: read_bound(t, "stop"))
    _check_bounds(reader, named, start, stop)
    index = raw.find("<", 1)
    if index != -1:  # one warning, at the first: a '>' is missing before it
        reader.warn(
            (span[0] + index, span[0] + index + 1),
            "this tag contains '<'; a '>' may be missing before it",
            "close each tag with '>'",
        )
    valid = not reader.failed
    tag = Tag(
        type=tag_type,
        name=name,
        te=te if valid else None,
        unet=unet if valid else None,
        span=span,
        source=source,
        raw=raw,
        valid=valid,
        dyn=dyn if valid else None,  # type: ignore[arg-type]
        lbw=lbw if valid else None,  # type: ignore[arg-type]
        start=start if valid else None,  # type: ignore[arg-type]
        stop=stop if valid else None,  # type: ignore[arg-type]
        hr_te=(hr_te if hr_te is not None else hr) if valid else None,  # type: ignore[arg-type]
        hr_unet=(hr_unet if hr_unet is not None else hr) if valid else None,  # type: ignore[arg-type]
        args=args,
    )
    return tag, diagnostics


def _check_bounds(reader: _TagReader, named: dict[str, Arg], start: object, stop: object) -> None:
    """Warn when start/stop of the same kind (steps or fractions) leave no active range."""
    if start is None or stop is None or type(start) is not type(stop):
        return
    if start >= stop:  # type: ignore[operator]
        spans = (named["start"].span, named["stop"].span)
        reader.warn(
            (min(s[0] for s in spans), max(s[1] for s in spans)),
            f"start={start} is not before stop={stop}: this LoRA is never active",
            "make start smaller than stop",
        )
