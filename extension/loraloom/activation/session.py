"""``ActivationSession``: what a host keeps between generations, and the calls it describes.

One per host process (the one registry a host needs). It turns a :class:`~.plan.Plan` into a
:class:`~loraloom.patching.Patch` on the host's model parts, keeps the patch while the plan's
key repeats (the same tags again cost nothing), swaps it when the plan changes and drops
everything when the model changes. During sampling the host describes each call —
:meth:`unet_call` with its rows, :meth:`encoding` with its texts, :meth:`set_progress` with the
step — and the session sets the patch's per-row factors from the plan's :class:`RowPlan`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..library import Library
from ..patching import BufferPool, NetworkCache, Patch, PatchError, apply
from ..syntax import Tag
from .plan import HashOf, Plan, addnet_hash, plan
from .rows import Row, RowPlan, TextRow


@dataclass
class Applied:
    """The patch on the model now and the plan it came from."""

    plan: Plan
    patch: Patch
    model_id: int
    rows: RowPlan


@dataclass
class ActivationSession:
    library: Library
    cache: NetworkCache = field(default_factory=NetworkCache)
    hash_of: HashOf | None = addnet_hash
    pools: dict[int, BufferPool] = field(default_factory=dict)
    applied: Applied | None = None

    def plan(
        self,
        positive: Sequence[Sequence[Tag]],
        negative: Sequence[Sequence[Tag]] = (),
        *,
        hires: bool = False,
        mode: str = "hooks",
        hash_of: HashOf | None = None,
    ) -> Plan:
        """``hash_of``: the host's kind of infotext hash for this model (default: the session's)."""
        return plan(
            positive,
            negative,
            library=self.library,
            cache=self.cache,
            hires=hires,
            mode=mode,
            hash_of=hash_of or self.hash_of,
        )

    def apply(self, batch: Plan, targets: Mapping[str, Any], model_id: int, **patch_options: Any) -> list[str]:
        """Make ``batch`` the one patch on the model; return its problems as lines.

        The same plan key on the same model keeps the patch (free); anything else removes the
        old patch first (weights restored bit for bit), so there is never more than one. A patch
        that fails half-way (out of memory) is undone and becomes one problem line.
        """
        if self.applied is not None and self.applied.model_id != model_id:
            self.release()
        if self.applied is not None and self.applied.plan.key == batch.key:
            self.applied.plan = batch
            self.applied.patch.set_progress(0.0)  # a new pass starts at its first step
            return list(batch.problems)
        if self.applied is not None and self.applied.plan.structure == batch.structure and not batch.empty:
            self._reweight(batch)  # only weights moved: no adapter is rebuilt, no hook re-attached
            return list(batch.problems)
        self.release()
        problems = list(batch.problems)
        if batch.empty or not targets:
            return problems
        pool = self.pools.setdefault(model_id, BufferPool())
        try:
            patch = apply(targets, batch.specs, mode=batch.mode, pool=pool, **patch_options)
        except PatchError as error:  # undone by apply(): the model is exactly as before
            return [*problems, f"LoRAs not applied: {error}"]
        for report in patch.report():
            problems += report.messages
        rows = batch.rows
        self.applied = Applied(batch, patch, model_id, rows)
        for index in rows.routed:  # nothing acts on a routed network's rows until a call is described
            patch.set_row_factors(index, [], "unet")
            patch.set_row_factors(index, [], "te")
        return problems

    def _reweight(self, batch: Plan) -> None:
        """Give the applied patch the new plan's weights, schedules and bounds (same networks)."""
        assert self.applied is not None
        patch = self.applied.patch
        for spec, new in zip(patch.specs, batch.specs, strict=True):
            spec.start, spec.stop, spec.raw = new.start, new.stop, new.raw
        patch.step = 0.0  # a new pass starts at its first step (set_weights evaluates there)
        patch.set_weights([(new.te, new.unet) for new in batch.specs])
        # the plan now names the very specs the patch uses
        batch.networks = [replace(n, spec=s) for n, s in zip(batch.networks, patch.specs, strict=True)]
        self.applied.plan = batch

    @property
    def routed(self) -> bool:
        """Whether the host must describe its calls (some network acts on some rows only)."""
        return self.applied is not None and not self.applied.rows.uniform

    # -- calls the host describes ---------------------------------------------------------------

    def set_progress(self, fraction: float, total_steps: int | None = None) -> None:
        """Move schedules and start/stop: ``fraction`` of the pass, before the step's model call."""
        if self.applied is not None:
            self.applied.patch.set_progress(fraction, total_steps)

    def unet_call(self, rows: Sequence[Row]) -> None:
        """The next UNet call's batch holds ``rows``, in order."""
        if self.routed:
            assert self.applied is not None
            for index, factors in self.applied.rows.unet_factors(rows).items():
                self.applied.patch.set_row_factors(index, factors, "unet")

    def encoding(self, texts: Sequence[TextRow]) -> None:
        """The next text-encoder call encodes ``texts``, in order."""
        if self.routed:
            assert self.applied is not None
            for index, factors in self.applied.rows.text_factors(texts).items():
                self.applied.patch.set_row_factors(index, factors, "te")

    # -- lifetime -------------------------------------------------------------------------------

    def release(self) -> None:
        """Remove the current patch (weights restored bit for bit, hooks detached)."""
        if self.applied is not None:
            applied, self.applied = self.applied, None
            applied.patch.remove()

    def model_changed(self) -> None:
        """A checkpoint (re)load: forget the patch and the buffers of the old weights."""
        self.release()
        self.pools.clear()
