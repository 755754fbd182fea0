"""``Library``: the LoRA files under some folders, with cached summaries, hashes and names.

Listing is stat-only; summaries (header reads) and hashes are computed on demand and cached
per (path, size, mtime) in memory and, with ``cache_path``, on disk, so a second scan of an
unchanged folder reads no file. State lives in the object: a host keeps one ``Library``.
"""

from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass

from .atomic import remove_leftovers
from .cache import FileCache
from .discovery import LoraEntry, scan_roots
from .hashes import BackgroundHasher, Hashes, hash_file_stamped
from .identify import FileSummary
from .info import LoraInfo
from .reading import summarize_file
from .sidecars import read_sidecars
from .untrusted import display


@dataclass(frozen=True)
class Resolution:
    """How a tag's name found a file (or why not)."""

    entry: LoraEntry | None
    how: str
    """``name``, ``stem``, ``alias``, ``case``, ``hash`` or ``missing``."""
    note: str = ""
    suggestions: tuple[str, ...] = ()


class Library:
    def __init__(
        self,
        roots: Sequence[str],
        *,
        cache_path: str | None = None,
        allow_pickle: bool = False,
        max_cache_entries: int = 100_000,
    ) -> None:
        self.roots = [os.path.abspath(root) for root in roots]
        self.allow_pickle = allow_pickle
        self.cache = FileCache(cache_path, max_entries=max_cache_entries)
        self.scan_problems: list[str] = []
        self._by_name: dict[str, LoraEntry] = {}
        self._shadowed: list[tuple[LoraEntry, LoraEntry]] = []

    # -- listing ------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-list the folders (stats only). Changed files are re-read when next described."""
        scan = scan_roots(self.roots)
        by_name: dict[str, LoraEntry] = {}
        shadowed = []
        for entry in scan.entries:
            if entry.name in by_name:
                shadowed.append((by_name[entry.name], entry))
                continue
            by_name[entry.name] = entry
        self._by_name, self._shadowed, self.scan_problems = by_name, shadowed, scan.problems
        self.cache.forget_missing({entry.path for entry in scan.entries})
        for folder, names in scan.leftovers.items():  # temporary files of saves killed mid-write
            remove_leftovers(folder, names)

    @property
    def entries(self) -> list[LoraEntry]:
        return list(self._by_name.values())

    def get(self, name: str) -> LoraEntry | None:
        return self._by_name.get(name)

    # -- reading ------------------------------------------------------------------------------

    def summary(self, entry: LoraEntry) -> FileSummary:
        if entry.problem:
            return FileSummary.broken(entry.problem)
        cached = self.cache.get(entry.path, entry.stamp, "summary")
        if cached is not None:
            with contextlib.suppress(TypeError, ValueError, AttributeError):  # a damaged cache entry is re-read
                return FileSummary.from_json(cached)
        summary = summarize_file(entry.path, self.allow_pickle)
        refused_pickle = not entry.is_safetensors and not self.allow_pickle
        if not refused_pickle:
            self.cache.put(entry.path, entry.stamp, "summary", summary.to_json())
        return summary

    def hashes(self, entry: LoraEntry) -> Hashes:
        """Both hashes; computed once per file version (streams the file), then cached.

        Only a hash of the version the entry describes is cached: a file rewritten while it is
        hashed raises :class:`~.hashes.ChangedWhileHashing` (an ``OSError``), and a file changed
        since the last listing is hashed but not cached under the listing's stamp.
        """
        cached = self.cached_hashes(entry)
        if cached is not None:
            return cached
        hashes, stamp = hash_file_stamped(entry.path, entry.is_safetensors)
        if stamp == entry.stamp:
            self.cache.put(entry.path, entry.stamp, "hashes", {"sha256": hashes.sha256, "addnet": hashes.addnet})
        return hashes

    def cached_hashes(self, entry: LoraEntry) -> Hashes | None:
        cached = self.cache.get(entry.path, entry.stamp, "hashes")
        if not isinstance(cached, dict):
            return None
        sha256, addnet = cached.get("sha256"), cached.get("addnet")
        if not isinstance(sha256, str) or not (addnet is None or isinstance(addnet, str)):
            return None  # a damaged cache entry: hashed again
        return Hashes(sha256=sha256, addnet=addnet)

    def hash_in_background(self) -> BackgroundHasher:
        """Hash every file not hashed yet on a worker thread; poll ``progress``."""
        pending = [e for e in self.entries if not e.problem and self.cached_hashes(e) is None]
        return BackgroundHasher(lambda entry=entry: self._hash_quietly(entry) for entry in pending).start()

    def _hash_quietly(self, entry: LoraEntry) -> None:
        with contextlib.suppress(OSError):  # reported when the file is described
            self.hashes(entry)

    def describe(self, entry: LoraEntry, *, with_hashes: bool = True) -> LoraInfo:
        hashes, hash_problem = None, None
        if with_hashes and not entry.problem:
            try:
                hashes = self.hashes(entry)
            except OSError as error:
                hash_problem = f"cannot be hashed ({error.strerror or error})"
        else:
            hashes = self.cached_hashes(entry) if not entry.problem else None
        return LoraInfo(
            entry=entry,
            summary=self.summary(entry),
            sidecars=read_sidecars(entry.sidecars),
            hashes=hashes,
            hash_problem=hash_problem,
        )

    def save(self) -> None:
        self.cache.save()

    # -- names --------------------------------------------------------------------------------

    def aliases(self) -> dict[str, list[LoraEntry]]:
        """``ss_output_name`` → entries (reads headers not yet cached)."""
        aliases: dict[str, list[LoraEntry]] = {}
        for entry in self.entries:
            alias = self.summary(entry).metadata.get("ss_output_name")
            if alias:
                aliases.setdefault(alias, []).append(entry)
        return aliases

    def _by_stem(self) -> dict[str, list[LoraEntry]]:
        stems: dict[str, list[LoraEntry]] = {}
        for entry in self.entries:
            stems.setdefault(entry.stem, []).append(entry)
        return stems

    def resolve(self, name: str) -> Resolution:
        """Find the file a tag means: name, stem (as A1111), alias, any case, or hash prefix."""
        if name in self._by_name:
            return Resolution(self._by_name[name], "name")
        stems = self._by_stem()
        if name in stems:
            matches = stems[name]
            chosen = matches[-1]  # A1111 keeps the last file it lists with this stem
            note = ""
            if len(matches) > 1:
                others = ", ".join(e.name for e in matches[:-1])
                note = (
                    f"'{name}' matches {len(matches)} files; like A1111 using {chosen.name} "
                    f"(write <lora:{others}:…> for another)"
                )
            return Resolution(chosen, "stem", note)
        aliases = self.aliases()
        if name in aliases:
            matches = aliases[name]
            if len(matches) == 1:
                return Resolution(matches[0], "alias")
            names = ", ".join(e.name for e in matches)
            return Resolution(None, "missing", f"alias '{name}' is shared by {names}; write the file name instead")
        folded = {entry.name.casefold(): entry for entry in self.entries}
        folded.update({stem.casefold(): group[-1] for stem, group in stems.items() if stem.casefold() not in folded})
        if name.casefold() in folded:
            entry = folded[name.casefold()]
            return Resolution(entry, "case", f"'{name}' matched {entry.name} ignoring case")
        lowered = name.lower()
        if len(lowered) >= 10 and all(c in "0123456789abcdef" for c in lowered):
            for entry in self.entries:
                hashes = self.cached_hashes(entry)
                if hashes and (hashes.sha256.startswith(lowered) or (hashes.addnet or "").startswith(lowered)):
                    return Resolution(entry, "hash")
        known = [entry.name for entry in self.entries] + list(stems) + list(aliases)
        suggestions = tuple(dict.fromkeys(difflib.get_close_matches(name, known, n=3, cutoff=0.6)))
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        return Resolution(None, "missing", f"no LoRA named '{name}'{hint}", suggestions)

    @property
    def problems(self) -> list[str]:
        """Scan problems and name collisions, each with what loraloom does about it."""
        problems = list(self.scan_problems)
        for kept, hidden in self._shadowed:
            problems.append(
                f"'{kept.name}' exists in {display(kept.root)} and {display(hidden.root)}; "
                f"using the first ({display(kept.path)})"
            )
        for stem, group in self._by_stem().items():
            if len(group) > 1:
                names = ", ".join(e.name for e in group)
                problems.append(f"<lora:{stem}> is ambiguous ({names}); like A1111 it means {group[-1].name}")
        return problems
