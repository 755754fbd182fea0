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
