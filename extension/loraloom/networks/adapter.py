"""The common face of every network kind: its weight change, and its on-the-fly forward.

One small class per kind (``lora.py``, ``loha.py``, …) subclasses :class:`Adapter`. Tensors are
fp32 on the target's device; ``delta_weight`` is the change at multiplier 1 with the file's own
scale (alpha/rank) applied, in the target weight's shape; ``delta_output`` is what the adapter
adds to the target's output for an input ``x`` (used by hooks mode).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

TensorSource = Callable[[str], "torch.Tensor | None"]
"""``suffix → fp32 tensor on the target's device`` (``None`` when the file has no such key)."""


@dataclass(frozen=True)
class TargetInfo:
    """What an adapter needs to know about the module it changes."""

    weight_shape: tuple[int, ...]
    kind: str
    """``linear`` (also one q/k/v/out slice of a MultiheadAttention), ``conv`` or ``norm``."""
    stride: tuple[int, ...] = (1, 1)
    padding: tuple[int, ...] | str = (0, 0)
    dilation: tuple[int, ...] = (1, 1)
    groups: int = 1
    has_bias: bool = False
    """Whether the target has a bias a bias change can go to (else the change is ignored)."""

    @classmethod
    def of(cls, module: nn.Module) -> TargetInfo:
        has_bias = getattr(module, "bias", None) is not None
        shape = tuple(module.weight.shape)
        if isinstance(module, nn.Conv2d):
            return cls(shape, "conv", module.stride, module.padding, module.dilation, module.groups, has_bias)
        if isinstance(module, nn.GroupNorm | nn.LayerNorm):
            return cls(shape, "norm", has_bias=has_bias)
        return cls(shape, "linear", has_bias=has_bias)


def alpha_scale(alpha: torch.Tensor | None, rank: int) -> float:
    """alpha / rank; a missing or zero alpha means scale 1 (kohya's and LyCORIS's rule)."""
    if alpha is None:
        return 1.0
    value = float(alpha.float().reshape(-1)[0])
    return 1.0 if value == 0 else value / rank


class Adapter:
    """Base class: subclasses set ``kind`` and implement :meth:`delta_weight`."""

    kind = "?"
    linear_in_multiplier = True
    """False when the multiplier acts inside the formula (BOFT): then ΔW is recomputed per m."""
    needs_weight = False
    """True when ΔW depends on the target's own weight (IA3, OFT, GLoRA, DoRA)."""
    convention: str | None = None
    """Which of a kind's historical readings the file was taken in, when it has several
    (legacy OFT, LyCORIS-1 GLoRA): ``report()`` says it."""

    def __init__(self, target: TargetInfo) -> None:
        self.target = target

    @classmethod
    def build(cls, target: TargetInfo, get: TensorSource, host_module: nn.Module, *, dyn: int | None = None) -> Adapter:
        """The adapter for one host module; kinds that need more than their tensors override it."""
        return cls(target, get)

    def delta_weight(self, weight: torch.Tensor, multiplier: float = 1.0) -> torch.Tensor:
        raise NotImplementedError

    def delta_bias(self) -> torch.Tensor | None:
        return None

    def delta_shape(self) -> tuple[int, ...]:
        """The shape ΔW has (computed on a zero weight; kinds override it with shape arithmetic)."""
        device = next((t.device for t in self.tensors()), torch.device("cpu"))
        return tuple(self.delta_weight(torch.zeros(self.target.weight_shape, device=device)).shape)

    def delta_output(self, x: torch.Tensor, weight: torch.Tensor, delta: torch.Tensor | None = None) -> torch.Tensor:
        """The output change for input ``x`` (multiplier 1); ``delta`` is a cached ΔW if any."""
        change = self.delta_weight(weight) if delta is None else delta
        return apply_weight(x, change.to(x.dtype), self.target)

    def tensors(self) -> list[torch.Tensor]:
        """The adapter's own tensors (for memory accounting and finiteness checks)."""
        return [v for v in vars(self).values() if isinstance(v, torch.Tensor)]


def apply_weight(x: torch.Tensor, weight: torch.Tensor, target: TargetInfo) -> torch.Tensor:
    """Run ``x`` through a weight of the target's shape (no bias)."""
    if target.kind == "conv":
        return F.conv2d(x, weight, None, target.stride, target.padding, target.dilation, target.groups)
    return F.linear(x, weight)


def reshape_like(delta: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    return delta.reshape(shape) if tuple(delta.shape) != shape else delta
