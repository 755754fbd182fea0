"""LoHa: ``(w1a·w1b) ⊙ (w2a·w2b) · alpha/rank``, with Tucker ``hada_t1/t2`` for conv."""

from __future__ import annotations

import torch

from .adapter import Adapter, TargetInfo, TensorSource, alpha_scale, reshape_like


def tucker(t: torch.Tensor, wa: torch.Tensor, wb: torch.Tensor) -> torch.Tensor:
    """R[p, q, ...] = Σ_ij t[i, j, ...] · wa[i, p] · wb[j, q]."""
    return torch.einsum("i j ..., i p, j q -> p q ...", t, wa, wb)


class LoHa(Adapter):
    kind = "loha"

    def __init__(self, target: TargetInfo, get: TensorSource) -> None:
        super().__init__(target)
        self.w1a, self.w1b = get("hada_w1_a"), get("hada_w1_b")
        self.w2a, self.w2b = get("hada_w2_a"), get("hada_w2_b")
        self.t1, self.t2 = get("hada_t1"), get("hada_t2")
        self.scale = alpha_scale(get("alpha"), self.w1b.shape[0])  # type: ignore[union-attr]

    def delta_weight(self, weight: torch.Tensor, multiplier: float = 1.0) -> torch.Tensor:
        if self.t1 is not None and self.t2 is not None:
            delta = tucker(self.t1, self.w1a, self.w1b) * tucker(self.t2, self.w2a, self.w2b)  # type: ignore[arg-type]
        else:
            delta = (self.w1a @ self.w1b) * (self.w2a @ self.w2b)  # type: ignore[operator]
        return reshape_like(delta, self.target.weight_shape) * (self.scale * multiplier)
