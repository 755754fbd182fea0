"""Hooks mode ("on the fly"): module weights stay untouched; each patched module adds its
adapters' outputs in a forward hook.

Plain LoRAs on one module run as one fused call: their downs and ups are concatenated once and
a per-rank coefficient vector carries every LoRA's scale × multiplier, so a weight change only
rebuilds that small vector. Other kinds add ``delta_output`` (ΔW cached where they need it).
``MultiheadAttention`` (open_clip text encoders) reads its weights directly, so its slots are
merged for the duration of each forward and restored bit for bit right after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..networks.adapter import Adapter, TargetInfo
from ..networks.full import Norm
from ..networks.ia3 import IA3
from ..networks.lora import LoRA
from .merge import Change, MergedWeight

Multiplier = Callable[[], float]


@dataclass
class _Fused:
    """Several plain LoRAs of one module as one down/up pair."""

    adapters: list[LoRA]
    multipliers: list[Multiplier]
    down: torch.Tensor
    up: torch.Tensor
    ranks: list[int]
    _coefficients: torch.Tensor | None = None
    _key: tuple[float, ...] | None = None
    _cast: dict[torch.dtype, tuple[torch.Tensor, torch.Tensor]] | None = None

    @classmethod
    def of(cls, adapters: list[LoRA], multipliers: list[Multiplier]) -> _Fused:
        down = torch.cat([a.down for a in adapters], dim=0)
        up = torch.cat([a.up for a in adapters], dim=1)
        return cls(adapters, multipliers, down, up, [a.down.shape[0] for a in adapters])

    def coefficients(self, dtype: torch.dtype) -> torch.Tensor | None:
        key = tuple(m() for m in self.multipliers)
        if not any(key):
            return None
        if key != self._key or self._coefficients is None or self._coefficients.dtype != dtype:
            parts = [
                torch.full((rank,), a.scale * m, device=self.down.device)
                for a, m, rank in zip(self.adapters, key, self.ranks, strict=True)
            ]
            self._coefficients, self._key = torch.cat(parts).to(dtype), key
        return self._coefficients

    def weights(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        self._cast = self._cast or {}
        if dtype not in self._cast:
            self._cast[dtype] = (self.down.to(dtype), self.up.to(dtype))
        return self._cast[dtype]

    def output(self, x: torch.Tensor, target: TargetInfo) -> torch.Tensor | None:
        coefficients = self.coefficients(x.dtype)
        if coefficients is None:
            return None
        down, up = self.weights(x.dtype)
        if target.kind == "conv":
            hidden = F.conv2d(x, down, None, target.stride, target.padding, target.dilation)
            return F.conv2d(hidden * coefficients.view(1, -1, 1, 1), up)
        return F.linear(F.linear(x, down) * coefficients, up)


class ModuleHook:
    """The forward hook of one Linear/Conv2d/GroupNorm/LayerNorm with its adapters."""

    def __init__(self, module: nn.Module, target: TargetInfo) -> None:
        self.module = module
        self.target = target
        self.fused: list[_Fused] = []
        self.others: list[Change] = []
        self.handle: torch.utils.hooks.RemovableHandle | None = None

    def attach(self, adapters: list[tuple[Adapter, Multiplier, Change]]) -> None:
        groups: dict[tuple[int, ...], tuple[list[LoRA], list[Multiplier]]] = {}
        for adapter, multiplier, change in adapters:
            if isinstance(adapter, LoRA) and adapter.fusable:
                key = tuple(adapter.down.shape[2:])
                groups.setdefault(key, ([], []))
                groups[key][0].append(adapter)
                groups[key][1].append(multiplier)
            else:
                self.others.append(change)
        self.fused = [_Fused.of(loras, multipliers) for loras, multipliers in groups.values()]
        self.handle = self.module.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        x = inputs[0]
        total = None
        for fused in self.fused:
            change = fused.output(x, self.target)
            if change is not None:
                total = change if total is None else total + change
        for change in self.others:
            multiplier = change.multiplier()
            if multiplier != 0:
                out = _change_output(change, x, module.weight.detach(), multiplier)
                total = out if total is None else total + out
        if total is None:
            return output
        return output + total.to(output.dtype)

    def detach(self) -> None:
        if self.handle is not None:
            self.handle.remove()
            self.handle = None
        self.fused.clear()
        self.others.clear()


def _change_output(change: Change, x: torch.Tensor, weight: torch.Tensor, multiplier: float) -> torch.Tensor:
    """One non-fused adapter's output change at ``multiplier``."""
    adapter = change.adapter
    if isinstance(adapter, LoRA | IA3 | Norm):  # their own paths need no ΔW
        return adapter.delta_output(x, weight) * multiplier
    if adapter.linear_in_multiplier:
        return adapter.delta_output(x, weight, change.delta(1.0)) * multiplier
    return adapter.delta_output(x, weight, change.delta(multiplier))


class AttentionHook:
    """An open_clip ``MultiheadAttention``: its slots merged around each forward."""

    def __init__(self, module: nn.MultiheadAttention, weights: list[MergedWeight]) -> None:
        self.module = module
        self.weights = weights
        self.handles = [
            module.register_forward_pre_hook(self._before),
            module.register_forward_hook(self._after),
        ]

    def _before(self, module: nn.Module, inputs: tuple) -> None:
        for weight in self.weights:
            weight.apply()

    def _after(self, module: nn.Module, inputs: tuple, output: object) -> None:
        for weight in self.weights:
            weight.restore()

    def detach(self) -> None:
        for handle in self.handles:
            handle.remove()
        for weight in self.weights:
            weight.restore()
            weight.drop_cache()
        self.handles.clear()
