"""Forge's layers for the patcher: its ``Linear`` classes are plain ``nn.Module``\\ s that compute
their weight on every forward (casting, offload, quantized storage).

Three storages, one contract (a class named ``Linear``, not a ``torch.nn.Linear``, with a
``weight``), each telling its logical ``(out, in)`` its own way:

- ``ForgeOperations.Linear`` (fp32/fp16/bf16/fp8): ``in_features`` / ``out_features``;
- ``ForgeOperationsBNB4bits.Linear`` (bitsandbytes nf4/fp4): the weight is a ``Params4bit``
  packed into uint8, its ``quant_state.shape`` is the logical one;
- ``ForgeOperationsGGUF.Linear``: the weight is a ``ParameterGGUF`` whose ``shape`` is the
  logical one (its data is the packed blocks; ``gguf_cls`` names the quantization).

Hooks mode needs only that shape and adds the adapters' output, computed on the input's device
and dtype, so every storage works for the kinds that never read the layer's own weight (LoRA,
LoHa, LoKr, …); the others, and merging, are reported per layer. Merge mode would have to go
through Forge's own ``ModelPatcher.add_patches`` and is reported unavailable.
"""

from __future__ import annotations

import torch
from torch import nn

from ...networks.adapter import TargetInfo
from ...patching.binding import TORCH_TYPES, Binding

PACKED_DTYPES = (torch.uint8, torch.int8)


def forge_linear_shape(module: nn.Module) -> tuple[int, int] | None:
    """The logical ``(out, in)`` of a Forge ``Linear`` of any storage (``None``: not one)."""
    if isinstance(module, nn.Linear) or type(module).__name__ != "Linear":
        return None
    weight = getattr(module, "weight", None)
    if weight is None:
        return None
    out_features, in_features = getattr(module, "out_features", None), getattr(module, "in_features", None)
    if isinstance(out_features, int) and isinstance(in_features, int):
        return out_features, in_features
    state = getattr(weight, "quant_state", None)
    if state is not None:  # bitsandbytes: the packed data's shape is not the layer's
        shape = getattr(state, "shape", None)
    elif getattr(weight, "gguf_cls", None) is not None or weight.dtype not in PACKED_DTYPES:
        shape = weight.shape  # GGUF's parameter reports the logical shape; a dense weight has it
    else:
        return None
    if shape is None or len(shape) != 2:
        return None
    return int(shape[0]), int(shape[1])


def packed_storage(weight: torch.Tensor) -> str | None:
    """How a weight is packed (``"bitsandbytes nf4"``, ``"GGUF Q4_K"``); ``None`` when dense."""
    if getattr(weight, "quant_state", None) is not None:
        return f"bitsandbytes {getattr(weight, 'quant_type', None) or '4-bit'}"
    gguf = getattr(weight, "gguf_cls", None)
    if gguf is not None:
        return f"GGUF {getattr(gguf, '__name__', None) or gguf}"
    if weight.dtype in PACKED_DTYPES:
        return f"packed {str(weight.dtype).removeprefix('torch.')}"
    return None


class ForgeBinding(Binding):
    name = "forge"
    merge_unavailable = (
        "merge mode is not available in Forge yet (its own patcher owns the weights); hooks mode is used"
    )

    def patchable(self, module: nn.Module) -> bool:
        return isinstance(module, TORCH_TYPES) or (
            type(module).__name__ == "Linear" and getattr(module, "weight", None) is not None
        )

    def unpatchable(self, module: nn.Module) -> str | None:
        weight = getattr(module, "weight", None)
        if weight is None:
            return "has no weight"
        if isinstance(module, TORCH_TYPES):
            storage = packed_storage(weight)
            return f"{type(module).__qualname__} stores its weight packed ({storage})" if storage else None
        shape = forge_linear_shape(module)
        if shape is None:
            storage = packed_storage(weight) or f"{type(weight).__name__} {tuple(weight.shape)}"
            return f"{type(module).__qualname__} does not tell its (out, in) shape (weight: {storage})"
        if packed_storage(weight) is None and tuple(weight.shape) != shape:
            return f"{type(module).__qualname__} weight shape {tuple(weight.shape)} is not the layer's {shape}"
        return None

    def target_info(self, module: nn.Module) -> TargetInfo:
        shape = forge_linear_shape(module)
        if shape is not None:
            return TargetInfo(shape, "linear", has_bias=getattr(module, "bias", None) is not None)
        return TargetInfo.of(module)

    def packed(self, module: nn.Module) -> str | None:
        weight = getattr(module, "weight", None)
        return packed_storage(weight) if weight is not None else None


FORGE = ForgeBinding()
