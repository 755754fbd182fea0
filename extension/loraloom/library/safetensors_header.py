"""Read a safetensors header and metadata without loading any tensor.

The file starts with an 8-byte little-endian header length, then that many bytes of JSON
(``{key: {"dtype", "shape", "data_offsets"}, "__metadata__": {str: str}}``), then the tensor
data. Everything is validated before anyone trusts it, as the safetensors format defines it
(and as its loader checks when a LoRA is applied): a header larger than 100 MB, a header that
is not a JSON object (or nests too deeply, or names a key twice), metadata that is not text,
offsets outside the data, tensors that overlap or leave gaps, bytes no tensor covers, or a byte
length that does not match dtype × shape each give one :class:`FileProblem`. Only regular files
are opened (a FIFO named ``x.safetensors`` would block the reader).
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass

import numpy as np

from .problems import FileProblem
from .safe_files import NotRegularFile, open_regular
from .untrusted import UntrustedJSON, display, loads

MAX_HEADER_BYTES = 100 * 1024 * 1024

DTYPE_SIZES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}

_NUMPY_SCALARS = {
    "F16": "<f2",
    "F32": "<f4",
    "F64": "<f8",
    "I8": "i1",
    "U8": "u1",
    "I16": "<i2",
    "I32": "<i4",
    "I64": "<i8",
    "U16": "<u2",
    "U32": "<u4",
    "U64": "<u8",
    "BOOL": "?",
}


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]
    begin: int
    """Byte offset of the data, relative to the start of the data section."""
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Header:
    path: str
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]
    data_start: int
    """Absolute file offset of the data section (8 + header length)."""
    size: int


def read_header(path: str) -> Header:
    """Read and validate the header of a ``.safetensors`` file (never its tensor data)."""
    try:
        with open_regular(path) as handle:
            size = os.fstat(handle.fileno()).st_size
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise FileProblem(
                    path,
                    f"is {size} bytes long, too short to be a safetensors file",
                    "the download was probably interrupted: download it again",
                )
            (length,) = struct.unpack("<Q", prefix)
            if length > MAX_HEADER_BYTES:
                raise FileProblem(
                    path,
                    f"declares a {length:,}-byte header (the limit is 100 MB)",
                    "this is not a valid safetensors file",
                )
            if 8 + length > size:
                raise FileProblem(
                    path,
                    f"declares a {length:,}-byte header but the file has {size - 8:,} bytes after it",
                    "the file is truncated: download it again",
                )
            raw = handle.read(length)
    except IsADirectoryError:
        raise FileProblem(path, "is a directory, not a file", "rename the folder") from None
    except NotRegularFile as error:
        raise FileProblem(
            path, error.strerror or "is not a regular file", "remove it or replace it by the real file"
        ) from None
    except PermissionError:
        raise FileProblem(path, "cannot be read: permission denied", "fix the file's permissions") from None
    except OSError as error:
        raise FileProblem(path, f"cannot be read: {error.strerror or error}", "check the file") from None
    return _parse_header(path, raw, size)


def _parse_header(path: str, raw: bytes, size: int) -> Header:
    try:
        document = loads(raw.decode("utf-8"), unique_keys=True)
    except UnicodeDecodeError:
        raise FileProblem(
            path, "has a header that is not UTF-8 text", "the file is damaged or not a safetensors file"
        ) from None
    except UntrustedJSON as error:
        raise FileProblem(path, f"has a header that {error}", "the file is damaged or not a safetensors file") from None
    if not isinstance(document, dict):
        raise FileProblem(path, "has a header that is not a JSON object", "the file is damaged")
    metadata = document.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise FileProblem(path, "has a __metadata__ entry that is not an object", "the file is damaged")
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise FileProblem(
                path,
                f"has metadata {display(key)[:80]!r} that is not text ({type(value).__name__})",
                "safetensors metadata must be text; the file will not load: re-save it",
            )
    data_start = 8 + len(raw)
    data_size = size - data_start
    tensors = {key: _tensor_info(path, key, entry, data_size) for key, entry in document.items()}
    _check_layout(path, tensors, data_size)
    return Header(path=path, tensors=tensors, metadata=metadata, data_start=data_start, size=size)


def _check_layout(path: str, tensors: dict[str, TensorInfo], data_size: int) -> None:
    """Tensors must tile the data exactly: in offset order, each starts where the last ended."""
    end = 0
    for key, info in sorted(tensors.items(), key=lambda item: (item[1].begin, item[1].end)):
        if info.begin != end:
            what = (
                "overlaps the tensor before it"
                if info.begin < end
                else f"leaves {info.begin - end:,} bytes unused before it"
            )
            raise FileProblem(
                path, f"tensor '{display(key)[:120]}' {what} (offsets {[info.begin, info.end]})", _DAMAGED
            )
        end = info.end
    if end != data_size:
        raise FileProblem(path, f"has {data_size - end:,} bytes after its last tensor that no tensor covers", _DAMAGED)


def _tensor_info(path: str, key: str, entry: object, data_size: int) -> TensorInfo:
    """Validate one tensor description (a hot path: a header can hold thousands)."""
    try:
        dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]  # type: ignore[index]
        numel, empty = 1, False
        for dim in shape:
            if type(dim) is not int or dim < 0:
                raise ValueError
            if dim == 0:
                empty = True
            elif numel <= _HUGE:  # stop growing: a hostile shape could make a 10⁶-digit product
                numel *= dim
        numel = 0 if empty else numel
        width = DTYPE_SIZES[dtype]
        valid_offsets = type(begin) is int and type(end) is int and 0 <= begin <= end
    except (KeyError, TypeError, ValueError):
        raise _describe_bad_tensor(path, key, entry) from None
    name = display(key)[:120]
    if not valid_offsets:
        raise FileProblem(path, f"tensor '{name}' has invalid data offsets {_short([begin, end])}", _DAMAGED)
    if end > data_size:
        raise FileProblem(
            path,
            f"tensor '{name}' ends at byte {end:,} but the file has only {data_size:,} bytes of data (truncated?)",
            _DAMAGED,
        )
    if end - begin != numel * width:
        raise FileProblem(
            path,
            f"tensor '{name}' has {end - begin:,} bytes but {dtype} {_short(shape)} needs {numel * width:,}",
            _DAMAGED,
        )
    return TensorInfo(dtype=dtype, shape=tuple(shape), begin=begin, end=end)


_DAMAGED = "the file is damaged: download it again"
_HUGE = 2**64


def _short(value: object) -> str:
    text = display(repr(value))
    return text if len(text) <= 80 else text[:79] + "…"


def _describe_bad_tensor(path: str, key: str, entry: object) -> FileProblem:
    """The precise complaint about a tensor description that failed validation."""
    key = display(key)[:120]
    if not isinstance(entry, dict):
        return FileProblem(path, f"tensor '{key}' has no description", _DAMAGED)
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_SIZES:
        return FileProblem(path, f"tensor '{key}' has an unknown dtype {_short(dtype)}", _DAMAGED)
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        return FileProblem(path, f"tensor '{key}' has an invalid shape {_short(shape)}", _DAMAGED)
    return FileProblem(path, f"tensor '{key}' has invalid data offsets {_short(offsets)}", _DAMAGED)


def read_scalars(header: Header, keys: list[str]) -> dict[str, float]:
    """Read the first value of small tensors (``alpha``, ``on_input``) straight from the file.

    One open and one tiny read per key: no tensor library, no mapping of the whole file.
    """
    values: dict[str, float] = {}
    with open_regular(header.path) as handle:
        for key in keys:
            info = header.tensors[key]
            if info.numel == 0 or (info.dtype != "BF16" and info.dtype not in _NUMPY_SCALARS):
                continue
            handle.seek(header.data_start + info.begin)
            data = handle.read(DTYPE_SIZES[info.dtype])
            if info.dtype == "BF16":
                values[key] = float(np.frombuffer(b"\0\0" + data, dtype="<f4")[0])
            else:
                values[key] = float(np.frombuffer(data, dtype=_NUMPY_SCALARS[info.dtype])[0])
    return values
