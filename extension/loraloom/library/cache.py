"""A small persistent cache of per-file results (header summaries, hashes).

Entries are keyed by path and stamped with the file's size and mtime; a stamp that no longer
matches the file makes the entry invisible, so a changed file is always re-read. The cache is
bounded (``max_entries``, oldest use dropped first) and written atomically as one JSON file,
ASCII-escaped so paths that are not valid UTF-8 round-trip. A damaged or hostile cache file
only costs a re-read: it is read like any untrusted JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections import OrderedDict
from typing import Any

from .atomic import remove_leftovers, write_text_atomically
from .safe_files import open_regular
from .untrusted import UntrustedJSON, loads

FORMAT_VERSION = 1
Stamp = tuple[int, int]
"""``(size, mtime_ns)`` of a file when its entry was made."""


class FileCache:
    def __init__(self, path: str | None, max_entries: int = 100_000) -> None:
        self.path = path
        self.max_entries = max_entries
        self._entries: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._dirty = False
        if path:
            self._load(path)

    def _load(self, path: str) -> None:
        try:
            with open_regular(path) as handle:
                document = loads(handle.read())
        except (OSError, UntrustedJSON, MemoryError):
            return  # a missing or damaged cache only costs a re-read
        if isinstance(document, dict) and document.get("version") == FORMAT_VERSION:
            files = document.get("files")
            if isinstance(files, dict):
                self._entries.update((k, v) for k, v in files.items() if isinstance(v, dict))

    def get(self, path: str, stamp: Stamp, field: str) -> Any:
        with self._lock:
            entry = self._entries.get(path)
            if entry is None or entry.get("stamp") != list(stamp) or field not in entry:
                return None
            self._entries.move_to_end(path)
            return entry[field]

    def put(self, path: str, stamp: Stamp, field: str, value: Any) -> None:
        with self._lock:
            entry = self._entries.get(path)
            if entry is None or entry.get("stamp") != list(stamp):
                entry = {"stamp": list(stamp)}
                self._entries[path] = entry
            entry[field] = value
            self._entries.move_to_end(path)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            self._dirty = True

    def forget_missing(self, present: set[str]) -> None:
        """Drop entries of files that are gone (called after a full scan)."""
        with self._lock:
            for path in [p for p in self._entries if p not in present]:
                del self._entries[path]
                self._dirty = True

    def save(self) -> None:
        if not self.path or not self._dirty:
            return
        with self._lock:
            try:
                text = json.dumps({"version": FORMAT_VERSION, "files": self._entries}, allow_nan=False)
            except (TypeError, ValueError, RecursionError):
                return  # a value JSON cannot hold: the old cache stays; only speed is lost
            self._dirty = False
        folder = os.path.dirname(os.path.abspath(self.path))
        with contextlib.suppress(OSError):  # the old cache stays; only speed is lost
            os.makedirs(folder, exist_ok=True)
            with contextlib.suppress(OSError):
                remove_leftovers(folder, os.listdir(folder))
            write_text_atomically(self.path, text)
