"""DoRA: weight-decomposed LoRA (also on LoHa/LoKr), wrapping the base kind's ΔW.

W' = dora_scale · (W + ΔW) / ‖W + ΔW‖, the norm taken per output row when ``dora_scale`` is
[out, 1, …] (LyCORIS ``wd_on_out``, PEFT) or per input column when it is [1, in, …] (older
LyCORIS, A1111) — told apart by shape. The prompt weight m scales the change: ΔW_eff = m·(W' − W),
as A1111 and ComfyUI apply it (at m = 1 every tool agrees).
"""

from __future__ import annotations

import torch

from .adapter import Adapter


class DoRA(Adapter):
    kind = "dora"
    needs_weight = True

    def __init__(self, base: Adapter, dora_scale: torch.Tensor) -> None:
        super().__init__(base.target)
        self.base = base
        shape = base.target.weight_shape
        self.per_output = dora_scale.shape[0] == shape[0] and dora_scale.numel() == shape[0]
        self.dora_scale = dora_scale.reshape(
            (shape[0],) + (1,) * (len(shape) - 1) if self.per_output else (1, shape[1]) + (1,) * (len(shape) - 2)
        )

    def delta_weight(self, weight: torch.Tensor, multiplier: float = 1.0) -> torch.Tensor:
        original = weight.float()
        merged = original + self.base.delta_weight(weight)
        if self.per_output:
            norm = merged.reshape(merged.shape[0], -1).norm(dim=1).reshape(self.dora_scale.shape)
        else:
            norm = merged.transpose(0, 1).reshape(merged.shape[1], -1).norm(dim=1).reshape(self.dora_scale.shape)
        decomposed = merged * (self.dora_scale / (norm + torch.finfo(torch.float32).eps))
        return (decomposed - original) * multiplier

    @property
    def convention(self) -> str | None:  # type: ignore[override]
        return self.base.convention

    def tensors(self) -> list[torch.Tensor]:
        return [*self.base.tensors(), self.dora_scale]
