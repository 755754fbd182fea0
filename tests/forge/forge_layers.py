"""Layers shaped like Forge's, for tests: ``ForgeOperations.Linear`` is a plain ``nn.Module``
(not a ``torch.nn.Linear``) with ``in_features``/``out_features``/``weight``/``bias`` that casts
its stored weight to the input's dtype on every forward (Forge's ``get_weight_and_bias`` +
``weights_manual_cast``). Written from Forge's documented layer contract, not Forge's code."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Linear(nn.Module):
    """Forge's contract: plain Module, weight stored in any dtype, cast per forward."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight: nn.Parameter | None = None
        self.bias: nn.Parameter | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.to(dtype=x.dtype, device=x.device)
        bias = self.bias.to(dtype=x.dtype, device=x.device) if self.bias is not None else None
        return F.linear(x, weight, bias)


def forgeify(model: nn.Module, storage: torch.dtype | None = None) -> nn.Module:
    """Replace every ``nn.Linear`` of ``model`` by a Forge-like one with the same weights
    (stored as ``storage`` when given, e.g. ``torch.float8_e4m3fn``)."""
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if type(child) is nn.Linear:
                layer = Linear(child.in_features, child.out_features)
                weight = child.weight.detach().clone()
                layer.weight = nn.Parameter(weight.to(storage) if storage else weight, requires_grad=False)
                if child.bias is not None:
                    layer.bias = nn.Parameter(child.bias.detach().clone(), requires_grad=False)
                setattr(module, child_name, layer)
    return model


# -- packed storages (Forge's bitsandbytes and GGUF layers), written from their contracts ------


def _quantize_rows(dense: torch.Tensor, levels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Signed integer codes per row and the row scales (absmax quantization)."""
    scale = dense.abs().amax(dim=1, keepdim=True).clamp(min=1e-8) / levels
    return (dense / scale).round().clamp(-levels - 1, levels).to(torch.int8), scale


def packed_4bit(dense: torch.Tensor) -> nn.Parameter:
    """bitsandbytes' ``Params4bit`` contract: a uint8 parameter holding two 4-bit codes a byte
    (shape ``(out·in/2, 1)``), ``quant_state.shape`` the layer's ``(out, in)``, ``quant_type``."""
    from types import SimpleNamespace

    codes, scale = _quantize_rows(dense, 7)
    nibbles = (codes + 8).to(torch.uint8)
    packed = (nibbles[:, 0::2] | (nibbles[:, 1::2] << 4)).reshape(-1, 1)
    weight = nn.Parameter(packed, requires_grad=False)
    weight.quant_state = SimpleNamespace(shape=torch.Size(dense.shape), absmax=scale)
    weight.quant_type = "nf4"
    return weight


def dequantize_4bit(weight: torch.Tensor) -> torch.Tensor:
    out, inputs = weight.quant_state.shape
    packed = weight.detach().reshape(out, inputs // 2)
    nibbles = torch.stack([packed & 15, packed >> 4], dim=-1).reshape(out, inputs)
    return (nibbles.to(torch.float32) - 8) * weight.quant_state.absmax


class PackedLinear(nn.Module):
    """A Forge ``Linear`` with a packed weight: no ``in_features``/``out_features``; it
    dequantizes on every forward. Subclasses say how the weight is packed and read back."""

    def __init__(self, dense: nn.Linear) -> None:
        super().__init__()
        self.weight = self.pack(dense.weight.detach())
        self.bias = nn.Parameter(dense.bias.detach().clone(), requires_grad=False) if dense.bias is not None else None

    @staticmethod
    def pack(dense: torch.Tensor) -> nn.Parameter:
        raise NotImplementedError

    def dequantized(self) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias.to(x.dtype) if self.bias is not None else None
        return F.linear(x, self.dequantized().to(x.dtype), bias)


class BNBLinear(PackedLinear):
    """Forge's ``ForgeOperationsBNB4bits.Linear``."""

    pack = staticmethod(packed_4bit)

    def dequantized(self) -> torch.Tensor:
        return dequantize_4bit(self.weight)


BNBLinear.__name__ = BNBLinear.__qualname__ = "Linear"  # Forge's class is named Linear too


class Q8_0:
    """Stands for ``gguf.GGMLQuantizationType.Q8_0`` (a weight's ``gguf_cls``)."""


class GGUFWeight(nn.Parameter):
    """Forge's ``ParameterGGUF`` contract: the data is the packed blocks (here a flat uint8 run of
    int8 codes), ``shape`` reports the layer's logical shape, ``gguf_cls`` names the format."""

    def __new__(cls, dense: torch.Tensor) -> GGUFWeight:
        codes, scale = _quantize_rows(dense, 127)
        weight = super().__new__(cls, codes.view(torch.uint8).reshape(-1), requires_grad=False)
        weight.real_shape, weight.scale, weight.gguf_cls = torch.Size(dense.shape), scale, Q8_0
        return weight

    @property
    def shape(self) -> torch.Size:  # type: ignore[override]
        return self.real_shape

    def dequantize(self) -> torch.Tensor:
        raw = torch.Tensor.as_subclass(self, torch.Tensor).detach()
        return raw.view(torch.int8).reshape(self.real_shape).to(torch.float32) * self.scale


class GGUFLinear(PackedLinear):
    """Forge's ``ForgeOperationsGGUF.Linear``."""

    pack = staticmethod(GGUFWeight)

    def dequantized(self) -> torch.Tensor:
        return self.weight.dequantize()


GGUFLinear.__name__ = GGUFLinear.__qualname__ = "Linear"


def quantize_linears(model: nn.Module, layer: type[PackedLinear]) -> tuple[nn.Module, nn.Module]:
    """``model`` with every ``nn.Linear`` replaced by the packed ``layer``, and a dense twin: the
    same model with each Linear's weight replaced by what the packed layer computes with."""
    import copy

    dense = copy.deepcopy(model)
    for (_, module), (_, twin) in zip(list(model.named_modules()), list(dense.named_modules()), strict=True):
        for (child_name, child), (_, twin_child) in zip(
            list(module.named_children()), list(twin.named_children()), strict=True
        ):
            if type(child) is nn.Linear:
                packed = layer(child)
                twin_child.weight.data.copy_(packed.dequantized())
                setattr(module, child_name, packed)
    return model, dense
