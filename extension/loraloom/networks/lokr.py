"""LoKr: ``kron(w1, w2) · scale``; each factor full or low-rank (``_a·_b``), ``lokr_t2`` Tucker.

scale = alpha/rank when a low-rank factor exists, else 1 (LyCORIS stores alpha = dim then); the
rank is the kinds table's (the ``_b`` factor's first axis, as A1111 and ComfyUI read it).
"""

from __future__ import annotations

import torch

from ..kinds import kind_named
from .adapter import Adapter, TargetInfo, TensorSource, alpha_scale, reshape_like
from .loha import tucker


class LoKr(Adapter):
    kind = "lokr"

    def __init__(self, target: TargetInfo, get: TensorSource) -> None:
        super().__init__(target)
        self.w1, self.w1a, self.w1b = get("lokr_w1"), get("lokr_w1_a"), get("lokr_w1_b")
        self.w2, self.w2a, self.w2b = get("lokr_w2"), get("lokr_w2_a"), get("lokr_w2_b")
        self.t2 = get("lokr_t2")
        present = {"lokr_w1_b": self.w1b, "lokr_w2_b": self.w2b}
        rank = kind_named("lokr").rank({s: tuple(t.shape) for s, t in present.items() if t is not None})
        self.scale = 1.0 if rank is None else alpha_scale(get("alpha"), rank)

    def _w2(self) -> torch.Tensor:
        if self.w2 is not None:
            return self.w2
        if self.t2 is not None:
            return tucker(self.t2, self.w2a, self.w2b)  # type: ignore[arg-type]
        w2 = self.w2a @ self.w2b  # type: ignore[operator]
        shape = self.target.weight_shape
        if len(shape) == 4:  # conv: w2_b is [r, in_n·kh·kw]
            w2 = w2.reshape(w2.shape[0], -1, *shape[2:])
        return w2

    def delta_weight(self, weight: torch.Tensor, multiplier: float = 1.0) -> torch.Tensor:
        w1 = self.w1 if self.w1 is not None else self.w1a @ self.w1b  # type: ignore[operator]
        w2 = self._w2()
        if w2.dim() == 4:
            w1 = w1[:, :, None, None]
        delta = torch.kron(w1, w2.contiguous())
        return reshape_like(delta, self.target.weight_shape) * (self.scale * multiplier)
