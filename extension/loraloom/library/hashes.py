"""A1111- and Civitai-compatible hashes, streamed in constant memory.

- ``sha256``: the whole file (Civitai's "AutoV2" is its first 10 hex digits);
- ``addnet``: the sha256 of the bytes after the safetensors header, i.e. the tensor data only
  (kohya's AddNet hash; A1111 writes its first 12 hex digits as ``Lora hashes`` for
  ``.safetensors`` files and the whole-file sha256 for pickles).
"""

from __future__ import annotations

import errno
import hashlib
import os
import struct
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import BinaryIO

from .safe_files import Stamp, open_regular

CHUNK = 1024 * 1024


class ChangedWhileHashing(OSError):
    """The file was rewritten while it was read: its hash would mix two versions."""


@dataclass(frozen=True)
class Hashes:
    sha256: str
    addnet: str | None
    """``None`` for files that are not safetensors."""

    @property
    def shorthash(self) -> str:
        """Civitai AutoV2: the first 10 hex digits of the whole-file sha256."""
        return self.sha256[:10]

    @property
    def infotext_hash(self) -> str:
        """What A1111 writes in ``Lora hashes``: 12 hex digits of addnet (or of sha256)."""
        return (self.addnet or self.sha256)[:12]


def hash_file(path: str, safetensors: bool) -> Hashes:
    """Both hashes in one streaming pass over the file."""
    return hash_file_stamped(path, safetensors)[0]


def _identity(info: os.stat_result) -> tuple[int, ...]:
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev)


def hash_file_stamped(path: str, safetensors: bool) -> tuple[Hashes, Stamp]:
    """Both hashes and the ``(size, mtime_ns)`` of the version they belong to.

    The open file is stat-ed before and the path after reading; if size, times or inode
    changed meanwhile, :class:`ChangedWhileHashing` is raised instead of a mixed hash.
    """
    with open_regular(path) as handle:
        before = os.fstat(handle.fileno())
        hashes = _stream(handle, safetensors)
        during = os.fstat(handle.fileno())
    try:
        after = os.stat(path)
    except OSError:
        after = None
    if after is None or not (_identity(before) == _identity(during) == _identity(after)):
        raise ChangedWhileHashing(errno.EAGAIN, "changed while it was being hashed; it is hashed again later", path)
    return hashes, (before.st_size, before.st_mtime_ns)


def _stream(handle: BinaryIO, safetensors: bool) -> Hashes:
    whole = hashlib.sha256()
    data = hashlib.sha256() if safetensors else None
    skip = 0
    if safetensors:
        prefix = handle.read(8)
        whole.update(prefix)
        skip = struct.unpack("<Q", prefix)[0] if len(prefix) == 8 else 0
        while skip:
            chunk = handle.read(min(CHUNK, skip))
            if not chunk:
                break
            whole.update(chunk)
            skip -= len(chunk)
    while chunk := handle.read(CHUNK):
        whole.update(chunk)
        if data is not None:
            data.update(chunk)
    return Hashes(sha256=whole.hexdigest(), addnet=data.hexdigest() if data is not None else None)


class BackgroundHasher:
    """Hashes files on a worker thread so the UI stays usable; ``progress`` can be polled."""

    def __init__(self, jobs: Iterable[Callable[[], object]]) -> None:
        self._jobs = list(jobs)
        self.done = 0
        self.total = len(self._jobs)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loraloom-hasher", daemon=True)

    def start(self) -> BackgroundHasher:
        self._thread.start()
        return self

    def _run(self) -> None:
        for job in self._jobs:
            if self._stop.is_set():
                return
            job()
            self.done += 1

    @property
    def progress(self) -> tuple[int, int]:
        return self.done, self.total

    def cancel(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()
