"""GLoRA: ΔW = (b1·b2 + W·a1·a2) · alpha/rank (conv: b2 carries the kernel, a-factors are 1×1).

Files in LyCORIS-1 naming (a1 [r, in], a2 [in, r], b1 [r, in], b2 [out, r]) mean
ΔW = (b2·b1 + W·a2·a1) · alpha/r: told apart by the target's shape (the kinds table's
:func:`~loraloom.kinds.glora_layout`), then read as the same formula with the roles swapped.
"""

from __future__ import annotations

import torch

from ..kinds import GLORA_LYCORIS1, glora_layout
from .adapter import Adapter, TargetInfo, TensorSource, alpha_scale, reshape_like

LYCORIS1_NAMING = "GLoRA in LyCORIS-1 naming (a1 [r, in], a2 [in, r], b1 [r, in], b2 [out, r])"


class GLoRA(Adapter):
    kind = "glora"
    needs_weight = True

    def __init__(self, target: TargetInfo, get: TensorSource) -> None:
        super().__init__(target)
        factors = {f"{name}.weight": get(f"{name}.weight") for name in ("a1", "a2", "b1", "b2")}
        a1, a2, b1, b2 = factors.values()
        shapes = {suffix: tuple(tensor.shape) for suffix, tensor in factors.items()}  # type: ignore[union-attr]
        if glora_layout(shapes, target.weight_shape) == GLORA_LYCORIS1:
            self.convention = LYCORIS1_NAMING
            a1, a2, b1, b2 = a2, a1, b2, b1
        self.a1, self.a2, self.b1, self.b2 = a1, a2, b1, b2
        self.scale = alpha_scale(get("alpha"), self.a2.shape[0])  # type: ignore[union-attr]

    def delta_weight(self, weight: torch.Tensor, multiplier: float = 1.0) -> torch.Tensor:
        shape = self.target.weight_shape
        b = reshape_like(self.b1.flatten(1) @ self.b2.flatten(1), shape)  # type: ignore[union-attr]
        a1, a2 = self.a1.flatten(1), self.a2.flatten(1)  # type: ignore[union-attr]
        original = weight.float()
        if original.dim() > 2:
            a = torch.einsum("o i ..., i j -> o j ...", original, a1)
            a = torch.einsum("o i ..., i j -> o j ...", a, a2)
        else:
            a = original @ a1 @ a2
        return (b + a) * (self.scale * multiplier)
