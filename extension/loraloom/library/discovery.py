"""Find LoRA files under the configured roots, fast: directory listings and stats only.

Names are paths relative to their root with ``/`` and without extension (``styles/ink v2``),
so a tag can pick one of several files that share a stem. Sidecars are found in the same
listings, so no extra file-system calls are needed to know which exist. Symlinked folders are
followed once (loops are detected); unreadable folders are reported, never fatal. Only regular
files are LoRA files (a FIFO or a device named ``x.safetensors`` is reported, never opened).
A name that is not valid UTF-8 gets a display form (``caf\\xe9``); the raw path stays internal.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field

from .atomic import is_temporary
from .safe_files import kind_of
from .sidecars import NO_SIDECARS, SidecarPaths, sidecar_index
from .untrusted import display

LORA_EXTENSIONS = (".safetensors", ".pt", ".ckpt", ".bin")
PICKLE_EXTENSIONS = (".pt", ".ckpt", ".bin")


@dataclass(frozen=True)
class LoraEntry:
    """One file found on disk (nothing of it read yet)."""

    name: str
    """Relative to its root, ``/``-separated, no extension: what a tag writes (display form)."""
    path: str
    """The path as the file system gives it (may hold undecodable bytes): only to open the file."""
    root: str
    size: int
    mtime_ns: int
    sidecars: SidecarPaths = field(default_factory=SidecarPaths)
    problem: str | None = None
    """Set when the entry cannot be a LoRA file at all (a directory, a broken link)."""

    @property
    def stem(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def extension(self) -> str:
        return os.path.splitext(self.path)[1].lower()

    @property
    def is_safetensors(self) -> bool:
        return self.extension == ".safetensors"

    @property
    def stamp(self) -> tuple[int, int]:
        return self.size, self.mtime_ns


@dataclass
class ScanResult:
    entries: list[LoraEntry]
    problems: list[str]
    leftovers: dict[str, list[str]] = field(default_factory=dict)
    """Folder → names of temporary files a killed save may have left (``.loraloom-*.tmp``)."""


def lora_extension(name: str) -> str | None:
    lower = name.lower()
    return next((ext for ext in LORA_EXTENSIONS if lower.endswith(ext)), None)


def scan_roots(roots: list[str]) -> ScanResult:
    """Every LoRA file under ``roots`` (in root order, then natural path order)."""
    result = ScanResult(entries=[], problems=[])
    for root in roots:
        if not os.path.isdir(root):
            result.problems.append(f"{root}: LoRA folder does not exist")
            continue
        _walk(os.path.abspath(root), os.path.abspath(root), set(), result)
    return result


def _walk(root: str, folder: str, visited: set[tuple[int, int]], result: ScanResult) -> None:
    try:
        info = os.stat(folder)
    except OSError as error:
        result.problems.append(f"{display(folder)}: cannot be listed ({error.strerror})")
        return
    identity = (info.st_dev, info.st_ino)
    if identity in visited:
        result.problems.append(f"{display(folder)}: symlink loop; this folder is already listed")
        return
    visited.add(identity)
    try:
        with os.scandir(folder) as iterator:
            children = sorted(iterator, key=lambda e: _natural_key(e.name))
    except OSError as error:
        result.problems.append(
            f"{display(folder)}: cannot be listed ({error.strerror or error}); its LoRAs are skipped"
        )
        return
    names = frozenset(child.name for child in children)
    sidecars = sidecar_index(folder, names)
    leftovers = [name for name in names if is_temporary(name)]
    if leftovers:
        result.leftovers[folder] = leftovers
    relative_folder = display(os.path.relpath(folder, root).replace(os.sep, "/"))
    prefix = "" if relative_folder == "." else relative_folder + "/"
    subfolders = []
    for child in children:
        extension = lora_extension(child.name)
        is_dir = _is_dir(child)
        if is_dir and extension is None:
            subfolders.append(child.path)
        elif extension is not None:
            result.entries.append(_entry(child, extension, is_dir, sidecars, prefix, root))
    for subfolder in subfolders:
        _walk(root, subfolder, visited, result)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _entry(
    child: os.DirEntry[str], extension: str, is_dir: bool, sidecars: dict[str, SidecarPaths], prefix: str, root: str
) -> LoraEntry:
    """``prefix`` is the folder's path relative to ``root`` with ``/`` (computed once per folder)."""
    stem = child.name[: -len(extension)]
    problem = None
    size = mtime = 0
    if is_dir:
        problem = "is a directory, not a LoRA file; rename the folder"
    else:
        try:
            info = child.stat()
            size, mtime = info.st_size, info.st_mtime_ns
            if not stat.S_ISREG(info.st_mode):
                size = mtime = 0
                problem = f"is {kind_of(info.st_mode)}, not a LoRA file; it is never opened (remove it)"
        except OSError as error:
            problem = f"cannot be opened ({error.strerror}): a broken link or a symlink loop"
    return LoraEntry(
        name=prefix + display(stem),
        path=child.path,
        root=root,
        size=size,
        mtime_ns=mtime,
        sidecars=sidecars.get(stem, NO_SIDECARS),
        problem=problem,
    )


_DIGITS = re.compile(r"([0-9]+)")


def _natural_key(name: str) -> list[object]:
    """Sort ``v2`` before ``v10`` (A1111 lists files in natural order).

    Only ASCII digits count as numbers, compared by length then text: ``①``, ``²`` or a
    255-digit run never reach ``int()``. Parts alternate text/number, so keys always compare.
    """
    parts: list[object] = []
    for index, part in enumerate(_DIGITS.split(name)):
        if index % 2:
            digits = part.lstrip("0") or "0"
            parts.append((len(digits), digits))
        else:
            parts.append(part.lower())
    return parts


def entry_for_file(path: str) -> LoraEntry:
    """The entry of one given file (named by its stem), with its sidecars and any problem."""
    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    extension = lora_extension(path) or os.path.splitext(path)[1]
    try:
        names = frozenset(os.listdir(folder))
    except OSError:
        names = frozenset()
    for entry in os.scandir(folder) if names else ():
        if entry.path == path:
            return _entry(entry, extension, _is_dir(entry), sidecar_index(folder, names), "", folder)
    stem = os.path.basename(path)[: -len(extension)] if extension else os.path.basename(path)
    return LoraEntry(name=display(stem), path=path, root=folder, size=0, mtime_ns=0, problem="does not exist")
