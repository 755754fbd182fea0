"""Build hostile files at test time: safetensors with any header, FIFOs, bombs, odd names."""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from pathlib import Path

import torch

from tests.fixtures.lora_files import lora_state_dict, write_file
from tests.fixtures.sd_catalogue import catalogue

MODULES = [m for m in catalogue("sd1") if m.group == "attn"][:3]


def good_lora(path: Path, seed: int = 0, metadata: dict[str, str] | None = None) -> str:
    """A real, valid kohya SD1 LoRA of three attention modules."""
    return write_file(path, lora_state_dict(MODULES, seed=seed), metadata)


def raw_safetensors(path: Path, header: str | bytes, data: bytes = b"") -> str:
    """A file with exactly this header text and data section (nothing validated)."""
    raw = header.encode() if isinstance(header, str) else header
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return str(path)


def tensor_entry(begin: int, end: int, count: int | None = None) -> dict:
    """An F16 tensor description; ``count`` elements (default: what the offsets hold)."""
    count = (end - begin) // 2 if count is None else count
    return {"dtype": "F16", "shape": [count], "data_offsets": [begin, end]}


def lora_header(entries: list[tuple[str, dict]], metadata: object = None) -> str:
    """Header JSON text with entries in order (duplicates allowed: written by hand)."""
    parts = [f"{json.dumps(key)}: {json.dumps(entry)}" for key, entry in entries]
    if metadata is not None:
        parts.insert(0, f'"__metadata__": {json.dumps(metadata)}')
    return "{" + ", ".join(parts) + "}"


def nested(depth: int, leaf: str = "1") -> str:
    """JSON text nested ``depth`` levels deep (lists and objects alternating)."""
    return '{"a": [' * (depth // 2) + leaf + "]}" * (depth // 2)


def fifo(path: Path) -> str:
    os.mkfifo(path)
    return str(path)


def release_fifo(path: str) -> None:
    """Unblock a reader stuck on ``open()`` of a FIFO (code that predates the fix), then remove it."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(descriptor)
    except OSError:
        pass


def zip_bomb(path: Path, megabytes: int = 32) -> str:
    """A torch archive whose tensor data member is deflated: a few KB that inflate to ``megabytes``."""
    buffer = io.BytesIO()
    torch.save({"lora_unet_x.lora_down.weight": torch.zeros(megabytes * 2**20 // 4)}, buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as bomb:
        for info in source.infolist():
            bomb.writestr(info.filename, source.read(info.filename))
    return str(path)


def bytes_name(folder: Path, raw: bytes) -> Path:
    """A path whose last component is the raw (possibly non-UTF-8) bytes ``raw``."""
    return Path(os.fsdecode(os.path.join(os.fsencode(str(folder)), raw)))
