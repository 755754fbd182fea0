"""LoRA and LoCon: ``up · down`` (conv: k×k down, 1×1 up), Tucker ``lora_mid``, alpha/rank.

Also diffusers/PEFT ``lora_A``/``lora_B`` (renamed to down/up when the file is read).
The on-the-fly path never builds ΔW: ``up(down(x)) · scale``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .adapter import Adapter, TargetInfo, TensorSource, alpha_scale, reshape_like


class LoRA(Adapter):
    kind = "lora"

    def __init__(self, target: TargetInfo, get: TensorSource, *, dyn: int | None = None) -> None:
        """``dyn``: keep only the first ranks (DyLoRA); the scale stays alpha/full rank, as A1111."""
        super().__init__(target)
        down, up = get("lora_down.weight"), get("lora_up.weight")
        assert down is not None and up is not None
        self.mid = get("lora_mid.weight")
        conv = target.kind == "conv"
        self.rank = down.shape[0]
        if dyn is not None and dyn < self.rank and self.mid is None:
            down, up = down[:dyn], up[:, :dyn]
        if conv and down.dim() == 2:
            down = down[:, :, None, None]
        if conv and up.dim() == 2:
            up = up[:, :, None, None]
        if not conv:
            down, up = down.flatten(1), up.flatten(1)
        self.down, self.up = down, up
        self.scale = alpha_scale(get("alpha"), self.rank)

    @classmethod
    def build(cls, target: TargetInfo, get: TensorSource, host_module: nn.Module, *, dyn: int | None = None) -> LoRA:
        return cls(target, get, dyn=dyn)

    def delta_weight(self, weight: torch.Tensor, multiplier: float = 1.0) -> torch.Tensor:
        up, down = self.up.flatten(1), self.down.flatten(1)
        if self.mid is not None:
            delta = torch.einsum("a b ..., o a, b c -> o c ...", self.mid, up, down)
        else:
            delta = up @ down
        return reshape_like(delta, self.target.weight_shape) * (self.scale * multiplier)

    def delta_shape(self) -> tuple[int, ...]:
        """Shape arithmetic only: LoRA is checked without building ΔW (hooks mode never does)."""
        kernel = tuple(self.mid.shape[2:]) if self.mid is not None else tuple(self.down.shape[2:])
        if self.mid is not None and (self.mid.shape[0] != self.up.shape[1] or self.mid.shape[1] != self.down.shape[0]):
            raise RuntimeError("lora_mid does not match lora_up/lora_down")
        if self.mid is None and self.up.shape[1] != self.down.shape[0]:
            raise RuntimeError("lora_up and lora_down have different ranks")
        shape = (self.up.shape[0], self.down.shape[1], *kernel)
        if self.target.kind != "conv" and len(self.target.weight_shape) == 2:
            shape = (self.up.shape[0], self.down.flatten(1).shape[1])
        return shape

    def delta_output(self, x: torch.Tensor, weight: torch.Tensor, delta: torch.Tensor | None = None) -> torch.Tensor:
        t = self.target
        down, up = self.down.to(x.dtype), self.up.to(x.dtype)
        if t.kind != "conv":
            return F.linear(F.linear(x, down), up) * self.scale
        if self.mid is None:
            hidden = F.conv2d(x, down, None, t.stride, t.padding, t.dilation)
        else:
            hidden = F.conv2d(x, down)
            hidden = F.conv2d(hidden, self.mid.to(x.dtype), None, t.stride, t.padding, t.dilation)
        return F.conv2d(hidden, up) * self.scale

    @property
    def fusable(self) -> bool:
        """Plain (non-Tucker) LoRA: several on one module can run as one concatenated call."""
        return self.mid is None
