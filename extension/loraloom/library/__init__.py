"""The LoRA library: find, read, identify and describe LoRA files safely.

Core code: never imports a host, and imports torch only to open a legacy pickle (weights-only).
"""

from .discovery import LORA_EXTENSIONS, LoraEntry, scan_roots
from .hashes import BackgroundHasher, Hashes, hash_file
from .identify import FileSummary, summarize
from .info import LoraInfo
from .library import Library, Resolution
from .problems import FileProblem
from .reading import PICKLE_REFUSED, load_pickle_weights, summarize_file
from .safetensors_header import Header, TensorInfo, read_header
from .sidecars import USER_METADATA_FIELDS, write_user_metadata

__all__ = [
    "LORA_EXTENSIONS",
    "PICKLE_REFUSED",
    "USER_METADATA_FIELDS",
    "BackgroundHasher",
    "FileProblem",
    "FileSummary",
    "Hashes",
    "Header",
    "Library",
    "LoraEntry",
    "LoraInfo",
    "Resolution",
    "TensorInfo",
    "hash_file",
    "load_pickle_weights",
    "read_header",
    "scan_roots",
    "summarize",
    "summarize_file",
    "write_user_metadata",
]
