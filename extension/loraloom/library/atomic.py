"""Replace a file's content all at once: write a temporary file beside it, then rename.

A crash or an error while writing (disk full, a value that cannot be encoded) leaves the old
file as it was; an error removes the temporary file, and a temporary file left by a killed
process (``kill -9`` mid-save) is removed by :func:`remove_leftovers` on a later scan. The new
file keeps the old one's permissions; a new file gets the umask's (``0666 & ~umask``), as if
``open()`` had created it — never the ``0600`` of a private temporary file.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable, Iterator

TEMPORARY_PREFIX = ".loraloom-"
TEMPORARY_SUFFIX = ".tmp"
_TEMPORARY = re.compile(r"\.loraloom-(?:(\d+)-)?[\w-]+\.tmp\Z")
STALE_SECONDS = 3600
"""A temporary file this old is left over whatever its writer (a save takes milliseconds)."""


def write_text_atomically(path: str, text: str, *, durable: bool = False) -> None:
    """Write ``text`` to ``path`` atomically; ``durable`` also flushes it to disk before the rename."""
    data = text.encode("utf-8")  # an unencodable text fails here, before any file is touched
    folder = os.path.dirname(os.path.abspath(path))
    try:
        mode: int | None = os.stat(path).st_mode & 0o7777
    except OSError:
        mode = None
    temporary, descriptor = _create_temporary(folder)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), mode)
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if mode is not None and not hasattr(os, "fchmod"):  # Windows
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _create_temporary(folder: str) -> tuple[str, int]:
    """A new temporary file in ``folder`` named with our pid, created with mode 0666 (the umask applies)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        name = f"{TEMPORARY_PREFIX}{os.getpid()}-{secrets.token_hex(6)}{TEMPORARY_SUFFIX}"
        path = os.path.join(folder, name)
        try:
            return path, os.open(path, flags, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder}: cannot create a temporary file")


def is_temporary(name: str) -> bool:
    return bool(_TEMPORARY.match(name))


def remove_leftovers(folder: str, names: Iterable[str], now: float | None = None) -> list[str]:
    """Remove temporary files of ours in ``folder`` whose writer is gone; return their paths.

    A file named with a pid that no longer runs is left over at once; any other (an older
    naming, or a pid reused since) once it is :data:`STALE_SECONDS` old.
    """
    now = time.time() if now is None else now
    removed = []
    for name in names:
        match = _TEMPORARY.match(name)
        if not match:
            continue
        path = os.path.join(folder, name)
        pid = int(match.group(1)) if match.group(1) and len(match.group(1)) < 10 else None
        try:
            stale = (pid is not None and pid != os.getpid() and not _running(pid)) or (
                now - os.lstat(path).st_mtime > STALE_SECONDS
            )
            if stale:
                os.unlink(path)
                removed.append(path)
        except OSError:
            continue
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError, OSError):
        return True  # another user's process (or a platform that cannot tell): keep the file
    return True


class KeyedLocks:
    """One lock per key (a file path), so read-modify-write of one file never interleaves.

    Locks exist only while held or awaited, so the registry stays as small as the work in flight.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextlib.contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (None, 0))
            lock = lock or threading.Lock()
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)
