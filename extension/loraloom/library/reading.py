"""Open a LoRA file safely and summarise it; every failure becomes a problem value.

``.safetensors`` is read from its header alone. Pickle formats (``.pt``, ``.ckpt``, ``.bin``)
can run arbitrary code when unpickled, so they are refused unless the user enables legacy
files, and then opened only with ``torch.load(weights_only=True)``, which never executes
pickled code (torch is imported only for that), after the archive's members were checked to
inflate to nothing more than the file's size (:mod:`.archives`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .archives import check_torch_archive
from .discovery import PICKLE_EXTENSIONS
from .identify import FileSummary, summarize
from .problems import FileProblem
from .safe_files import open_regular
from .safetensors_header import read_header, read_scalars
from .untrusted import display

PICKLE_REFUSED = (
    "is a legacy pickle file, refused because opening a pickle can run code; "
    "convert it to .safetensors, or enable legacy files to open it weights-only"
)
_TORCH_DTYPES = {
    "torch.float16": "F16",
    "torch.bfloat16": "BF16",
    "torch.float32": "F32",
    "torch.float64": "F64",
    "torch.int64": "I64",
    "torch.int32": "I32",
    "torch.bool": "BOOL",
    "torch.uint8": "U8",
}


def summarize_file(path: str, allow_pickle: bool = False) -> FileSummary:
    """A file's summary; a file that cannot be used gets a summary with its one problem."""
    try:
        if path.lower().endswith(PICKLE_EXTENSIONS):
            return _summarize_pickle(path, allow_pickle)
        header = read_header(path)
        shapes = {key: info.shape for key, info in header.tensors.items()}
        dtypes = {key: info.dtype for key, info in header.tensors.items() if info.shape}
        return summarize(shapes, dtypes, header.metadata, lambda keys: read_scalars(header, keys))
    except FileProblem as problem:
        return FileSummary.broken(problem.message + (f"; {problem.hint}" if problem.hint else ""))
    except OSError as error:
        return FileSummary.broken(f"cannot be read ({error.strerror or error}); check the file")
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError, MemoryError) as error:
        # One hostile file never stops a scan; the message says what broke, for a bug report.
        return FileSummary.broken(f"cannot be described ({type(error).__name__}: {display(str(error))[:200]})")


def load_pickle_weights(path: str) -> dict[str, Any]:
    """A weights-only ``torch.load`` of a pickle LoRA, flattened to ``key → tensor``."""
    import pickle

    import torch

    try:
        with open_regular(path) as handle:
            check_torch_archive(path, handle, os.fstat(handle.fileno()).st_size)
            loaded = torch.load(handle, map_location="cpu", weights_only=True)
    except FileProblem:
        raise
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, AttributeError, TypeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise FileProblem(
            path,
            f"cannot be opened weights-only ({first_line[:200]})",
            "it may hold code or not be a LoRA; convert it with a tool you trust",
        ) from None
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping):
        raise FileProblem(path, "does not hold a dictionary of tensors", "it is not a LoRA file")
    return {str(k): v for k, v in loaded.items() if isinstance(v, torch.Tensor)}


def _summarize_pickle(path: str, allow_pickle: bool) -> FileSummary:
    if not allow_pickle:
        return FileSummary.broken(PICKLE_REFUSED)
    tensors = load_pickle_weights(path)
    shapes = {key: tuple(t.shape) for key, t in tensors.items()}
    dtypes = {key: _TORCH_DTYPES.get(str(t.dtype), str(t.dtype)) for key, t in tensors.items() if t.dim()}
    return summarize(shapes, dtypes, {}, lambda keys: {k: float(tensors[k].flatten()[0]) for k in keys})
