"""Hooks mode ("on the fly"): module weights stay untouched; each patched module adds its
adapters' outputs in a forward hook.

Plain LoRAs on one module run as one fused call: their downs and ups are concatenated once and
every LoRA's scale × multiplier is folded into the columns of the small concatenated ``up``
(out × total rank), so a weight change rebuilds only that; the product is accumulated into the
module's output in place. Per-row factors (some rows only) take a slower, still fused path.
Other kinds add ``delta_output`` (ΔW cached where they need it).
``MultiheadAttention`` (open_clip text encoders) reads its weights directly, so its slots are
merged for the duration of each forward and restored bit for bit right after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..kinds import kind_named
from ..networks.adapter import Adapter, TargetInfo
from ..networks.lora import LoRA
from .merge import Change, MergedWeight
from .pool import BufferPool
from .settle import SettleBudget, SettledWeight

Multiplier = Callable[[], float]


@dataclass
class _Fused:
    """Several plain LoRAs of one module as one down/up pair."""

    adapters: list[LoRA]
    multipliers: list[Multiplier]
    down: torch.Tensor
    up: torch.Tensor
    ranks: list[int]
    _scaled: torch.Tensor | None = None
    _key: tuple[float, ...] | None = None
    _down_cast: torch.Tensor | None = None

    @classmethod
    def of(cls, adapters: list[LoRA], multipliers: list[Multiplier]) -> _Fused:
        down = torch.cat([a.down for a in adapters], dim=0)
        up = torch.cat([a.up for a in adapters], dim=1)
        return cls(adapters, multipliers, down, up, [a.down.shape[0] for a in adapters])

    def scaled_up(self, dtype: torch.dtype) -> torch.Tensor | None:
        """``up`` with each LoRA's scale × multiplier folded into its columns (rebuilt on change)."""
        key = tuple(m() for m in self.multipliers)
        if not any(key):
            return None
        if key != self._key or self._scaled is None or self._scaled.dtype != dtype:
            parts = [
                torch.full((rank,), a.scale * m, device=self.down.device)
                for a, m, rank in zip(self.adapters, key, self.ranks, strict=True)
            ]
            coefficients = torch.cat(parts)
            shape = (1, -1, 1, 1) if self.up.dim() == 4 else (1, -1)
            self._scaled, self._key = (self.up * coefficients.reshape(shape)).to(dtype), key
        return self._scaled

    def down_as(self, dtype: torch.dtype) -> torch.Tensor:
        if self._down_cast is None or self._down_cast.dtype != dtype:
            self._down_cast = self.down.to(dtype)
        return self._down_cast

    def accumulate(self, x: torch.Tensor, out: torch.Tensor, target: TargetInfo, rows: RowFactors = None) -> None:
        """``out += up·diag(s·m)·down(x)``, the last product accumulated in place.

        ``rows`` gives some LoRAs a factor per batch row (e.g. only the unconditional rows).
        """
        factors = [rows(a) for a in self.adapters] if rows is not None else []
        if any(f is not None for f in factors):
            # a factor list that does not fit this batch means "not these rows"
            fitted = [f if f is None or f.shape[0] == x.shape[0] else torch.zeros(x.shape[0]) for f in factors]
            self._accumulate_per_row(x, out, target, fitted)
            return
        up = self.scaled_up(out.dtype)
        if up is None:
            return
        down = self.down_as(x.dtype)
        if target.kind == "conv":
            hidden = F.conv2d(x, down, None, target.stride, target.padding, target.dilation)
            out.add_(F.conv2d(hidden.to(out.dtype), up))
            return
        _add_linear(out, F.linear(x, down).to(out.dtype), up)

    def _accumulate_per_row(
        self, x: torch.Tensor, out: torch.Tensor, target: TargetInfo, factors: list[torch.Tensor | None]
    ) -> None:
        batch = x.shape[0]
        columns = []
        for adapter, multiplier, rank, factor in zip(self.adapters, self.multipliers, self.ranks, factors, strict=True):
            per_row = factor.to(x.device, torch.float32) if factor is not None else torch.ones(batch, device=x.device)
            columns.append((per_row * (adapter.scale * multiplier()))[:, None].expand(batch, rank))
        coefficients = torch.cat(columns, dim=1).to(out.dtype)
        down, up = self.down_as(x.dtype), self.up.to(out.dtype)
        if target.kind == "conv":
            hidden = F.conv2d(x, down, None, target.stride, target.padding, target.dilation).to(out.dtype)
            out.add_(F.conv2d(hidden * coefficients[:, :, None, None], up))
            return
        hidden = F.linear(x, down).to(out.dtype)
        _add_linear(out, hidden * coefficients.reshape(batch, *([1] * (hidden.dim() - 2)), -1), up)


def _add_linear(out: torch.Tensor, hidden: torch.Tensor, up: torch.Tensor) -> None:
    """``out += hidden·upᵀ`` in place: one fused ``addmm`` where ``out`` is contiguous, else an add
    that keeps ``out``'s own layout (the host's strides are not ours to change)."""
    if out.is_contiguous():
        out.view(-1, out.shape[-1]).addmm_(hidden.reshape(-1, hidden.shape[-1]), up.t())
    else:
        out.add_(F.linear(hidden, up))


RowFactors = Callable[[Adapter], "torch.Tensor | None"] | None


@dataclass
class Settling:
    """Where a patch's settled copies come from (see :mod:`.settle`)."""

    pool: BufferPool
    budget: SettleBudget


class ModuleHook:
    """The forward hook of one Linear/Conv2d/GroupNorm/LayerNorm with its adapters.

    With ``settling``, a forward of steady networks (``steady()``: no schedule, no bounds) whose
    rows all take every adapter runs a merged copy of the weight instead of adding outputs.
    """

    def __init__(
        self,
        module: nn.Module,
        target: TargetInfo,
        rows: RowFactors = None,
        settling: Settling | None = None,
        steady: Callable[[], bool] = lambda: True,
    ) -> None:
        self.module = module
        self.target = target
        self.rows = rows
        self.settling = settling
        self.steady = steady
        self.fused: list[_Fused] = []
        self.others: list[Change] = []
        self.settled: SettledWeight | None = None
        self.handle: torch.utils.hooks.RemovableHandle | None = None
        self._settle_handles: list[torch.utils.hooks.RemovableHandle] = []
        self._settled_now = False

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
        if self.settling is not None:
            changes = [change for _, _, change in adapters]
            self.settled = SettledWeight(self.module, changes, self.settling.pool, self.settling.budget)
            self._settle_handles = [
                self.module.register_forward_pre_hook(self._before),
                # prepended and always called: copies of several patches unwind last in, first out
                self.module.register_forward_hook(self._after, prepend=True, always_call=True),
            ]

    def _before(self, module: nn.Module, inputs: tuple) -> None:
        self._settled_now = False
        if self.settled is None or torch.is_grad_enabled() or not self.steady():
            return
        changes = self.settled.changes
        if self.rows is not None and any(self.rows(change.adapter) is not None for change in changes):
            return  # some rows only: their outputs are added per row
        multipliers = tuple(change.multiplier() for change in changes)
        if not any(multipliers):
            return
        try:
            self._settled_now = self.settled.swap_in(multipliers, _compute_dtype(inputs))
        except Exception as error:  # never the generation's end: this layer adds outputs from now on
            self.settled.give_up(f"merged copies off for a {type(module).__name__} layer ({error})")

    def _after(self, module: nn.Module, inputs: tuple, output: object) -> None:
        if self.settled is not None:
            self.settled.swap_out()

    def _hook(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        if self._settled_now:  # the merged copy already gave this output
            self._settled_now = False
            return output
        if not self.active():
            return output
        x = inputs[0]
        # In inference the module's fresh output is accumulated into in place, in its own memory
        # layout (a conv fed a permuted view answers channels-last; the layers after it are the
        # host's business); with autograd recording (training) a copy keeps the graph correct.
        out = output if not (torch.is_grad_enabled() and output.requires_grad) else output.clone()
        for fused in self.fused:
            fused.accumulate(x, out, self.target, self.rows)
        for change in self.others:
            multiplier = change.multiplier()
            if multiplier != 0:
                change_out = _change_output(change, x, module.weight.detach(), multiplier).to(out.dtype)
                factor = self.rows(change.adapter) if self.rows is not None else None
                if factor is not None:
                    if factor.shape[0] != change_out.shape[0]:
                        continue  # not these rows
                    change_out = change_out * factor.to(change_out).reshape(-1, *([1] * (change_out.dim() - 1)))
                out.add_(change_out)
        return out

    def active(self) -> bool:
        return any(m() for fused in self.fused for m in fused.multipliers) or any(c.multiplier() for c in self.others)

    def detach(self) -> None:
        if self.handle is not None:
            self.handle.remove()
            self.handle = None
        for handle in self._settle_handles:
            handle.remove()
        self._settle_handles.clear()
        if self.settled is not None:
            self.settled.release()
            self.settled = None
        self.fused.clear()
        self.others.clear()


def _compute_dtype(inputs: tuple) -> torch.dtype:
    """The dtype the layer will compute in: autocast's where it is on (A1111 on a GPU casts fp32
    inputs to fp16 there), else the input's."""
    x = inputs[0] if inputs else None
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        return torch.float32
    return _autocast_dtype(x.device.type) or x.dtype


def _autocast_dtype(device: str) -> torch.dtype | None:
    try:
        return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None
    except (TypeError, AttributeError):  # torch < 2.4 (A1111 v1.10.1 installs 2.1): per-device calls
        if device == "cuda" and torch.is_autocast_enabled():
            return torch.get_autocast_gpu_dtype()
        if device == "cpu" and torch.is_autocast_cpu_enabled():
            return torch.get_autocast_cpu_dtype()
        return None


def _change_output(change: Change, x: torch.Tensor, weight: torch.Tensor, multiplier: float) -> torch.Tensor:
    """One non-fused adapter's output change at ``multiplier``."""
    adapter = change.adapter
    if kind_named(adapter.kind).forward_without_delta:
        return adapter.delta_output(x, weight) * multiplier
    if adapter.linear_in_multiplier:
        return adapter.delta_output(x, weight, change.delta(1.0, weight)) * multiplier
    return adapter.delta_output(x, weight, change.delta(multiplier, weight))


class AttentionHook:
    """An open_clip ``MultiheadAttention``: its slots merged around each forward.

    The merge nests over whatever weights it finds (another patch's merge included) and is
    undone after the forward even when the forward raises. The restoring hook goes *before*
    earlier ones, so several patches on one MHA unwind in reverse order (last in, first out).
    """

    def __init__(self, module: nn.MultiheadAttention, weights: list[MergedWeight]) -> None:
        self.module = module
        self.weights = weights
        self.handles: list[torch.utils.hooks.RemovableHandle] = []

    def attach(self) -> None:
        self.handles.append(self.module.register_forward_pre_hook(self._before))
        self.handles.append(self.module.register_forward_hook(self._after, prepend=True, always_call=True))

    def _before(self, module: nn.Module, inputs: tuple) -> None:
        try:
            for weight in self.weights:
                weight.apply()
        except BaseException:
            self._after(module, inputs, None)
            raise

    def _after(self, module: nn.Module, inputs: tuple, output: object) -> None:
        for weight in reversed(self.weights):
            weight.restore()

    def detach(self) -> None:
        for handle in self.handles:
            handle.remove()
        for weight in self.weights:
            weight.restore()
            weight.drop_cache()
        self.handles.clear()
