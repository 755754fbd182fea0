"""Tags → network specs: resolve each name in a library, load through the cache, one problem
line per tag that cannot be used (so hosts show them and apply the rest)."""

from __future__ import annotations

from collections.abc import Iterable

from ..library import FileProblem, Library
from ..syntax import Tag
from .cache import NetworkCache
from .specs import NetworkSpec


def specs_for_tags(
    tags: Iterable[Tag], library: Library, cache: NetworkCache, *, hires: bool = False, rescan: bool = False
) -> tuple[list[NetworkSpec], list[str]]:
    """Specs for the valid ``tags``; ``hires`` uses ``hr=`` weights; ``rescan`` re-lists the
    folders once when a name is unknown (a file added since the last scan)."""
    specs, problems = [], []
    for tag in tags:
        if not tag.valid:
            continue
        resolution = library.resolve(tag.name)
        if resolution.entry is None and rescan:
            library.refresh()
            resolution = library.resolve(tag.name)
        if resolution.entry is None:
            problems.append(f"{tag.raw}: {resolution.note}")
            continue
        if resolution.note:
            problems.append(f"{tag.raw}: {resolution.note}")
        try:
            network = cache.get(resolution.entry.path)
        except (OSError, FileProblem) as error:
            problems.append(f"{tag.raw}: {error}")
            continue
        te, unet = tag.te, tag.unet
        if hires:
            te = tag.hr_te if tag.hr_te is not None else te
            unet = tag.hr_unet if tag.hr_unet is not None else unet
        spec = NetworkSpec(network, te, unet, tag.lbw, tag.start, tag.stop, tag.dyn, tag.name, tag.raw)  # type: ignore[arg-type]
        specs.append(spec)
    return specs, problems
