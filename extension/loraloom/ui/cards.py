"""The gallery's view of one LoRA: a small JSON record per card, and the slider range.

Cards carry what the browser needs to render, search, sort and filter 5,000 entries without
asking again: the tag name, badges, trigger words and a folded search text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..kinds import label
from ..library.discovery import LoraEntry
from ..library.info import LoraInfo
from ..library.untrusted import finite_number, text_list
from ..syntax.formatting import can_be_tagged

DEFAULT_RANGE = (-2.0, 2.0)
FAMILY_LABELS = {"sd1": "SD1", "sd2": "SD2", "sdxl": "SDXL", "unknown": "other"}


def tag_name(entry: LoraEntry, stem_count: int) -> str:
    """What a tag should write: the bare file name when it is unique (as A1111), else the path."""
    return entry.stem if stem_count == 1 else entry.name


def weight_range(user: Mapping[str, Any]) -> tuple[float, float]:
    """The slider range: the sidecar's ``weight min``/``weight max`` ("slider" LoRAs need ±8), else ±2."""
    low = finite_number(user.get("weight min", DEFAULT_RANGE[0]))
    high = finite_number(user.get("weight max", DEFAULT_RANGE[1]))
    if low is None or high is None or not low < high:
        return DEFAULT_RANGE
    return low, high


def _folder(entry: LoraEntry) -> str:
    return entry.name.rsplit("/", 1)[0] if "/" in entry.name else ""


def pending_card(entry: LoraEntry, stem_count: int) -> dict[str, Any]:
    """A card before its header was read: name, folder and file facts only."""
    name = tag_name(entry, stem_count)
    return {
        "name": name,
        "file": entry.name,
        "folder": _folder(entry),
        "alias": None,
        "family": None,
        "kinds": [],
        "rank": None,
        "trigger_words": [],
        "preferred_weight": None,
        "range": list(DEFAULT_RANGE),
        "size": entry.size,
        "mtime": entry.mtime_ns / 1e9,
        "preview": bool(entry.sidecars.preview),
        "problems": [entry.problem] if entry.problem else [],
        "taggable": can_be_tagged(name),
        "pending": True,
        "search": _search_text(name, entry.name),
    }


def card(info: LoraInfo, stem_count: int) -> dict[str, Any]:
    """The full card once the header (and sidecars) were read."""
    record = pending_card(info.entry, stem_count)
    user = info.sidecars.user
    kinds = [label(kind) for kind in info.summary.kinds]
    model = info.sidecars.civitai.get("model")
    tags = text_list(model.get("tags")) if isinstance(model, dict) else []
    record.update(
        alias=info.alias,
        family=info.summary.family,
        family_label=FAMILY_LABELS.get(info.summary.family or "unknown", info.summary.family),
        kinds=kinds,
        rank=info.summary.rank,
        trigger_words=info.trigger_words,
        preferred_weight=info.preferred_weight,
        range=list(weight_range(user)),
        problems=info.problems,
        pending=False,
        search=_search_text(record["name"], info.entry.name, info.alias or "", *info.trigger_words, *tags),
    )
    return record


def _search_text(*parts: str) -> str:
    return " ".join(part for part in parts if part).casefold()
