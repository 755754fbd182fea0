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
from .safe_files import open_regular, read_regular
from .untrusted import UntrustedJSON, display, loads

PREVIEW_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "gif")
USER_METADATA_FIELDS = ("description", "sd version", "activation text", "preferred weight", "negative text", "notes")
TXT_TRIGGER_LIMIT = 300
"""A ``.txt`` this short is a trigger-word list (as some packs ship); longer ones are descriptions."""
MAX_SIDECAR_BYTES = 16 * 1024 * 1024
"""A sidecar JSON larger than this is refused unread (real ones are a few KB; Civitai's < 1 MB)."""
TXT_READ_BYTES = 64 * 1024


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
            with open_regular(paths.txt) as raw:
                txt = display(raw.read(TXT_READ_BYTES).decode("utf-8", errors="replace").strip())
        except OSError as error:
            problems.append(f"{display(paths.txt)}: cannot be read ({error.strerror or error}); ignored")
    return SidecarData(user=user, civitai=civitai, txt=txt, problems=tuple(problems))


def read_json_object(path: str) -> dict[str, Any]:
    """A sidecar's JSON object, read defensively; ``OSError``/``UntrustedJSON`` say why not."""
    data = loads(read_regular(path, MAX_SIDECAR_BYTES))
    if not isinstance(data, dict):
        raise UntrustedJSON("is not a JSON object")
    return data


def _read_json(path: str | None, problems: list[str], what: str) -> dict[str, Any]:
    if not path:
        return {}
    try:
        return read_json_object(path)
    except OSError as error:
        problems.append(f"{display(path)}: {what} cannot be read ({error.strerror or error}); ignored")
    except UntrustedJSON as error:
        problems.append(f"{display(path)}: {what} cannot be read (it {error}); ignored")
    return {}


def write_user_metadata(path: str, values: Mapping[str, Any]) -> None:
    """Update ``<base>.json`` in A1111's format, keeping keys we do not know, atomically.

    The new content goes to a temporary file in the same folder that then replaces the old
    one, so an error (disk full, a value JSON cannot hold) never loses the old file. The caller
    serialises writers of one file (:class:`~.atomic.KeyedLocks`): this is read-modify-write.
    """
    current: dict[str, Any] = {}
    if os.path.lexists(path):
        current = read_json_object(path)  # a file we cannot read is never overwritten
    current.update(values)
    text = json.dumps(current, indent=4, ensure_ascii=False, allow_nan=False)
    if not text.isascii() and not _encodable(text):
        text = json.dumps(current, indent=4, allow_nan=False)  # lone surrogates, escaped as \\udcxx
    write_text_atomically(path, text, durable=True)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
