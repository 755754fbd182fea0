"""Full and norm deltas: the file holds ΔW (and Δbias) itself.

``diff``/``diff_b`` for Linear/Conv layers; ``w_norm``/``b_norm`` for GroupNorm/LayerNorm.
On the fly a norm delta is the norm of x with (Δw, Δb): the normalisation is linear in them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .adapter import Adapter, TargetInfo, TensorSource, apply_weight, reshape_like


class Full(Adapter):
    kind = "full"

    def __init__(self, target: TargetInfo, get: TensorSource) -> None:
        super().__init__(target)
        self.diff, self.diff_b = get("diff"), get("diff_b")

    def delta_weight(self, weight: torch.Tensor, multiplier: float = 1.0) -> torch.Tensor:
        return reshape_like(self.diff, self.target.weight_shape) * multiplier  # type: ignore[arg-type]

    def delta_bias(self) -> torch.Tensor | None:
        return self.diff_b

    def delta_output(self, x: torch.Tensor, weight: torch.Tensor, delta: torch.Tensor | None = None) -> torch.Tensor:
        change = apply_weight(x, (self.delta_weight(weight) if delta is None else delta).to(x.dtype), self.target)
        if self.diff_b is None or not self.target.has_bias:
            return change
        shape = (1, -1, 1, 1) if self.target.kind == "conv" else (-1,)
        return change + self.diff_b.to(x.dtype).reshape(shape)


class Norm(Adapter):
    kind = "norm"

    def __init__(self, target: TargetInfo, get: TensorSource, *, groups: int = 0, eps: float = 1e-5) -> None:
        """``groups``: the GroupNorm's group count, 0 for a LayerNorm."""
        super().__init__(target)
        self.w_norm, self.b_norm = get("w_norm"), get("b_norm")
        self.groups, self.eps = groups, eps

    @classmethod
    def build(cls, target: TargetInfo, get: TensorSource, host_module: nn.Module, *, dyn: int | None = None) -> Norm:
        """A GroupNorm's group count and either norm's eps come from the host module."""
        groups = host_module.num_groups if isinstance(host_module, nn.GroupNorm) else 0
        return cls(target, get, groups=groups, eps=getattr(host_module, "eps", 1e-5))

    def delta_weight(self, weight: torch.Tensor, multiplier: float = 1.0) -> torch.Tensor:
        return reshape_like(self.w_norm, self.target.weight_shape) * multiplier  # type: ignore[arg-type]

    def delta_bias(self) -> torch.Tensor | None:
        return self.b_norm

    def delta_output(self, x: torch.Tensor, weight: torch.Tensor, delta: torch.Tensor | None = None) -> torch.Tensor:
        w = self.w_norm.to(x.dtype)  # type: ignore[union-attr]
        b = self.b_norm.to(x.dtype) if self.b_norm is not None and self.target.has_bias else None
        if self.groups:
            return F.group_norm(x, self.groups, w, b, self.eps)
        return F.layer_norm(x, w.shape, w, b, self.eps)
