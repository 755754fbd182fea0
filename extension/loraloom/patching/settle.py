"""Settled hooks: a hooked module whose multipliers stay put runs a merged copy of its weight.

Hooks mode adds every adapter's output at every forward. For a full rank-32 SD1.5 LoRA that is
two small products on each of 264 layers per call — 3–7 % of a generation on a CPU, every
generation, even when nothing changes. So a module whose networks are all steady (no schedule,
no ``start``/``stop``) and whose rows take every adapter builds W₀ + Σ mᵢ·ΔWᵢ once into a
pooled buffer and swaps it in as the parameter's data *for the duration of each forward only*:
the module computes one product, the host's own tensor is never written, and between forwards
(where a host may move, clone, re-patch or save its weights) the parameter holds its original
again. Every forward with the same multipliers uses the same copy, so the same tags give the
same image from the first generation on. A new multiplier, a replaced or rewritten parameter or
another compute dtype makes the copy stale; it is rebuilt at that forward. Copies are bounded by
a byte budget per patch; a layer over budget (or one whose copy could not be built, e.g. out of
memory) keeps adding its adapters' outputs — the same sum.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn

from .merge import Change, merge_into, merged_bias
from .pool import BufferPool

LOG = logging.getLogger("loraloom")

FLOAT_STORAGE = (torch.float32, torch.float16, torch.bfloat16)
"""Weights a merged copy may stand in for; other storages (fp8, packed) keep adding outputs."""

CUDA_RESERVE = 2 * 1024**3
"""Free device memory a merged copy on a GPU must leave for the host's own work."""

MOVES_TOLERATED = 2
"""Rebuilds a layer's copy may need because the host replaced or moved its weight (Forge's
loader, a device move). A host that keeps doing so (A1111's ``--lowvram`` moves blocks between
devices every step) would pay a merge per step: past this many, the layer adds outputs."""


@dataclass
class SettleBudget:
    """How many bytes of merged copies one patch may hold (shared by its modules)."""

    max_bytes: int
    used: int = 0
    refused: int = 0
    """Forwards that added outputs because a copy did not fit (for tests and diagnostics)."""

    def take(self, nbytes: int) -> bool:
        if self.used + nbytes > self.max_bytes:
            self.refused += 1
            return False
        self.used += nbytes
        return True

    def give(self, nbytes: int) -> None:
        self.used = max(0, self.used - nbytes)


def _fits_device(nbytes: int, device: torch.device) -> bool:
    if device.type != "cuda":
        return True
    free, _total = torch.cuda.mem_get_info(device)
    return free - nbytes >= CUDA_RESERVE


class SettledWeight:
    """The merged copy of one module's weight (and bias) for its current multipliers."""

    def __init__(self, module: nn.Module, changes: list[Change], pool: BufferPool, budget: SettleBudget) -> None:
        self.module = module
        self.changes = changes
        self.pool = pool
        self.budget = budget
        self.weight: torch.Tensor | None = None
        self.bias: torch.Tensor | None = None
        self.key: tuple | None = None
        self.failed = False
        self.moves = 0
        self._held = 0
        self._originals: tuple[torch.Tensor, torch.Tensor | None] | None = None

    def swap_in(self, multipliers: tuple[float, ...], compute: torch.dtype) -> bool:
        """Put the merged copy in for this forward (building it when it is missing or stale);
        ``False``: this forward adds the adapters' outputs instead.

        ``compute`` is the dtype of the forward's input. A layer that stores fp16 but computes
        in fp32 (Forge's and reForge's text encoders on a CPU cast per forward) gets an fp32
        copy: rounding W₀ + ΔW to fp16 would be a change of its own, which added outputs never
        make."""
        if self.failed:
            return False
        weight = getattr(self.module, "weight", None)
        if not isinstance(weight, nn.Parameter) or weight.dtype not in FLOAT_STORAGE:
            return False
        dtype = torch.float32 if torch.float32 in (weight.dtype, compute) else weight.dtype
        key = (dtype, *_key(weight, getattr(self.module, "bias", None), multipliers))
        if key != self.key:
            if self.key is not None and self.key[:2] == key[:2]:  # same dtype and multipliers
                self.moves += 1
                if self.moves > MOVES_TOLERATED:
                    self.give_up()
                    return False
            if not self._build(weight, multipliers, dtype):
                return False
            self.key = key
        bias = self.module.bias if self.bias is not None else None
        self._originals = (weight.data, bias.data if bias is not None else None)
        weight.data = self.weight  # type: ignore[assignment]
        if bias is not None:
            bias.data = self.bias  # type: ignore[assignment]
        return True

    def swap_out(self) -> None:
        """Give the parameter its own original back (after the forward, even a failed one)."""
        if self._originals is None:
            return
        weight, bias = self._originals
        self._originals = None
        self.module.weight.data = weight
        if bias is not None:
            self.module.bias.data = bias

    def _build(self, weight: nn.Parameter, multipliers: tuple[float, ...], dtype: torch.dtype) -> bool:
        original = weight.data
        bias = getattr(self.module, "bias", None)
        active = [(c, m) for c, m in zip(self.changes, multipliers, strict=True) if m]
        merges_bias = isinstance(bias, nn.Parameter) and any(c.adapter.delta_bias() is not None for c, _ in active)
        itemsize = torch.empty((), dtype=dtype).element_size()
        nbytes = (original.numel() + (bias.numel() if merges_bias else 0)) * itemsize  # type: ignore[union-attr]
        self.release()
        if not self.budget.take(nbytes):
            return False
        self._held = nbytes
        try:
            if not _fits_device(nbytes, original.device):
                raise torch.OutOfMemoryError(
                    f"{nbytes / 1024**2:.0f} MB would leave too little free on {original.device}"
                )
            self.weight = self.pool.take(original, dtype)
            merge_into(self.weight, original, active)
            self.bias = merged_bias(bias.data, active, dtype) if merges_bias else None  # type: ignore[union-attr]
        except (RuntimeError, MemoryError) as error:  # out of memory: this layer adds outputs instead
            self.give_up(f"no merged copy of a {type(self.module).__name__} layer ({error})")
            return False
        return True

    def give_up(self, why: str | None = None) -> None:
        """From now on this layer adds its adapters' outputs (the same sum); ``why`` is logged."""
        self.release()
        self.failed = True
        if why:
            LOG.warning("loraloom: %s; it adds its LoRAs' outputs instead", why)

    def release(self) -> None:
        """Give the copy's memory back (to the budget, and CPU memory to the pool: a GPU's own
        caching allocator reuses device memory, and a pooled GPU buffer would keep VRAM the
        host means to have free); the next forward re-decides."""
        self.swap_out()
        if self.weight is not None and self.weight.device.type == "cpu":
            self.pool.give(self.weight)
        self.weight = self.bias = None
        self.key = None
        self.budget.give(self._held)
        self._held = 0


def _key(weight: nn.Parameter, bias: object, multipliers: tuple[float, ...]) -> tuple:
    """What the merged copy depends on: the multipliers and the very tensors it was built from
    (a host that replaces a parameter, or rewrites one in place, gets a new copy). Tensors made
    under ``torch.inference_mode`` (Forge loads its weights so) keep no version counter: for
    them only a replaced tensor is seen."""
    parts: list[object] = [multipliers]
    for tensor in (weight, bias):
        if isinstance(tensor, torch.Tensor):
            version = None if tensor.is_inference() else tensor._version
            parts += [id(tensor), tensor.data_ptr(), version, tensor.dtype, tensor.device, tuple(tensor.shape)]
    return tuple(parts)
