"""Preview images served small: resized once, kept in a bounded in-memory cache.

Only a library entry's own preview sidecar is ever opened (the browser names a LoRA, never a
path), and that file — after following every symlink — must lie inside a library folder, so no
request can read anything else (a preview symlinked to ``~/.ssh/id_rsa`` is refused). Only a
regular file is opened (never a FIFO), and an image whose header declares more than
:data:`MAX_PIXELS` is refused before it is decoded (a 50 KB PNG can declare gigapixels).
"""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence

from ..library.safe_files import open_regular

THUMBNAIL_SIZE = 256
"""Longest side in pixels: a card is ~180 px wide, so this stays sharp on 1.4× screens."""
MAX_PIXELS = 64 * 1024 * 1024
MAX_PREVIEW_BYTES = 64 * 1024 * 1024


def is_inside(path: str, roots: Sequence[str]) -> bool:
    """Whether ``path``, symlinks resolved, lies inside one of ``roots`` (also resolved)."""
    real = os.path.realpath(path)
    for root in roots:
        root = os.path.realpath(root)
        try:
            if os.path.commonpath([real, root]) == root:
                return True
        except ValueError:  # another drive (Windows)
            continue
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
            raise ValueError("the preview is not inside the LoRA folders (a link to a file elsewhere?)")
        stat = os.stat(path)
        key = (path, stat.st_size, stat.st_mtime_ns, size)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        with open_regular(path, MAX_PREVIEW_BYTES) as handle:
            try:
                data = _resize(handle, size)
            except ValueError:
                raise
            except Exception as error:  # PIL raises all kinds (SyntaxError, DecompressionBombError…)
                raise ValueError(f"the preview cannot be read as an image ({type(error).__name__})") from None
        with self._lock:
            self._cache[key] = data
            self._bytes += len(data)
            while self._bytes > self.max_bytes and len(self._cache) > 1:
                _, dropped = self._cache.popitem(last=False)
                self._bytes -= len(dropped)
        return data


def _resize(handle: io.BufferedIOBase, size: int) -> bytes:
    from PIL import Image  # gradio's dependency; imported only when a preview is served

    with Image.open(handle) as image:
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise ValueError(f"the preview declares {width}×{height} pixels; it is not decoded")
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
