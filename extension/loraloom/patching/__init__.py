"""Patching: key mapping, and ``Patch`` objects that apply networks on the fly or merged."""

from .binding import TORCH, Binding
from .cache import NetworkCache
from .keymap import KeyMap, Slot
from .ownership import PatchConflict, PatchError, PatchFailed
from .patch import NetworkReport, Patch, apply
from .pool import BufferPool
from .specs import NetworkSpec

__all__ = [
    "TORCH",
    "Binding",
    "BufferPool",
    "KeyMap",
    "NetworkCache",
    "NetworkReport",
    "NetworkSpec",
    "Patch",
    "PatchConflict",
    "PatchError",
    "PatchFailed",
    "Slot",
    "apply",
]
