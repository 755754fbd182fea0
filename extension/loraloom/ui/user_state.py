"""Favourites and "last used" times, kept in one small JSON file beside the library.

The file is rewritten atomically (temporary file + rename) on every change; a missing or broken
file starts empty (and is reported once) instead of failing the gallery.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from ..library.atomic import write_text_atomically

STATE_FILE_NAME = "loraloom-gallery.json"


class UserState:
    def __init__(self, path: str | None) -> None:
        self.path = path
        self.problem: str | None = None
        self._lock = threading.Lock()
        self._favourites: set[str] = set()
        self._last_used: dict[str, float] = {}
        self._load()

    def _load(self) -> None:
        if not self.path or not os.path.exists(self.path):
            return
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
            self._favourites = {str(name) for name in data.get("favourites", [])}
            self._last_used = {str(k): float(v) for k, v in dict(data.get("last_used", {})).items()}
        except (OSError, ValueError, TypeError, AttributeError) as error:
            self.problem = f"{self.path}: favourites cannot be read ({error}); starting empty"

    @property
    def favourites(self) -> set[str]:
        return set(self._favourites)

    def last_used(self, name: str) -> float | None:
        return self._last_used.get(name)

    def set_favourite(self, name: str, favourite: bool) -> None:
        with self._lock:
            (self._favourites.add if favourite else self._favourites.discard)(name)
            self._save()

    def mark_used(self, names: list[str], when: float | None = None) -> None:
        with self._lock:
            stamp = time.time() if when is None else when
            for name in names:
                self._last_used[name] = stamp
            self._save()

    def _save(self) -> None:
        if not self.path:
            return
        data: dict[str, Any] = {"favourites": sorted(self._favourites), "last_used": self._last_used}
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            write_text_atomically(self.path, json.dumps(data, indent=1))
        except OSError as error:
            self.problem = f"{self.path}: favourites cannot be saved ({error.strerror or error})"
