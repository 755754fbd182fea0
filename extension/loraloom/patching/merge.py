"""Merge mode: W = W₀ + Σ mᵢ·ΔWᵢ computed in fp32, restored bit for bit.

The merged weight goes into a pooled buffer that replaces the parameter's data; the original
tensor is never written and is put back on restore, so restoring is O(1) per module and exact
by construction (the very same bits). A plain LoRA merges with one fused multiply-add
(``addmm``: W₀ + (m·s·up)·down) without materialising ΔW; other kinds add their ΔW, which is
cached within a byte budget so re-applying other weights only re-adds it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..networks.adapter import Adapter
from ..networks.lora import LoRA
from .keymap import Slot
from .ownership import claim, release
from .pool import BufferPool


@dataclass
class DeltaBudget:
    """How many bytes of cached ΔW a patch may keep (shared by all its changes)."""

    max_bytes: int
    used: int = 0

    def fits(self, numel: int) -> bool:
        return self.used + numel * 4 <= self.max_bytes

    def take(self, tensor: torch.Tensor) -> bool:
        size = tensor.numel() * tensor.element_size()
        if self.used + size > self.max_bytes:
            return False
        self.used += size
        return True


@dataclass
class Change:
    adapter: Adapter
    slot: Slot
    multiplier: Callable[[], float]
    budget: DeltaBudget | None = None
    _delta: torch.Tensor | None = None
    _delta_multiplier: float | None = None
    _merged_before: bool = False

    def delta(self, multiplier: float, base: torch.Tensor) -> torch.Tensor:
        """ΔW (fp32) against the unpatched weight ``base`` (the whole parameter): at multiplier
        1 for kinds linear in it, else at ``multiplier`` (BOFT)."""
        wanted = 1.0 if self.adapter.linear_in_multiplier else multiplier
        if self._delta is not None and self._delta_multiplier == wanted:
            return self._delta
        delta = self.adapter.delta_weight(base[self.slot.rows].detach(), wanted)
        if self.budget is None or self.budget.take(delta):
            self._delta, self._delta_multiplier = delta, wanted
        return delta

    def add_into(self, out: torch.Tensor, multiplier: float, base: torch.Tensor, first: bool) -> None:
        """``out[rows] (+)= m·ΔW``: ``first`` means ``out`` still has to receive ``base`` too.

        A plain LoRA is one fused multiply-add (``addmm``) and never materialises ΔW.
        """
        rows = self.slot.rows
        adapter = self.adapter
        whole = rows == slice(None)
        if first and not whole:
            out.copy_(base)
            first = False
        target = out[rows]
        # The first merge runs on the factors; a re-merge caches ΔW (when the budget allows) so
        # that later weight changes are one add instead of a rank-r product.
        cache_now = self._merged_before and self.budget is not None and self.budget.fits(target.numel())
        self._merged_before = True
        if isinstance(adapter, LoRA) and adapter.mid is None and self._delta is None and not cache_now:
            up = adapter.up.flatten(1) * (adapter.scale * multiplier)
            down = adapter.down.flatten(1)
            flat = target.view(up.shape[0], -1)
            if first:
                torch.addmm(base.reshape(flat.shape), up, down, out=flat)
            else:
                flat.addmm_(up, down)
            return
        delta = self.delta(multiplier, base).reshape(target.shape)
        scale = multiplier if adapter.linear_in_multiplier else 1.0
        if first:
            torch.add(base, delta, alpha=scale, out=target)
        else:
            target.add_(delta, alpha=scale)


def merge_into(buffer: torch.Tensor, original: torch.Tensor, active: list[tuple[Change, float]]) -> None:
    """``buffer ← W₀ + Σ mᵢ·ΔWᵢ`` (``active`` non-empty): fp32 arithmetic, cast to the buffer's dtype."""
    fp32 = buffer.dtype == torch.float32
    accumulator = buffer if fp32 else torch.empty(original.shape, dtype=torch.float32, device=original.device)
    base = original.float()  # no copy when it is fp32 already
    for index, (change, multiplier) in enumerate(active):
        change.add_into(accumulator, multiplier, base, first=index == 0)
    if not fp32:
        buffer.copy_(accumulator)


def merged_bias(
    original: torch.Tensor, active: list[tuple[Change, float]], dtype: torch.dtype | None = None
) -> torch.Tensor | None:
    """``b₀ + Σ mᵢ·Δbᵢ`` as ``dtype`` (default: the original's); ``None`` when no change has a bias."""
    merged = None
    for change, multiplier in active:
        delta_bias = change.adapter.delta_bias()
        if delta_bias is not None:
            if merged is None:
                merged = original.to(torch.float32, copy=True)
            merged[change.slot.rows] += delta_bias.reshape(-1) * multiplier
    return merged.to(dtype or original.dtype) if merged is not None else None


@dataclass(eq=False)
class MergedWeight:
    """One parameter (and its bias) with changes merged into it.

    The parameter's data is swapped between its original tensor (never written) and a merged
    buffer from the pool, so restoring is O(1) and gives back the very same bits.

    An ``exclusive`` merge (merge mode) claims the parameter from the first :meth:`apply` to
    :meth:`restore`: a second exclusive merge of it raises :class:`PatchConflict`. A
    non-exclusive one (an MHA merged for one forward in hooks mode) nests over whatever data it
    finds and must be restored before anything under it changes (last in, first out).
    A failing :meth:`apply` puts the original back before it raises, so the parameter is never
    left half-merged.
    """

    weight: torch.nn.Parameter
    bias: torch.nn.Parameter | None
    pool: BufferPool
    changes: list[Change] = field(default_factory=list)
    original: torch.Tensor | None = None
    original_bias: torch.Tensor | None = None
    buffer: torch.Tensor | None = None
    applied: tuple[float, ...] | None = None
    exclusive: bool = True
    name: str = ""
    """``part:path`` of the parameter, for error messages."""

    def claim(self) -> None:
        """Become the parameter's merge owner (exclusive merges; idempotent)."""
        if self.exclusive:
            claim(self.weight, self, self.name)

    def apply(self) -> None:
        multipliers = tuple(change.multiplier() for change in self.changes)
        if multipliers == self.applied:
            return
        if self.original is None:
            self.claim()
            self.original = self.weight.data
            self.original_bias = self.bias.data if self.bias is not None else None
        try:
            self._merge(multipliers)
        except BaseException:
            self.restore()
            raise

    def _merge(self, multipliers: tuple[float, ...]) -> None:
        active = [(c, m) for c, m in zip(self.changes, multipliers, strict=True) if m != 0]
        if not active:
            self._use_original()
            self.applied = multipliers
            return
        original = self.original
        assert original is not None
        if self.buffer is None:
            self.buffer = self.pool.take(original)
        merge_into(self.buffer, original, active)
        self.weight.data = self.buffer
        self._merge_bias(active)
        self.applied = multipliers

    def _merge_bias(self, active: list[tuple[Change, float]]) -> None:
        if self.bias is None or self.original_bias is None:
            return
        merged = merged_bias(self.original_bias, active)
        self.bias.data = merged if merged is not None else self.original_bias

    def _use_original(self) -> None:
        assert self.original is not None
        self.weight.data = self.original
        if self.bias is not None and self.original_bias is not None:
            self.bias.data = self.original_bias
        if self.buffer is not None:
            self.pool.give(self.buffer)
            self.buffer = None

    def restore(self) -> None:
        """Put the original tensors back: the very same bits, no copy; release the claim."""
        if self.original is not None:
            self._use_original()
            self.original = self.original_bias = None
            self.applied = None
        if self.exclusive:
            release(self.weight, self)

    def drop_cache(self) -> None:
        for change in self.changes:
            change._delta = None
