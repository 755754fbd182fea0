"""Favourites and "last used" times, kept in one small JSON file beside the library.

The file is rewritten atomically (temporary file + rename) on every change; a missing or broken
file starts empty (and is reported once) instead of failing the gallery. A change that cannot
be saved raises ``OSError`` and is undone in memory, so what the page shows is what is on disk.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from ..library.atomic import write_text_atomically
from ..library.safe_files import read_regular
from ..library.untrusted import UntrustedJSON, display, finite_number, loads

STATE_FILE_NAME = "loraloom-gallery.json"
MAX_STATE_BYTES = 16 * 1024 * 1024
MAX_NAMES = 100_000


class UserState:
    def __init__(self, path: str | None) -> None:
        self.path = path
        self.problem: str | None = None
        self._lock = threading.Lock()
        self._favourites: set[str] = set()
        self._last_used: dict[str, float] = {}
        self._load()

    def _load(self) -> None:
        if not self.path or not os.path.lexists(self.path):
            return
        try:
            data = loads(read_regular(self.path, MAX_STATE_BYTES))
            if not isinstance(data, dict):
                raise UntrustedJSON("is not a JSON object")
        except (OSError, UntrustedJSON) as error:
            reason = getattr(error, "strerror", None) or error
            self.problem = f"{display(self.path)}: favourites cannot be read ({reason}); starting empty"
            return
        favourites, last_used = data.get("favourites"), data.get("last_used")
        if isinstance(favourites, list):
            self._favourites = {name for name in favourites[:MAX_NAMES] if isinstance(name, str)}
        if isinstance(last_used, dict):
            for name, when in list(last_used.items())[:MAX_NAMES]:
                if (stamp := finite_number(when)) is not None:
                    self._last_used[name] = stamp

    @property
    def favourites(self) -> set[str]:
        return set(self._favourites)

    def last_used(self, name: str) -> float | None:
        return self._last_used.get(name)

    def set_favourite(self, name: str, favourite: bool) -> None:
        """Add or remove a favourite and save; ``OSError`` (nothing changed) when it cannot be saved."""
        with self._lock:
            before = set(self._favourites)
            (self._favourites.add if favourite else self._favourites.discard)(name)
            try:
                self._save()
            except OSError:
                self._favourites = before
                raise

    def mark_used(self, names: list[str], when: float | None = None) -> None:
        with self._lock:
            before = dict(self._last_used)
            stamp = time.time() if when is None else when
            for name in names:
                self._last_used[name] = stamp
            try:
                self._save()
            except OSError:
                self._last_used = before
                raise

    def _save(self) -> None:
        if not self.path:
            return
        data: dict[str, Any] = {"favourites": sorted(self._favourites), "last_used": self._last_used}
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            write_text_atomically(self.path, json.dumps(data, indent=1))
        except OSError as error:
            self.problem = f"{display(self.path)}: favourites cannot be saved ({error.strerror or error})"
            raise
        self.problem = None
