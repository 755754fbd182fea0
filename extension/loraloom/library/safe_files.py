"""Open only regular files, never blocking: a FIFO, a device or a socket named like a LoRA,
a sidecar or a preview would otherwise hang the reader (``open()`` on a FIFO waits for a writer).

The file is opened with ``O_NONBLOCK`` (which makes opening a FIFO return at once) and checked
with ``fstat`` on the open descriptor, so nothing can swap the file between check and use.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
_FLAGS |= getattr(os, "O_BINARY", 0)

Stamp = tuple[int, int]
"""``(size, mtime_ns)``: what the caches key a file version by."""


class NotRegularFile(OSError):
    """The path is a FIFO, a device, a socket or a directory: it is never read."""


def kind_of(mode: int) -> str:
    """A readable name for what a non-regular file is."""
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: str, max_bytes: int | None = None) -> BinaryIO:
    """``open(path, "rb")`` for a regular file (at most ``max_bytes`` long); ``OSError`` otherwise."""
    descriptor = os.open(path, _FLAGS)
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            what = kind_of(info.st_mode)
            raise NotRegularFile(errno.EINVAL, f"is {what}, not a regular file; it is never opened", path)
        if max_bytes is not None and info.st_size > max_bytes:
            raise OSError(errno.EFBIG, f"is {info.st_size:,} bytes, more than the {max_bytes:,} allowed", path)
        if hasattr(os, "set_blocking"):
            os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_regular(path: str, max_bytes: int) -> bytes:
    """The whole content of a small regular file, refusing files larger than ``max_bytes``."""
    with open_regular(path, max_bytes) as handle:
        return handle.read(max_bytes + 1)[:max_bytes]


def stamp_of(info: os.stat_result) -> Stamp:
    return info.st_size, info.st_mtime_ns
