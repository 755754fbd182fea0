"""Merge mode: W = W₀ + Σ mᵢ·ΔWᵢ in fp32, with W₀ kept so that restoring is bit-exact.

One :class:`MergedWeight` per patched parameter (an open_clip ``in_proj_weight`` is shared by
its q/k/v slots, each changing its own rows). ΔWᵢ are computed once and cached in fp32, so new
multipliers only re-add cached changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..networks.adapter import Adapter
from .keymap import Slot


@dataclass
class Change:
    adapter: Adapter
    slot: Slot
    multiplier: Callable[[], float]
    _delta: torch.Tensor | None = None
    _delta_multiplier: float | None = None

    def delta(self, multiplier: float) -> torch.Tensor:
        """ΔW at ``multiplier`` (cached at 1 for linear kinds, per multiplier for BOFT)."""
        if self.adapter.linear_in_multiplier:
            if self._delta is None:
                self._delta = self.adapter.delta_weight(self.slot.weight[self.slot.rows].detach())
            return self._delta * multiplier
        if self._delta is None or self._delta_multiplier != multiplier:
            self._delta = self.adapter.delta_weight(self.slot.weight[self.slot.rows].detach(), multiplier)
            self._delta_multiplier = multiplier
        return self._delta


@dataclass
class MergedWeight:
    """One parameter (and its bias) with the changes merged into it."""

    weight: torch.Tensor
    bias: torch.Tensor | None
    changes: list[Change] = field(default_factory=list)
    original: torch.Tensor | None = None
    original_bias: torch.Tensor | None = None
    applied: tuple[float, ...] | None = None

    def apply(self) -> None:
        multipliers = tuple(change.multiplier() for change in self.changes)
        if multipliers == self.applied:
            return
        if self.original is None:
            self.original = self.weight.detach().clone()
            if self.bias is not None:
                self.original_bias = self.bias.detach().clone()
        merged = self.original.to(torch.float32, copy=True)
        merged_bias = self.original_bias.to(torch.float32, copy=True) if self.original_bias is not None else None
        for change, multiplier in zip(self.changes, multipliers, strict=True):
            if multiplier == 0:
                continue
            rows = change.slot.rows
            merged[rows] += change.delta(multiplier).to(merged.device)
            delta_bias = change.adapter.delta_bias()
            if delta_bias is not None and merged_bias is not None:
                merged_bias[rows] += delta_bias.reshape(-1).to(merged_bias.device) * multiplier
        with torch.no_grad():
            self.weight.copy_(merged.to(self.weight.dtype))
            if merged_bias is not None and self.bias is not None:
                self.bias.copy_(merged_bias.to(self.bias.dtype))
        self.applied = multipliers

    def restore(self) -> None:
        """Put the original values back, bit for bit."""
        if self.original is None:
            return
        with torch.no_grad():
            self.weight.copy_(self.original)
            if self.original_bias is not None and self.bias is not None:
                self.bias.copy_(self.original_bias)
        self.original = self.original_bias = None
        self.applied = None

    def drop_cache(self) -> None:
        for change in self.changes:
            change._delta = None
