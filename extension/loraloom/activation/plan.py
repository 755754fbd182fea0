"""``plan()``: the tags of one batch → one :class:`Plan` (files, specs, problems, hashes, rows).

Made once per batch (and once more for a hires pass) and kept by the host's session: every
later step reads it, so a name is resolved once, a file is read once and the infotext hashes
are those of the files actually applied — positive and negative alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..library import Library
from ..library.discovery import LoraEntry
from ..patching.cache import NetworkCache
from ..patching.specs import NetworkSpec
from ..syntax import Tag
from .rows import NEGATIVE, POSITIVE, NetworkRows, RowPlan

INFOTEXT_NAME = str.maketrans("", "", ":,")
"""A1111 writes names without ``:`` and ``,`` in ``Lora hashes``."""

HashOf = Callable[[Library, LoraEntry], str]


def addnet_hash(library: Library, entry: LoraEntry) -> str:
    """A1111's ``Lora hashes`` value: 12 hex digits of the addnet hash (sha256 for non-safetensors)."""
    return library.hashes(entry).infotext_hash


def sha256_prefix(library: Library, entry: LoraEntry) -> str:
    """Forge's ``Lora hashes`` value: 12 hex digits of the whole-file sha256."""
    return library.hashes(entry).sha256[:12]


@dataclass(frozen=True)
class PlannedNetwork:
    """One distinct tag of the batch, resolved and loaded."""

    spec: NetworkSpec
    side: str
    images: frozenset[int] | None
    entry: LoraEntry


@dataclass
class Plan:
    """Everything one batch needs, in the order the patch applies it."""

    networks: list[PlannedNetwork] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    """Infotext name → hash, of every applied file (positive and negative prompt)."""
    images: int = 1
    hires: bool = False
    mode: str = "hooks"

    @property
    def specs(self) -> list[NetworkSpec]:
        return [network.spec for network in self.networks]

    @property
    def rows(self) -> RowPlan:
        return RowPlan(tuple(NetworkRows(n.side, n.images) for n in self.networks))

    @property
    def key(self) -> tuple:
        """Equal keys: the same patch would result (tags, sides, images, file versions, mode)."""
        return (
            self.mode,
            self.hires,
            tuple((n.side, n.spec.raw, n.images, n.entry.path, n.entry.stamp) for n in self.networks),
        )

    @property
    def structure(self) -> tuple:
        """Equal structures: the same patch with other weights (tag weights, schedules,
        ``start``/``stop``) — what a weight change or the hires pass's ``hr=`` weights differ in."""
        return (
            self.mode,
            tuple(
                (n.side, n.images, n.entry.path, n.entry.stamp, n.spec.lbw, n.spec.dyn) for n in self.networks
            ),
        )

    @property
    def empty(self) -> bool:
        return not self.networks


def plan(
    positive: Sequence[Sequence[Tag]],
    negative: Sequence[Sequence[Tag]] = (),
    *,
    library: Library,
    cache: NetworkCache,
    hires: bool = False,
    mode: str = "hooks",
    hash_of: HashOf | None = addnet_hash,
) -> Plan:
    """Resolve and load the tags of a batch: ``positive[i]``/``negative[i]`` are image *i*'s.

    Invalid tags are skipped (their diagnostics are the parser's); an unknown name or an
    unreadable file is one problem line of that tag, and every other tag still applies. Row
    routing needs hooks mode: in merge mode every image gets the first image's positive tags
    and negative tags are dropped, each with a problem line.
    """
    images = max(len(positive), len(negative), 1)
    result = Plan(images=images, hires=hires, mode=mode)
    sides = [(POSITIVE, list(positive)), (NEGATIVE, list(negative))]
    if mode != "hooks":
        sides = _merge_mode_sides(result, list(positive), list(negative))
    resolver = _Resolver(library)
    for side, per_image in sides:
        for tag, carriers in _distinct(per_image, images):
            entry = resolver.entry(tag, result.problems, side)
            if entry is None:
                continue
            try:
                network = cache.get(entry.path)
            except Exception as error:  # any failure to load one file (safetensors errors too) is that tag's only
                result.problems.append(f"{_where(side)}{tag.raw}: cannot be read ({error}); skipped")
                continue
            spec = NetworkSpec(network, *_weights(tag, hires), tag.lbw, tag.start, tag.stop, tag.dyn, tag.name, tag.raw)  # type: ignore[arg-type]
            result.networks.append(PlannedNetwork(spec, side, carriers, entry))
            if hash_of is not None:
                _add_hash(result.hashes, tag.name, entry, library, hash_of)
    return result


def _merge_mode_sides(result: Plan, positive: list, negative: list) -> list[tuple[str, list]]:
    sets = {tuple(sorted(t.raw for t in image if t.valid)) for image in positive}
    if len(sets) > 1:
        result.problems.append(
            f"the {len(positive)} images of this batch have different LoRA tags; merge mode applies the first "
            "image's tags to all of them (hooks mode gives each image its own)"
        )
    if any(t.valid for image in negative for t in image):
        result.problems.append("negative-prompt LoRAs need the hooks mode (merged weights act on every row); ignored")
    first = positive[0] if positive else []
    return [(POSITIVE, [first] * max(len(positive), 1))]


def _distinct(per_image: Sequence[Sequence[Tag]], images: int) -> list[tuple[Tag, frozenset[int] | None]]:
    """Each valid tag once (by its text), with the images that carry it (``None``: all)."""
    carriers: dict[str, tuple[Tag, set[int]]] = {}
    for image, tags in enumerate(per_image):
        for tag in tags:
            if tag.valid:
                carriers.setdefault(tag.raw, (tag, set()))[1].add(image)
    return [(tag, None if len(owners) == images else frozenset(owners)) for tag, owners in carriers.values()]


class _Resolver:
    """Names → files for one plan: each name once; the folders re-listed at most once."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.found: dict[str, LoraEntry | None] = {}
        self.rescanned = False

    def entry(self, tag: Tag, problems: list[str], side: str) -> LoraEntry | None:
        if tag.name in self.found:
            return self.found[tag.name]
        resolution = self.library.resolve(tag.name)
        if resolution.entry is None and not self.rescanned:
            self.library.refresh()  # a file added since the last scan
            self.rescanned = True
            resolution = self.library.resolve(tag.name)
        entry = resolution.entry
        if resolution.note:
            problems.append(f"{_where(side)}{tag.raw}: {resolution.note}")
        if entry is not None and entry.problem:
            problems.append(f"{_where(side)}{tag.raw}: {entry.problem}")
            entry = None
        self.found[tag.name] = entry
        return entry


def _weights(tag: Tag, hires: bool) -> tuple:
    te, unet = tag.te, tag.unet
    if hires:
        te = tag.hr_te if tag.hr_te is not None else te
        unet = tag.hr_unet if tag.hr_unet is not None else unet
    return te, unet


def _add_hash(hashes: dict[str, str], name: str, entry: LoraEntry, library: Library, hash_of: HashOf) -> None:
    with contextlib.suppress(OSError):  # the file went away since it was loaded: no hash, same image
        hashes[name.translate(INFOTEXT_NAME)] = hash_of(library, entry)


def _where(side: str) -> str:
    return "negative prompt: " if side == NEGATIVE else ""
