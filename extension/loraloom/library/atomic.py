"""Replace a file's content all at once: write a temporary file beside it, then rename.

A crash or an error while writing (disk full, a value that cannot be encoded) leaves the old
file as it was and no temporary file behind; the error is raised to the caller.
"""

from __future__ import annotations

import os
import tempfile


def write_text_atomically(path: str, text: str, *, durable: bool = False) -> None:
    """Write ``text`` to ``path`` atomically; ``durable`` also flushes it to disk before the rename."""
    folder = os.path.dirname(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(prefix=".loraloom-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
