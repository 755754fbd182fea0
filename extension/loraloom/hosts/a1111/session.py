"""The A1111 host's one registry: the activation session, the batch's tags, the call describer.

A1111 calls ``activate(p, params_list)`` before every batch (and again for the hires pass).
This object plans the batch's tags once (:func:`loraloom.activation.plan`), hands the plan to
the shared :class:`~loraloom.activation.ActivationSession` (which keeps the patch while the
tags repeat), and, while some LoRA acts on some rows only, describes A1111's model calls. It
holds no A1111 imports: the thin adapters pass ``p``, the model and the options in, so tests
and other hosts can drive it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...activation import ActivationSession, Plan
from ...library import Library
from ...syntax import Tag, parse_prompt
from .calls import CallDescriber, cfg_layout, denoiser_step
from .prompts import BatchTags, NegativeTags, TextGroups, capture_batch
from .targets import ModelParts, model_parts


@dataclass
class Settings:
    """The options that change what ``activate`` does (read from ``shared.opts`` by the host)."""

    mode: str = "hooks"
    cache_count: int = 8
    cache_mb: int = 2048
    settle_mb: int = 4096
    """Hooks mode: merged copies of layers whose weights stay put (``loraloom.patching.settle``)."""
    add_hashes: bool = True

    @classmethod
    def from_opts(cls, opts: Any) -> Settings:
        def get(name: str, default: Any) -> Any:
            return getattr(opts, name, default) if opts is not None else default

        return cls(
            mode=str(get("loraloom_mode", "hooks")),
            cache_count=int(get("loraloom_cache_count", 8)),
            cache_mb=int(get("loraloom_cache_mb", 2048)),
            settle_mb=int(get("loraloom_settle_mb", 4096)),
            add_hashes=bool(get("lora_add_hashes_to_infotext", True)),
        )


@dataclass
class Session:
    library: Library
    core: ActivationSession = field(init=False)
    batch: BatchTags | None = None
    """The tags of the batch being processed (captured in ``before_process_batch``)."""
    batch_owner: int = 0
    describer: CallDescriber | None = None
    problems: list[str] = field(default_factory=list)
    gallery: Any = None
    """The gallery service (``loraloom.ui``), made when the UI first needs it."""
    ownership: Any = None
    """The :class:`~.ownership.TagOwnership` of this process (set by the host's callbacks)."""

    def __post_init__(self) -> None:
        self.core = ActivationSession(self.library)

    @property
    def applied(self) -> Any:
        return self.core.applied

    # -- what scripts see -----------------------------------------------------------------------

    def capture(self, p: Any) -> None:
        """``before_process_batch``: read every image's tags before A1111 strips them."""
        self.batch = capture_batch(p)
        self.batch_owner = id(p)

    # -- the extra network contract -------------------------------------------------------------

    def activate(self, p: Any, params_list: Iterable[Any], sd_model: Any, settings: Settings) -> list[str]:
        """Apply this batch's tags to ``sd_model``; return the problems as lines.

        No tags removes every effect; the same tags again cost nothing; the hires pass may carry
        other tags and ``hr=`` weights; a checkpoint change drops stale state.
        """
        self.core.cache.max_count = settings.cache_count
        self.core.cache.max_bytes = settings.cache_mb * 1024**2
        hires = bool(getattr(p, "is_hr_pass", False)) or _hires_data(p, params_list)
        positive, problems = self._positive_tags(p, params_list, hires)
        negative, negative_problems = _negative_tags(p, hires, len(positive))
        problems += negative_problems
        parts = model_parts(sd_model)
        mode = settings.mode
        if mode == "merge" and parts.binding.merge_unavailable:
            problems.append(parts.binding.merge_unavailable)
            mode = "hooks"
        batch = self.core.plan(positive, negative, hires=hires, mode=mode, hash_of=parts.hash_of)
        if any(image for image in negative) and hasattr(p, "cached_uc"):
            # A1111 caches the negative conditioning by its text (tags stripped), shared by every
            # generation: with negative LoRAs it must be computed for this generation alone.
            p.cached_uc = [None, None]
        self._detach_describer()
        settle_bytes = max(0, settings.settle_mb) * 1024**2
        problems += self.core.apply(
            batch, parts.targets, id(sd_model), binding=parts.binding, settle_bytes=settle_bytes
        )
        if self.core.routed:
            self._describe(p, batch, parts, sd_model, hires)
        self._record_hashes(p, batch, settings, hires)
        self.problems = problems
        return problems

    def _positive_tags(self, p: Any, params_list: Iterable[Any], hires: bool) -> tuple[list[list[Tag]], list[str]]:
        batch = self.batch if self.batch_owner == id(p) else None
        if batch is not None and batch.iteration == int(getattr(p, "iteration", 0) or 0):
            if hires and batch.hires is not None:
                return batch.hires, list(batch.hires_problems)
            return batch.positive, list(batch.problems)
        # no capture (no scripts ran for this p): A1111's first-image tags, as A1111 splits them
        tags, problems = [], []
        for params in params_list:
            parsed = parse_prompt("<lora:" + ":".join(str(item) for item in params.items) + ">")
            tags += parsed.tags
            problems += [f"{parsed.text}: {d.message} ({d.hint})" for d in parsed.diagnostics if d.severity == "error"]
        return [tags], problems

    def _describe(self, p: Any, batch: Plan, parts: ModelParts, sd_model: Any, hires: bool) -> None:
        rows = batch.rows
        signatures = [tuple(n.acts_on_image(image) for n in rows.networks) for image in range(batch.images)]
        groups = TextGroups.of(signatures)
        if groups.needed:
            prompts, negatives = ("hr_prompts", "hr_negative_prompts") if hires else ("prompts", "negative_prompts")
            for attribute, split_and in ((prompts, True), (negatives, False)):
                texts = getattr(p, attribute, None)
                if isinstance(texts, list) and len(texts) == batch.images:
                    setattr(p, attribute, groups.mark_prompts(texts, split_and=split_and))
        self.describer = CallDescriber(self.core, parts.targets, groups, sd_model if parts.texts_at_method else None)

    def on_cfg_denoiser(self, params: Any) -> None:
        """Before each CFG step: move schedules, and describe the batch's rows."""
        if self.core.applied is None:
            return
        step, total = denoiser_step(params)
        if total:
            self.core.set_progress(step / total, total)
        if self.describer is not None:
            self.describer.cfg_step(cfg_layout(params))

    def release(self) -> None:
        """Remove the current patch (weights restored exactly) and the call hooks."""
        self._detach_describer()
        self.core.release()

    def model_changed(self) -> None:
        """A checkpoint (re)load: forget the patch and the buffers of the old weights."""
        self._detach_describer()
        self.core.model_changed()

    def _detach_describer(self) -> None:
        if self.describer is not None:
            self.describer.detach()
            self.describer = None

    # -- infotext -------------------------------------------------------------------------------

    def _record_hashes(self, p: Any, batch: Plan, settings: Settings, hires: bool) -> None:
        """``Lora hashes: "name: 12hex, …"`` as the builtin writes it, merged across the hires pass;
        negative-prompt LoRAs included (they changed the image too)."""
        if not settings.add_hashes or p is None or not hasattr(p, "extra_generation_params"):
            return
        if not hires or not hasattr(p, "lora_hashes"):
            p.lora_hashes = {}
        p.lora_hashes.update(batch.hashes)
        if p.lora_hashes:
            p.extra_generation_params["Lora hashes"] = ", ".join(f"{k}: {v}" for k, v in p.lora_hashes.items())
        else:
            p.extra_generation_params.pop("Lora hashes", None)
        self.library.save()


def _hires_data(p: Any, params_list: Any) -> bool:
    """Whether A1111/Forge activate the hires tags outside the hires pass (low-VRAM mode; Forge
    and reForge always do, to encode the hires conditionings early). The host hands over a new
    list, but its params objects are the very ones parsed from the hires prompts."""
    data = getattr(p, "hr_extra_network_data", None)
    if not isinstance(data, Mapping) or not params_list:
        return False
    hires = {id(params) for args in data.values() for params in args}
    return all(id(params) in hires for params in params_list)


def _negative_tags(p: Any, hires: bool, images: int) -> tuple[list[list[Tag]], list[str]]:
    """This batch's negative-prompt tags per image and their syntax errors (taken out of the
    prompts by the script)."""
    found = getattr(p, "loraloom_negative_tags", None)
    if not isinstance(found, NegativeTags):
        return [], []
    size = int(getattr(p, "batch_size", images) or images)
    return found.for_batch(hires, int(getattr(p, "iteration", 0) or 0), size)


def lora_folders(cmd_opts: Any, extra: Iterable[str] = ()) -> list[str]:
    """The builtin's folders (``--lora-dir``, ``--lyco-dir-backcompat``) and the user's extras."""
    folders = [getattr(cmd_opts, "lora_dir", None), getattr(cmd_opts, "lyco_dir_backcompat", None), *extra]
    return [folder for folder in folders if folder and os.path.isdir(folder)]


def parse_hashes(text: str) -> Mapping[str, str]:
    """``"a: 0123456789ab, b: …"`` (the ``Lora hashes`` infotext value) → ``{name: hash}``."""
    pairs = {}
    for part in text.strip().strip('"').split(","):
        name, _, value = part.partition(":")
        if name.strip() and value.strip():
            pairs[name.strip()] = value.strip()
    return pairs
