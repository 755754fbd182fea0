"""Preview images served small: resized once, kept in a bounded in-memory cache.

Only a library entry's own preview sidecar is ever opened (the browser names a LoRA, never a
path), and that file must lie under one of the library roots, so no request can read anything else.
"""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence

THUMBNAIL_SIZE = 256
"""Longest side in pixels: a card is ~180 px wide, so this stays sharp on 1.4× screens."""


def is_inside(path: str, roots: Sequence[str]) -> bool:
    absolute = os.path.abspath(path)
    for root in roots:
        root = os.path.abspath(root)
        if os.path.commonpath([absolute, root]) == root:
            return True
    return False


class Thumbnails:
    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._cache: OrderedDict[tuple[str, int, int, int], bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, path: str, roots: Sequence[str], size: int = THUMBNAIL_SIZE) -> bytes:
        """JPEG/PNG bytes of the preview at ``path`` no larger than ``size``; ``ValueError`` if not allowed."""
        if not is_inside(path, roots):
            raise ValueError(f"{path} is not inside the LoRA folders")
        stat = os.stat(path)
        key = (path, stat.st_size, stat.st_mtime_ns, size)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        data = _resize(path, size)
        with self._lock:
            self._cache[key] = data
            self._bytes += len(data)
            while self._bytes > self.max_bytes and len(self._cache) > 1:
                _, dropped = self._cache.popitem(last=False)
                self._bytes -= len(dropped)
        return data


def _resize(path: str, size: int) -> bytes:
    from PIL import Image  # gradio's dependency; imported only when a preview is served

    with Image.open(path) as image:
        image.seek(0)  # the first frame of a GIF/WebP animation
        image.thumbnail((size, size))
        output = io.BytesIO()
        if image.mode in ("RGBA", "LA", "P"):
            image.convert("RGBA").save(output, format="PNG", optimize=True)
        else:
            image.convert("RGB").save(output, format="JPEG", quality=85)
    return output.getvalue()


def image_type(data: bytes) -> str:
    return "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
