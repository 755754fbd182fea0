"""IA³: scale the target's weight per output channel (or per input channel with ``on_input``).

ΔW = W ⊙ w; no alpha. On the fly: the output (without bias) times w, or W applied to x ⊙ w.
"""

from __future__ import annotations

import torch

from .adapter import Adapter, TargetInfo, TensorSource, apply_weight


class IA3(Adapter):
    kind = "ia3"
    needs_weight = True

    def __init__(self, target: TargetInfo, get: TensorSource) -> None:
        super().__init__(target)
        self.vector = get("weight").flatten()  # type: ignore[union-attr]
        on_input = get("on_input")
        self.on_input = bool(on_input is not None and on_input.flatten()[0] != 0)

    def _broadcast(self, ndim: int, axis: int) -> torch.Tensor:
        shape = [1] * ndim
        shape[axis] = -1
        return self.vector.reshape(shape)

    def delta_weight(self, weight: torch.Tensor, multiplier: float = 1.0) -> torch.Tensor:
        axis = 1 if self.on_input else 0
        return weight.float() * self._broadcast(weight.dim(), axis) * multiplier

    def delta_output(self, x: torch.Tensor, weight: torch.Tensor, delta: torch.Tensor | None = None) -> torch.Tensor:
        channel_axis = 1 if self.target.kind == "conv" else -1
        vector = self._broadcast(x.dim(), channel_axis % x.dim()).to(x.dtype)
        if self.on_input:
            return apply_weight(x * vector, weight.to(x.dtype), self.target)
        return apply_weight(x, weight.to(x.dtype), self.target) * vector
