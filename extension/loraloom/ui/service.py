"""``GalleryService``: what the gallery and the sliders ask of the library, host-independent.

Reading headers and hashing run on one background thread with visible progress; until a file's
header is read its card is "pending" (name and file facts), so the tab is usable at once; one
file that cannot be read never stops the thread. Hosts pass their settings as callables, so a
changed setting or checkpoint is seen on the next request. Writes of one sidecar are serialised
(concurrent saves of different fields all land), and a save that fails raises :class:`SaveFailed`.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..library.atomic import KeyedLocks
from ..library.discovery import LoraEntry
from ..library.library import Library
from ..library.sidecars import write_user_metadata
from ..library.untrusted import UntrustedJSON, display
from ..syntax.model import Source
from .cards import card, pending_card, tag_name
from .prompt_edits import TextChange, Toggle, remove_tag_at, set_tag_weight, toggle_lora
from .slider_rows import slider_rows
from .thumbnails import Thumbnails
from .user_state import UserState

EDITABLE_FIELDS = {
    "description": str,
    "activation text": str,
    "negative text": str,
    "notes": str,
    "sd version": str,
    "preferred weight": float,
    "weight min": float,
    "weight max": float,
}
"""A1111's user-metadata fields plus the slider range; anything else in a request is refused."""
SD_VERSIONS = ("Unknown", "SD1", "SD2", "SDXL")
MAX_TEXT_FIELD = 64 * 1024
"""A sidecar text field (description, notes…) is at most this many characters."""


@dataclass
class GalleryOptions:
    default_weight: Callable[[], float] = lambda: 1.0
    model_family: Callable[[], str | None] = lambda: None
    hide_other_families: Callable[[], bool] = lambda: False
    trigger_words: Callable[[], bool] = lambda: True
    """Card clicks also insert trigger words, and removing the tag removes them again."""
    separator: Callable[[], str] = lambda: " "
    family_choice: bool = False
    """Standalone: no model is loaded, so the toolbar lets the user pick the family to check."""


class GalleryError(ValueError):
    """A request the gallery cannot do (unknown LoRA, bad field): shown to the user as is."""


class SaveFailed(GalleryError):
    """A write that did not happen (disk full, permissions): the old file is unchanged."""


class GalleryService:
    def __init__(self, library: Library, state: UserState, options: GalleryOptions | None = None) -> None:
        self.library = library
        self.state = state
        self.options = options or GalleryOptions()
        self.thumbnails = Thumbnails()
        self._lock = threading.RLock()
        self._cards: dict[str, tuple[tuple[int, int], dict[str, Any]]] = {}
        self._fresh: set[str] = set()
        """Cards built since the last refresh: a refresh re-reads every card's sidecars, whose
        changes (A1111's editor, Civitai Helper) do not change the LoRA file's own stamp."""
        self._entries_by_tag: dict[str, LoraEntry] = {}
        self._worker: threading.Thread | None = None
        self._rescan = threading.Event()
        self._sidecar_locks = KeyedLocks()
        self.progress: dict[str, Any] = {"phase": "idle", "done": 0, "total": 0}
        self._index_entries()

    # -- scanning -----------------------------------------------------------------------------

    def _index_entries(self) -> None:
        entries = self.library.entries
        stems = Counter(entry.stem for entry in entries)
        by_tag = {tag_name(entry, stems[entry.stem]): entry for entry in entries}
        with self._lock:
            self._entries_by_tag = by_tag
            self._stem_counts = stems

    def refresh(self) -> dict[str, Any]:
        """Re-list the folders (stat only) and read new or changed files in the background."""
        self.library.refresh()
        self._index_entries()
        self._fresh = set()
        self.start_background()
        return self.progress_json()

    def start_background(self) -> None:
        with self._lock:
            if self._worker is not None and self._worker.is_alive():
                self._rescan.set()
                return
            self._worker = threading.Thread(target=self._scan, name="loraloom-gallery", daemon=True)
            self._worker.start()

    def wait(self, timeout: float | None = None) -> bool:
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
        return worker is None or not worker.is_alive()

    def _scan(self) -> None:
        try:
            while True:
                self._rescan.clear()
                self._read_pending()
                if not self._rescan.is_set():
                    return
        finally:  # whatever happened, the toolbar must not show "reading" for ever
            self.progress = {"phase": "idle", "done": 0, "total": 0}

    def _read_pending(self) -> None:
        """One pass: build stale cards, hash unhashed files, save the cache."""
        entries = list(self._entries_by_tag.values())
        stale = [e for e in entries if e.name not in self._fresh or self._cards[e.name][0] != e.stamp]
        self.progress = {"phase": "reading", "done": 0, "total": len(stale)}
        for done, entry in enumerate(stale, start=1):
            self._build_card(entry)
            self.progress = {"phase": "reading", "done": done, "total": len(stale)}
        unhashed = [e for e in entries if not e.problem and self.library.cached_hashes(e) is None]
        self.progress = {"phase": "hashing", "done": 0, "total": len(unhashed)}
        for done, entry in enumerate(unhashed, start=1):
            with contextlib.suppress(Exception):  # the detail panel reports it; the others go on
                self.library.hashes(entry)
            self.progress = {"phase": "hashing", "done": done, "total": len(unhashed)}
        with contextlib.suppress(Exception):  # a read-only cache folder only costs speed
            self.library.save()

    def _build_card(self, entry: LoraEntry) -> dict[str, Any]:
        stem_count = self._stem_counts.get(entry.stem, 1)
        try:
            record = card(self.library.describe(entry, with_hashes=False), stem_count)
        except Exception as error:  # one unreadable file must not stop the scan
            record = pending_card(entry, stem_count)
            record.update(pending=False, problems=[f"cannot be read: {display(str(error))[:300]}"])
        with self._lock:
            self._cards[entry.name] = (entry.stamp, record)
            self._fresh.add(entry.name)
        return record

    def progress_json(self) -> dict[str, Any]:
        return dict(self.progress)

    # -- reading ------------------------------------------------------------------------------

    def _card_for(self, entry: LoraEntry, favourites: set[str] | None = None) -> dict[str, Any]:
        stamp, record = self._cards.get(entry.name, ((-1, -1), {}))
        if stamp != entry.stamp:
            record = pending_card(entry, self._stem_counts.get(entry.stem, 1))
        favourites = self.state.favourites if favourites is None else favourites
        return {**record, "favourite": record["name"] in favourites, "last_used": self.state.last_used(record["name"])}

    def cards(self) -> list[dict[str, Any]]:
        favourites = self.state.favourites  # one copy for all cards, not one per card
        return [self._card_for(entry, favourites) for entry in list(self._entries_by_tag.values())]

    def settings_json(self) -> dict[str, Any]:
        options = self.options
        return {
            "model_family": options.model_family(),
            "default_weight": options.default_weight(),
            "hide_other_families": options.hide_other_families(),
            "trigger_words": options.trigger_words(),
            "family_choice": options.family_choice,
            "problems": self.library.problems + ([self.state.problem] if self.state.problem else []),
            "progress": self.progress_json(),
            "count": len(self._entries_by_tag),
        }

    def entry(self, name: str) -> LoraEntry:
        entry = self._entries_by_tag.get(name) or self.library.get(name)
        if entry is None:
            resolution = self.library.resolve(name)
            if resolution.entry is None:
                raise GalleryError(resolution.note)
            entry = resolution.entry
        return entry

    def lookup(self, name: str) -> tuple[dict[str, Any] | None, str]:
        try:
            return self._card_for(self.entry(name)), ""
        except GalleryError as error:
            return None, str(error)

    def detail(self, name: str) -> dict[str, Any]:
        entry = self.entry(name)
        info = self.library.describe(entry, with_hashes=True).to_json()
        card = self._build_card(entry)
        return {**info, "card": card | {"favourite": card["name"] in self.state.favourites}}

    def thumbnail(self, name: str) -> bytes:
        entry = self.entry(name)
        if not entry.sidecars.preview:
            raise GalleryError(f"{display(name)} has no preview image")
        # the folders discovery listed for this file (a followed symlinked folder included)
        folders = [*self.library.roots, os.path.dirname(entry.path)]
        return self.thumbnails.get(entry.sidecars.preview, folders)

    # -- writing ------------------------------------------------------------------------------

    def save_user_metadata(self, name: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Write the user sidecar (A1111's ``<base>.json``) atomically and return the new card.

        Saves of one file are serialised (read, update, write), so concurrent saves of
        different fields all land.
        """
        entry = self.entry(name)
        cleaned = _validated(values)
        path = entry.sidecars.user_json or os.path.splitext(entry.path)[0] + ".json"
        try:
            with self._sidecar_locks.hold(os.path.realpath(path)):
                write_user_metadata(path, cleaned)
        except UntrustedJSON as error:
            raise GalleryError(
                f"{display(path)} cannot be updated: the file there {error}; fix or remove it first"
            ) from None
        except (OSError, ValueError) as error:
            reason = getattr(error, "strerror", None) or error
            raise SaveFailed(f"{display(path)} could not be written ({reason}); the old file is unchanged") from error
        self.library.refresh()  # the sidecar may be new: listings find sidecars
        self._index_entries()
        entry = self.entry(name)
        self._build_card(entry)
        return self._card_for(entry)

    def set_favourite(self, name: str, favourite: bool) -> str:
        """Mark a LoRA (by its card name) as a favourite or not; :class:`SaveFailed` if not saved."""
        card_name = self._card_for(self.entry(name))["name"]
        try:
            self.state.set_favourite(card_name, favourite)
        except OSError as error:
            raise SaveFailed(f"favourites could not be saved ({error.strerror or error}); nothing changed") from None
        return card_name

    # -- prompt edits -------------------------------------------------------------------------

    def toggle(self, text: str, cursor: int, name: str, *, with_words: bool, added_words: list[str]) -> Toggle:
        entry_card = self._card_for(self.entry(name))
        if not entry_card["taggable"]:
            raise GalleryError(f"a tag cannot name '{name}' (it contains ':' or '>'); rename the file")
        weight = entry_card["preferred_weight"] or self.options.default_weight()
        words = entry_card["trigger_words"] if with_words else []
        try:
            result = toggle_lora(text, cursor, name, weight, words, added_words, self.options.separator())
        except ValueError as error:  # an insertion that would change other tags, a bad weight
            raise GalleryError(str(error)) from None
        if result.action == "inserted":
            with contextlib.suppress(OSError):  # "last used" is a convenience; the edit stands
                self.state.mark_used([name])
        return result

    def set_weight(self, text: str, index: int, te: float, unet: float | None) -> TextChange:
        try:
            return set_tag_weight(text, index, te, unet)
        except IndexError:
            raise
        except ValueError as error:  # a weight that is not a finite number
            raise GalleryError(str(error)) from None

    def remove(self, text: str, index: int, added_words: list[str]) -> TextChange:
        return remove_tag_at(text, index, added_words)

    def rows(self, text: str, source: Source, model_family: str | None = None) -> list[dict[str, Any]]:
        family = model_family if self.options.family_choice else self.options.model_family()
        return slider_rows(text, source, self.lookup, family or None)


def _validated(values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(values) - set(EDITABLE_FIELDS))
    if unknown:
        names = ", ".join(display(str(name))[:60] for name in unknown[:10])
        raise GalleryError(f"unknown fields {names}; editable: {', '.join(EDITABLE_FIELDS)}")
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        kind = EDITABLE_FIELDS[key]
        if kind is float:
            cleaned[key] = _number_field(key, value)
        elif value is None or isinstance(value, str):
            text = value or ""
            if len(text) > MAX_TEXT_FIELD:
                raise GalleryError(f"'{key}' is {len(text):,} characters; at most {MAX_TEXT_FIELD:,} are kept")
            cleaned[key] = text
        else:
            raise GalleryError(f"'{key}' must be text, not {type(value).__name__}")
    if cleaned.get("sd version", "Unknown") not in SD_VERSIONS:
        raise GalleryError(f"'sd version' must be one of {', '.join(SD_VERSIONS)}")
    low, high = cleaned.get("weight min"), cleaned.get("weight max")
    if low is not None and high is not None and (low or high) and low >= high:
        raise GalleryError("'weight min' must be below 'weight max'")
    return cleaned


def _number_field(key: str, value: Any) -> float:
    """A sidecar number: a JSON number or numeric text (what a form sends), finite; empty is 0."""
    if value in ("", None):
        return 0.0
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | str)
        or (isinstance(value, str) and len(value) > 64)
    ):
        raise GalleryError(f"'{key}' must be a number")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise GalleryError(f"'{key}' must be a number, not {display(str(value))!r}") from None
    if not math.isfinite(number):
        raise GalleryError(f"'{key}' must be a finite number")
    return number
