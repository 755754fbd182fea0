"""GLoRA: ΔW = (b1·b2 + W·a1·a2) · alpha/rank (conv: b2 carries the kernel, a-factors are 1×1)."""

from __future__ import annotations

import torch

from .adapter import Adapter, TargetInfo, TensorSource, alpha_scale, reshape_like


class GLoRA(Adapter):
    kind = "glora"
    needs_weight = True

    def __init__(self, target: TargetInfo, get: TensorSource) -> None:
        super().__init__(target)
        self.a1, self.a2 = get("a1.weight"), get("a2.weight")
        self.b1, self.b2 = get("b1.weight"), get("b2.weight")
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
