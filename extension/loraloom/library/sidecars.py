"""Files next to a LoRA: previews, A1111's user metadata JSON, Civitai Helper info, ``.txt``.

Names follow A1111 (``<base>.<ext>`` then ``<base>.preview.<ext>`` for each preview extension;
``<base>.json`` for user metadata) and Civitai Helper (``<base>.civitai.info``). The user JSON
is read and written in A1111's own format so both tools share it, and writing is atomic.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from .atomic import write_text_atomically

PREVIEW_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "gif")
USER_METADATA_FIELDS = ("description", "sd version", "activation text", "preferred weight", "negative text", "notes")
TXT_TRIGGER_LIMIT = 300
"""A ``.txt`` this short is a trigger-word list (as some packs ship); longer ones are descriptions."""


@dataclass(frozen=True)
class SidecarPaths:
    preview: str | None = None
    user_json: str | None = None
    civitai: str | None = None
    txt: str | None = None


NO_SIDECARS = SidecarPaths()

# (field, suffix) in A1111's order of preference; the first present suffix of a field wins.
_SIDECAR_SUFFIXES = [("preview", suffix) for ext in PREVIEW_EXTENSIONS for suffix in (f".{ext}", f".preview.{ext}")]
_SIDECAR_SUFFIXES += [
    ("user_json", ".json"),
    ("civitai", ".civitai.info"),
    ("txt", ".txt"),
    ("txt", ".description.txt"),
]


def sidecar_index(folder: str, names: AbstractSet[str]) -> dict[str, SidecarPaths]:
    """Sidecars of every base name in one folder listing, found once per folder.

    Keyed by the base name (a LoRA file's name without its extension); files whose names end
    in several suffixes (``a.preview.png`` is also ``a.preview`` + ``.png``) count for both
    bases, which is harmless: only real LoRA bases are looked up.
    """
    found: dict[str, dict[str, tuple[int, str]]] = {}
    for name in names:
        for rank, (field_name, suffix) in enumerate(_SIDECAR_SUFFIXES):
            if name.endswith(suffix) and len(name) > len(suffix):
                fields = found.setdefault(name[: -len(suffix)], {})
                if field_name not in fields or rank < fields[field_name][0]:
                    fields[field_name] = (rank, os.path.join(folder, name))
    return {base: SidecarPaths(**{k: path for k, (_, path) in fields.items()}) for base, fields in found.items()}


@dataclass(frozen=True)
class SidecarData:
    user: dict[str, Any] = field(default_factory=dict)
    civitai: dict[str, Any] = field(default_factory=dict)
    txt: str = ""
    problems: tuple[str, ...] = ()


def read_sidecars(paths: SidecarPaths) -> SidecarData:
    problems = []
    user = _read_json(paths.user_json, problems, "user metadata")
    civitai = _read_json(paths.civitai, problems, "Civitai info")
    txt = ""
    if paths.txt:
        try:
            with open(paths.txt, encoding="utf-8", errors="replace") as handle:
                txt = handle.read(64 * 1024).strip()
        except OSError as error:
            problems.append(f"{paths.txt}: cannot be read ({error.strerror})")
    return SidecarData(user=user, civitai=civitai, txt=txt, problems=tuple(problems))


def _read_json(path: str | None, problems: list[str], what: str) -> dict[str, Any]:
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as error:
        problems.append(f"{path}: {what} cannot be read ({getattr(error, 'strerror', None) or error}); ignored")
        return {}
    if not isinstance(data, dict):
        problems.append(f"{path}: {what} is not a JSON object; ignored")
        return {}
    return data


def write_user_metadata(path: str, values: Mapping[str, Any]) -> None:
    """Update ``<base>.json`` in A1111's format, keeping keys we do not know, atomically.

    The new content goes to a temporary file in the same folder that then replaces the old
    one, so an error (disk full, a value JSON cannot hold) never loses the old file.
    """
    current: dict[str, Any] = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            loaded = json.load(handle)
        current = loaded if isinstance(loaded, dict) else {}
    current.update(values)
    write_text_atomically(path, json.dumps(current, indent=4, ensure_ascii=False), durable=True)
