"""Forge's layers for the patcher: ``ForgeOperations.Linear`` is a plain ``nn.Module`` that
computes its weight on every forward (casting, offload, quantized storage).

Hooks mode needs only the layer's logical shape and adds the adapters' output, computed on the
input's device and dtype, so fp16/bf16/fp8 storage all work. Layers whose weight is packed
(bitsandbytes 4-bit, GGUF) are reported by name: their shape is not the layer's. Merge mode
would have to go through Forge's own ``ModelPatcher.add_patches`` and is reported unavailable.
"""

from __future__ import annotations

import torch
from torch import nn

from ...networks.adapter import TargetInfo
from ...patching.binding import TORCH_TYPES, Binding

PACKED_DTYPES = (torch.uint8, torch.int8)


def is_forge_linear(module: nn.Module) -> bool:
    """A Linear by its contract (``in_features``/``out_features`` and a weight), whatever its class."""
    return (
        not isinstance(module, nn.Linear)
        and type(module).__name__ == "Linear"
        and isinstance(getattr(module, "in_features", None), int)
        and isinstance(getattr(module, "out_features", None), int)
        and getattr(module, "weight", None) is not None
    )


class ForgeBinding(Binding):
    name = "forge"
    merge_unavailable = (
        "merge mode is not available in Forge yet (its own patcher owns the weights); hooks mode is used"
    )

    def patchable(self, module: nn.Module) -> bool:
        return isinstance(module, TORCH_TYPES) or is_forge_linear(module)

    def unpatchable(self, module: nn.Module) -> str | None:
        weight = getattr(module, "weight", None)
        if weight is None:
            return "has no weight"
        kind = type(weight).__name__
        if weight.dtype in PACKED_DTYPES or "4bit" in kind or "GGUF" in kind.upper():
            return f"{type(module).__qualname__} stores its weight packed ({kind}, {weight.dtype}); not supported yet"
        if is_forge_linear(module) and tuple(weight.shape) != (module.out_features, module.in_features):
            return f"{type(module).__qualname__} weight shape {tuple(weight.shape)} is not the layer's"
        return None

    def target_info(self, module: nn.Module) -> TargetInfo:
        if is_forge_linear(module):
            return TargetInfo((module.out_features, module.in_features), "linear", has_bias=module.bias is not None)
        return TargetInfo.of(module)


FORGE = ForgeBinding()
