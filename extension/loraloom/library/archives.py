"""Check a torch pickle archive before ``torch.load`` sees it: nothing may inflate.

``torch.save`` writes a zip whose members are stored uncompressed, so a real file's members add
up to about its own size. A 2 MB archive with deflated members can declare gigabytes, which
``torch.load`` would allocate and inflate before anyone could check a size. The pre-zip torch
format (before torch 1.6, 2020, older than any LoRA) declares storage sizes inside the pickle
itself, which cannot be checked without unpickling, so it is refused.
"""

from __future__ import annotations

import zipfile
from typing import BinaryIO

from .problems import FileProblem

MAX_MEMBERS = 100_000
SLACK_BYTES = 1024 * 1024
"""Declared sizes may exceed the archive by this much (headers and alignment are not data)."""
_HINT = "convert it to .safetensors with a tool you trust"


def check_torch_archive(path: str, handle: BinaryIO, size: int) -> None:
    """Raise :class:`FileProblem` unless ``handle`` is a torch zip archive that cannot inflate."""
    if not zipfile.is_zipfile(handle):
        raise FileProblem(path, "is in the pre-1.6 torch format, whose sizes cannot be checked before loading", _HINT)
    handle.seek(0)
    try:
        members = zipfile.ZipFile(handle).infolist()
    except (zipfile.BadZipFile, OSError, ValueError, OverflowError) as error:
        raise FileProblem(path, f"is a damaged archive ({str(error)[:120]})", _HINT) from None
    if len(members) > MAX_MEMBERS:
        raise FileProblem(path, f"is an archive of {len(members):,} members", _HINT)
    inflating = [m for m in members if m.file_size > m.compress_size]
    declared = sum(m.file_size for m in members)
    if inflating or declared > size + SLACK_BYTES:
        raise FileProblem(
            path,
            f"is a compressed archive whose {len(members)} members would inflate {size:,} bytes to {declared:,}; "
            "torch never writes compressed members, so it is refused unopened",
            _HINT,
        )
    handle.seek(0)
