"""``apply()`` and ``Patch``: networks on a model's modules, removable exactly.

The patch owns all its state (hooks, backups, cached changes); nothing is global. Multipliers
are evaluated per network (two floats: text encoder and UNet) whenever weights or progress
change; every module reads them through small closures, so a change costs O(#networks) and no
tensor work in hooks mode.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..kinds import kind_named
from ..networks.adapter import TargetInfo
from ..networks.build import BadTensors, build_adapter, reads_layer_weight
from ..networks.network import NetworkModule
from ..syntax import Tag
from .binding import TORCH, Binding
from .hooks import AttentionHook, ModuleHook, Settling
from .keymap import KeyMap, Slot
from .merge import Change, DeltaBudget, MergedWeight
from .ownership import PatchError, PatchFailed
from .pool import BufferPool
from .settle import SettleBudget
from .specs import NetworkInput, NetworkSpec, to_spec

MODES = ("hooks", "merge")


@dataclass
class NetworkReport:
    """What became of one network: which keys landed where, which did not and why."""

    name: str
    path: str
    family: str
    matched: dict[str, str] = field(default_factory=dict)
    unmatched: dict[str, str] = field(default_factory=dict)
    skipped: str | None = None
    problems: list[str] = field(default_factory=list)
    conventions: list[str] = field(default_factory=list)
    """How a kind with several historical readings was read (legacy OFT, LyCORIS-1 GLoRA)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "family": self.family,
            "skipped": self.skipped,
            "matched": self.matched,
            "unmatched": self.unmatched,
            "problems": self.problems,
            "conventions": self.conventions,
        }

    @property
    def messages(self) -> list[str]:
        """One line per problem, for an infotext or a console."""
        lines = [f"{self.name}: {self.skipped}"] if self.skipped else []
        if self.unmatched and not self.skipped:
            reasons = sorted(set(self.unmatched.values()))
            lines.append(f"{self.name}: {len(self.unmatched)} keys not applied ({'; '.join(reasons)})")
        return lines + [f"{self.name}: {problem}" for problem in self.problems]


@dataclass
class _Contribution:
    spec: int
    text_encoder: bool
    block_factor: float
    slot: Slot
    change: Change


class Patch:
    """Networks applied to a model. Use as a context manager, or call :meth:`remove`.

    Not for concurrent use: one thread at a time calls a patch's methods, and no forward of the
    model runs meanwhile. Patches of one model may be applied and removed from several threads
    and in any order: hooks add up, and a parameter is merged by at most one patch
    (:class:`PatchConflict` otherwise), so every removal order restores the original bits.
    """

    def __init__(
        self,
        keymap: KeyMap,
        specs: list[NetworkSpec],
        mode: str,
        delta_cache_bytes: int = 0,
        pool: BufferPool | None = None,
        settle_bytes: int = 0,
    ) -> None:
        self.keymap = keymap
        self.pool = pool or BufferPool()
        self._own_pool = pool is None
        self.specs = specs
        self.mode = mode
        self.reports: list[NetworkReport] = []
        self.total_steps = 1
        self.step = 0.0
        self._multipliers: list[tuple[float, float]] = [(0.0, 0.0)] * len(specs)
        self._contributions: list[_Contribution] = []
        self._hooks: list[ModuleHook] = []
        self._attention: list[AttentionHook] = []
        self._merged: list[MergedWeight] = []
        self._removed = False
        self._row_factors: dict[tuple[str, int], torch.Tensor] = {}
        self._gates: dict[int, tuple[float, float]] = {}
        self._adapter_network: dict[int, int] = {}
        # merge mode keeps ΔW for re-applications within this budget; hooks mode keeps the ΔW
        # of the (few) kinds that need one, since it would otherwise be rebuilt every forward
        self._budget = DeltaBudget(delta_cache_bytes) if mode == "merge" else None
        # hooks mode: merged copies for modules of steady networks (bounded; 0 = none)
        self._settle = SettleBudget(settle_bytes) if mode == "hooks" and settle_bytes > 0 else None

    # -- building -------------------------------------------------------------------------------

    def _build(self) -> None:
        family = self.keymap.model_family()
        for index, spec in enumerate(self.specs):
            self.reports.append(self._build_network(index, spec, family))
        self._evaluate()
        if self.mode == "hooks":
            self._attach_hooks()
        else:
            self._attach_merge()

    def _build_network(self, index: int, spec: NetworkSpec, family: str | None) -> NetworkReport:
        network = spec.network
        network_family = network.family()
        report = NetworkReport(spec.name or network.name, network.path, network_family)
        for key in network.unmatched_keys:
            report.unmatched[key] = "not a key of any known LoRA kind"
        if family and network_family not in ("unknown", family):
            report.skipped = f"is a {network_family} LoRA but the model is {family}; skipped"
            return report
        factors, problem = spec.block_factors(family)
        if problem:
            report.problems.append(problem)
        contributions = []
        try:
            for stem, module in network.modules.items():
                slot = self.keymap.find(stem)
                if slot is None:
                    part = module.part
                    passed = part in self.keymap.parts
                    report.unmatched[stem] = (
                        "no module of the model has this name" if passed else f"{part} was not given"
                    )
                    continue
                host = slot.module
                if slot.problem:
                    report.unmatched[stem] = f"{slot.part}:{slot.path}: {slot.problem}"
                    continue
                refused = self._refused_by_packed_weight(slot, module)
                if refused:
                    report.unmatched[stem] = f"{slot.part}:{slot.path}: {refused}"
                    continue
                if slot.mha_slice:
                    target = TargetInfo(slot.weight_shape, "linear", has_bias=slot.bias is not None)
                else:
                    target = self.keymap.binding.target_info(host)
                adapter = build_adapter(network, module, target, host, slot.weight.device, spec.dyn)
                if adapter.convention and adapter.convention not in report.conventions:
                    report.conventions.append(adapter.convention)
                if adapter.delta_bias() is not None and slot.bias is None:
                    report.problems.append(f"{stem}: a bias change for a module without bias is ignored")
                block = (module.block or "") if factors is not None else ""
                factor = factors.get(block, 0.0) if factors is not None else 1.0
                text_encoder = slot.part != "unet"
                contribution = _Contribution(index, text_encoder, factor, slot, None)  # type: ignore[arg-type]
                contribution.change = Change(adapter, slot, self._multiplier_of(contribution), self._budget)
                self._adapter_network[id(adapter)] = index
                contributions.append(contribution)
                report.matched[stem] = f"{slot.part}:{slot.path}" + (f"[{slot.mha_slice}]" if slot.mha_slice else "")
        except BadTensors as error:
            report.skipped = f"cannot be applied: {error}; skipped"
            report.matched.clear()
            return report
        if not contributions:
            report.skipped = report.skipped or "no key of this file matches the model; skipped"
        self._contributions.extend(contributions)
        return report

    def _refused_by_packed_weight(self, slot: Slot, module: NetworkModule) -> str | None:
        """Why a layer with a packed (quantized) weight cannot take this module, if it cannot:
        hooks mode adds outputs that never read the weight; merging and some kinds need it."""
        packed = self.keymap.binding.packed(slot.module) if slot.mha_slice is None else None
        if not packed:
            return None
        if self.mode == "merge":
            return f"its weight is stored packed ({packed}): it cannot be merged into; use hooks mode"
        if reads_layer_weight(module):
            kind = "DoRA" if module.dora else kind_named(module.kind).label
            return f"its weight is stored packed ({packed}) and {kind} reads the layer's own weight; skipped"
        return None

    def _multiplier_of(self, contribution: _Contribution):  # type: ignore[no-untyped-def]
        def multiplier() -> float:
            te, unet = self._multipliers[contribution.spec]
            return (te if contribution.text_encoder else unet) * contribution.block_factor

        return multiplier

    def _by_weight(self, contributions: list[_Contribution], *, exclusive: bool) -> list[MergedWeight]:
        """One MergedWeight per parameter (an MHA's q/k/v slots share ``in_proj_weight``)."""
        merged: dict[int, MergedWeight] = {}
        for contribution in contributions:
            slot = contribution.slot
            weight = slot.weight
            if id(weight) not in merged:
                parameter = {None: "weight", "out_proj": "out_proj.weight"}.get(slot.mha_slice, "in_proj_weight")
                name = f"{slot.part}:{slot.path}.{parameter}"
                merged[id(weight)] = MergedWeight(weight, slot.bias, self.pool, exclusive=exclusive, name=name)
            merged[id(weight)].changes.append(contribution.change)
        return list(merged.values())

    def _attach_merge(self) -> None:
        self._merged = self._by_weight(self._contributions, exclusive=True)
        for weight in self._merged:  # claim them all first: a conflict costs no arithmetic
            weight.claim()
        for weight in self._merged:
            weight.apply()

    def _attach_hooks(self) -> None:
        by_module: dict[int, list[_Contribution]] = {}
        attention: dict[int, list[_Contribution]] = {}
        for contribution in self._contributions:
            bucket = attention if contribution.slot.mha_slice else by_module
            bucket.setdefault(id(contribution.slot.module), []).append(contribution)
        for contributions in by_module.values():
            module = contributions[0].slot.module
            part = "unet" if contributions[0].slot.part == "unet" else "te"
            target = self.keymap.binding.target_info(module)
            settling = None
            if self._settle is not None and not self.keymap.binding.packed(module):
                settling = Settling(self.pool, self._settle)
            networks = tuple({c.spec for c in contributions})
            rows = functools.partial(self._rows_of, part)
            hook = ModuleHook(module, target, rows, settling, functools.partial(self._steady_of, networks))
            self._hooks.append(hook)  # before attaching: a failure part way is still detached
            hook.attach([(c.change.adapter, c.change.multiplier, c.change) for c in contributions])
        for contributions in attention.values():
            module = contributions[0].slot.module
            attention_hook = AttentionHook(module, self._by_weight(contributions, exclusive=False))
            self._attention.append(attention_hook)
            attention_hook.attach()

    # -- weights and progress -------------------------------------------------------------------

    def _evaluate(self) -> None:
        self._multipliers = []
        for index, spec in enumerate(self.specs):
            te, unet = spec.multipliers(self.step, self.total_steps)
            gate_te, gate_unet = self._gates.get(index, (1.0, 1.0))
            self._multipliers.append((te * gate_te, unet * gate_unet))
        if self.mode == "merge" and not self._removed:
            for weight in self._merged:
                weight.apply()

    def set_weights(self, weights: Sequence[float | tuple | Tag]) -> None:
        """New weights per network, in order: a float (both), ``(te, unet)`` or a Tag."""
        if len(weights) != len(self.specs):
            raise ValueError(f"{len(weights)} weights for {len(self.specs)} networks")
        for spec, weight in zip(self.specs, weights, strict=True):
            if isinstance(weight, Tag):
                spec.te, spec.unet = weight.te, weight.unet  # type: ignore[assignment]
                spec.lbw, spec.start, spec.stop = weight.lbw, weight.start, weight.stop
            elif isinstance(weight, tuple):
                spec.te, spec.unet = weight
            else:
                spec.te = spec.unet = float(weight)
        self._evaluate()

    def set_progress(self, fraction: float, total_steps: int | None = None) -> None:
        """Move step schedules and start/stop to ``fraction`` of the pass.

        ``total_steps`` resolves keyframes and bounds given in steps; fractions need none.
        """
        if total_steps is not None:
            self.total_steps = max(1, int(total_steps))
        self.step = fraction * self.total_steps
        self._evaluate()

    def set_gate(self, network: int, *, te: bool = True, unet: bool = True) -> None:
        """Switch one network's text-encoder or UNet part on or off (cheap, like set_weights)."""
        self._gates[network] = (float(te), float(unet))
        self._evaluate()

    def set_row_factors(self, network: int, factors: Sequence[float] | torch.Tensor | None, part: str = "unet") -> None:
        """Give one network a factor per batch row of the UNet (``part="unet"``) or of the text
        encoders (``part="te"``; rows are the texts encoded together), hooks mode only.

        Hosts use it to apply a network to some rows only: the unconditional rows of a CFG
        batch for negative-prompt LoRAs, or one image's rows. ``None`` means every row.
        """
        if self.mode != "hooks":
            raise ValueError("row factors need hooks mode: merged weights are the same for every row")
        if part not in ("unet", "te"):
            raise ValueError("part is 'unet' or 'te'")
        if factors is None:
            self._row_factors.pop((part, network), None)
        else:
            self._row_factors[(part, network)] = torch.as_tensor(factors, dtype=torch.float32)

    def _steady_of(self, networks: tuple[int, ...]) -> bool:
        return all(self.specs[index].steady for index in networks)

    def _rows_of(self, part: str, adapter: object) -> torch.Tensor | None:
        if not self._row_factors:
            return None
        return self._row_factors.get((part, self._adapter_network.get(id(adapter), -1)))

    @property
    def multipliers(self) -> list[tuple[float, float]]:
        """Current ``(te, unet)`` multiplier per network."""
        return list(self._multipliers)

    # -- lifetime -------------------------------------------------------------------------------

    def remove(self) -> None:
        """Detach every hook and restore every merged weight bit for bit (idempotent)."""
        if self._removed:
            return
        self._removed = True
        for hook in self._hooks:
            hook.detach()
        for attention in self._attention:
            attention.detach()
        for weight in self._merged:
            weight.restore()
            weight.drop_cache()
        self._hooks, self._attention, self._merged = [], [], []
        self._contributions.clear()  # also breaks the closure cycles, so memory goes back at once
        if self._own_pool:
            self.pool.clear()

    def report(self) -> list[NetworkReport]:
        return list(self.reports)

    def __enter__(self) -> Patch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def apply(
    targets: Mapping[str, nn.Module],
    networks: Sequence[NetworkInput | NetworkSpec],
    *,
    mode: str = "hooks",
    delta_cache_bytes: int = 512 * 1024**2,
    pool: BufferPool | None = None,
    binding: Binding = TORCH,
    settle_bytes: int = 0,
) -> Patch:
    """Apply ``networks`` to the model parts in ``targets`` (``unet``, ``te1``, ``te2``).

    ``networks`` holds ``(Network, te, unet)`` tuples (weights may be schedules), ``(Network,
    Tag)`` pairs (weights, schedules, lbw, start/stop, dyn) or :class:`NetworkSpec`. Problems are
    in ``report()``; a network whose file cannot be applied is skipped, never raised.
    ``delta_cache_bytes`` bounds the ΔW merge mode keeps to re-apply other weights quickly;
    ``pool`` (a :class:`BufferPool` a host keeps per model) lets merged weights reuse memory.
    ``settle_bytes`` (hooks mode) lets modules of steady networks (no schedule, no bounds) run
    merged copies of their weights, up to that many bytes in all (:mod:`.settle`; 0: never).

    All or nothing: if patching fails part way, everything done so far is undone (every
    parameter its very own bits, no hook left) before the error goes up —
    :class:`PatchConflict` when merge mode meets a parameter another live patch has merged,
    :class:`PatchFailed` (the cause chained) for an error of torch or memory, such as out of
    memory in the buffer pool. Both are :class:`PatchError`, which a host shows as a problem.
    Thread contract: see the README ("Patcher fault and thread contract").
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    unknown = set(targets) - {"unet", "te1", "te2"}
    if unknown:
        raise ValueError(f"unknown target parts {sorted(unknown)}; use unet, te1, te2")
    if mode == "merge" and binding.merge_unavailable:
        raise ValueError(binding.merge_unavailable)
    patch = Patch(
        KeyMap(targets, binding), [to_spec(item) for item in networks], mode, delta_cache_bytes, pool, settle_bytes
    )
    try:
        with torch.no_grad():
            patch._build()
    except BaseException as error:
        patch.remove()  # all or nothing: every hook detached, every parameter its very own bits
        if isinstance(error, (RuntimeError, MemoryError)) and not isinstance(error, PatchError):
            raise PatchFailed(f"patching failed and was undone, the model is unchanged: {error}") from error
        raise
    return patch
