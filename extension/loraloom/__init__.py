"""loraloom: LoRA support for Stable Diffusion WebUIs.

Importing the package is cheap and never imports torch or gradio: the tag language lives in
:mod:`loraloom.syntax`, files in :mod:`loraloom.library`; ``load_network``, ``apply`` and
``Patch``/``PatchError`` (torch) are imported on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Patch", "PatchError", "apply", "load_network"]


def __getattr__(name: str) -> Any:
    """Import torch-backed parts on first use, so ``import loraloom`` stays cheap."""
    if name == "load_network":
        from .networks import load_network

        return load_network
    if name in ("apply", "Patch", "PatchError"):
        from . import patching

        return getattr(patching, name)
    raise AttributeError(f"module 'loraloom' has no attribute {name!r}")
