"""Find LoRA files under the configured roots, fast: directory listings and stats only.

Names are paths relative to their root with ``/`` and without extension (``styles/ink v2``),
so a tag can pick one of several files that share a stem. Sidecars are found in the same
listings, so no extra file-system calls are needed to know which exist. Symlinked folders are
followed once (loops are detected); unreadable folders are reported, never fatal.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from .sidecars import NO_SIDECARS, SidecarPaths, sidecar_index

LORA_EXTENSIONS = (".safetensors", ".pt", ".ckpt", ".bin")
PICKLE_EXTENSIONS = (".pt", ".ckpt", ".bin")


@dataclass(frozen=True)
class LoraEntry:
    """One file found on disk (nothing of it read yet)."""

    name: str
    """Relative to its root, ``/``-separated, no extension: what a tag writes."""
    path: str
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
        result.problems.append(f"{folder}: cannot be listed ({error.strerror})")
        return
    identity = (info.st_dev, info.st_ino)
    if identity in visited:
        result.problems.append(f"{folder}: symlink loop; this folder is already listed")
        return
    visited.add(identity)
    try:
        with os.scandir(folder) as iterator:
            children = sorted(iterator, key=lambda e: _natural_key(e.name))
    except OSError as error:
        result.problems.append(f"{folder}: cannot be listed ({error.strerror or error}); its LoRAs are skipped")
        return
    sidecars = sidecar_index(folder, frozenset(child.name for child in children))
    relative_folder = os.path.relpath(folder, root).replace(os.sep, "/")
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
            stat = child.stat()
            size, mtime = stat.st_size, stat.st_mtime_ns
        except OSError as error:
            problem = f"cannot be opened ({error.strerror}): a broken link or a symlink loop"
    return LoraEntry(
        name=prefix + stem,
        path=child.path,
        root=root,
        size=size,
        mtime_ns=mtime,
        sidecars=sidecars.get(stem, NO_SIDECARS),
        problem=problem,
    )


def _natural_key(name: str) -> list[object]:
    """Sort ``v2`` before ``v10`` (A1111 lists files in natural order)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


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
    return LoraEntry(name=stem, path=path, root=folder, size=0, mtime_ns=0, problem="does not exist")
