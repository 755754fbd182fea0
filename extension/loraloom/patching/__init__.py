"""Patching: key mapping, and ``Patch`` objects that apply networks on the fly or merged."""

from .keymap import KeyMap, Slot
from .patch import NetworkReport, Patch, apply
from .specs import NetworkSpec

__all__ = ["KeyMap", "NetworkReport", "NetworkSpec", "Patch", "Slot", "apply"]
