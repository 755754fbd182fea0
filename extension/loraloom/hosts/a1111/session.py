"""The A1111 host's one registry: library, network cache, buffer pools and the current patch.

A1111 calls ``activate(p, params_list)`` before every batch (and again for the hires pass); this
object turns the tags into a :class:`~loraloom.patching.Patch` on ``shared.sd_model``, keeps it
while the same tags repeat, removes it when they change or vanish, and drops everything when
the checkpoint changes. It holds no A1111 imports: the thin adapters pass ``p``, the model and
the options in, so it can be driven by tests and by other hosts alike.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...library import Library
from ...patching import BufferPool, NetworkCache, Patch, PatchError, apply
from ...patching.resolve import specs_for_tags
from ...patching.specs import NetworkSpec
from ...syntax import Tag, parse_prompt
from .params import tags_from_params
from .targets import model_targets

REMOVE_SYMBOLS = str.maketrans("", "", ":,")


@dataclass
class Settings:
    """The options that change what ``activate`` does (read from ``shared.opts`` by the host)."""

    mode: str = "hooks"
    cache_count: int = 8
    cache_mb: int = 2048
    add_hashes: bool = True

    @classmethod
    def from_opts(cls, opts: Any) -> Settings:
        def get(name: str, default: Any) -> Any:
            return getattr(opts, name, default) if opts is not None else default

        return cls(
            mode=str(get("loraloom_mode", "hooks")),
            cache_count=int(get("loraloom_cache_count", 8)),
            cache_mb=int(get("loraloom_cache_mb", 2048)),
            add_hashes=bool(get("lora_add_hashes_to_infotext", True)),
        )


@dataclass
class Applied:
    """What is on the model now, to make repeated activations free."""

    key: tuple
    patch: Patch
    model_id: int
    negative: list[int] = field(default_factory=list)
    """Indices of networks from the negative prompt: unconditional rows and negative encoding only."""
    routing: RowRouting | None = None


class RowRouting:
    """Routes networks to some rows of each batch (hooks mode).

    - Negative-prompt networks act on the unconditional side only: UNet rows that are
      unconditional, and the text encoder only while the negative prompts are encoded.
    - When the images of a batch carry different tags, each image's networks act on that
      image's rows only (its conditional and unconditional UNet rows, its texts).

    UNet rows come from ``on_cfg_denoiser`` (A1111 lays a CFG batch out as the conditional rows
    of every image, then the unconditional rows) and a pre-hook on the UNet that hands each call
    its rows (calls may be chunked, in order). Text rows: the model's
    ``get_learned_conditioning`` is wrapped for the patch's lifetime.
    """

    def __init__(
        self, patch: Patch, members: list[list[bool]], negative: list[int], sd_model: Any, unet: Any, p: Any
    ) -> None:
        self.patch, self.members, self.negative, self.sd_model, self.p = patch, members, negative, sd_model, p
        self.routed = [j for j, row in enumerate(members) if not all(row)] + negative
        self.roles: list[tuple[int, bool]] = []
        self.offset = 0
        self.handle = unet.register_forward_pre_hook(self._before_unet) if unet is not None else None
        for index in negative:
            patch.set_gate(index, te=False, unet=True)
        for index in self.routed:
            patch.set_row_factors(index, [], "unet")  # no rows until the CFG layout is known
        self.original = sd_model.__dict__.get("get_learned_conditioning")
        encode = getattr(sd_model, "get_learned_conditioning", None)
        if encode is not None:
            sd_model.get_learned_conditioning = self._encoder(encode)

    def _member(self, network: int, image: int) -> bool:
        row = self.members[network]
        return row[image] if image < len(row) else row[0]

    def _encoder(self, encode: Any) -> Any:
        def get_learned_conditioning(texts: Any, *args: Any, **kwargs: Any) -> Any:
            negative = list(getattr(self.p, "negative_prompts", None) or [])
            positive = list(getattr(self.p, "prompts", None) or [])
            is_negative = isinstance(texts, list) and texts == negative and texts != positive
            count = len(texts) if isinstance(texts, list) else 1
            for index in self.routed:
                if index in self.negative:
                    self.patch.set_gate(index, te=is_negative, unet=True)
                else:
                    self.patch.set_row_factors(index, [float(self._member(index, i)) for i in range(count)], "te")
            try:
                return encode(texts, *args, **kwargs)
            finally:
                for index in self.negative:
                    self.patch.set_gate(index, te=False, unet=True)

        return get_learned_conditioning

    def cfg_layout(self, rows: int, uncond_rows: int) -> None:
        images = uncond_rows
        cond_rows = rows - uncond_rows
        if cond_rows == images:
            cond = [(i, False) for i in range(images)]
        else:  # AND prompts give an image several conditional rows: keep the first image's set
            cond = [(0, False)] * cond_rows
        self.roles = cond + [(i, True) for i in range(images)]
        self.offset = 0

    def _before_unet(self, module: Any, inputs: tuple) -> None:
        batch = inputs[0].shape[0] if inputs and hasattr(inputs[0], "shape") else 0
        roles = self.roles[self.offset : self.offset + batch]
        self.offset += batch
        if len(roles) != batch:
            roles = [(0, False)] * batch
        for index in self.routed:
            negative = index in self.negative
            factors = [float(self._member(index, image) and (uncond or not negative)) for image, uncond in roles]
            self.patch.set_row_factors(index, factors, "unet")

    def remove(self) -> None:
        if self.handle is not None:
            self.handle.remove()
        if self.original is not None:
            self.sd_model.get_learned_conditioning = self.original
        else:
            self.sd_model.__dict__.pop("get_learned_conditioning", None)


@dataclass
class Session:
    library: Library
    cache: NetworkCache = field(default_factory=NetworkCache)
    pools: dict[int, BufferPool] = field(default_factory=dict)
    applied: Applied | None = None
    problems: list[str] = field(default_factory=list)
    gallery: Any = None
    """The gallery service (``loraloom.ui``), made when the UI first needs it."""

    # -- the extra network contract -------------------------------------------------------------

    def activate(self, p: Any, params_list: Iterable[Any], sd_model: Any, settings: Settings) -> list[str]:
        """Apply the tags of ``params_list`` to ``sd_model``; return the problems as lines.

        An empty list removes every effect; the same tags again cost nothing; a hires pass may
        carry other tags (and ``hr=`` weights); a checkpoint change drops stale state.
        """
        self.cache.max_count = settings.cache_count
        self.cache.max_bytes = settings.cache_mb * 1024**2
        tags, problems = tags_from_params(params_list)
        per_image = _batch_tags(p) if settings.mode == "hooks" else None
        if per_image is not None:
            tags = _union(per_image)
        else:
            problems += _batch_warning(p)
        negative_tags = [t for t in getattr(p, "loraloom_negative_tags", None) or [] if t.valid]
        if negative_tags and settings.mode != "hooks":
            problems.append("negative-prompt LoRAs need the hooks mode (merged weights act on every row); ignored")
            negative_tags = []
        hires = bool(getattr(p, "is_hr_pass", False))
        images = tuple(tuple(t.raw for t in image) for image in per_image) if per_image else ()
        key = (tuple(tag.raw for tag in tags), tuple(t.raw for t in negative_tags), images, hires, settings.mode)
        if self.applied is not None and self.applied.model_id != id(sd_model):
            self.release()
        if negative_tags and hasattr(p, "cached_uc"):
            # A1111 caches the negative conditioning by its text (tags stripped), shared by every
            # generation: with negative LoRAs it must be computed for this generation alone.
            p.cached_uc = [None, None]
        if self.applied is not None and self.applied.key == key:
            if self.applied.routing is not None:
                self.applied.routing.p = p
            self._record_hashes(p, tags, settings, hires)
            return problems
        self.release()
        if (tags or negative_tags) and sd_model is not None:
            specs, resolve_problems = self._specs(tags, hires)
            negative_specs, negative_problems = self._specs(negative_tags, hires)
            problems += resolve_problems + negative_problems
            if specs or negative_specs:
                pool = self.pools.setdefault(id(sd_model), BufferPool())
                targets = model_targets(sd_model)
                try:
                    patch = apply(targets, specs + negative_specs, mode=settings.mode, pool=pool)
                except PatchError as error:  # the model is untouched: generate without the LoRAs
                    problems.append(f"LoRAs not applied: {error}")
                else:
                    patch.set_progress(0.0, _steps(p, hires))
                    for report in patch.report():
                        problems += report.messages
                    negative = list(range(len(specs), len(specs) + len(negative_specs)))
                    self.applied = Applied(key, patch, id(sd_model), negative)
                    members = _members(specs, per_image) + [[True]] * len(negative_specs)
                    if negative or any(not all(row) for row in members):
                        routing = RowRouting(patch, members, negative, sd_model, targets.get("unet"), p)
                        self.applied.routing = routing
        self._record_hashes(p, tags, settings, hires)
        self.problems = problems
        return problems

    def release(self) -> None:
        """Remove the current patch (weights restored exactly)."""
        if self.applied is not None:
            if self.applied.routing is not None:
                self.applied.routing.remove()
            self.applied.patch.remove()
            self.applied = None

    def model_changed(self) -> None:
        """A checkpoint (re)load: forget the patch and the buffers of the old weights."""
        self.release()
        self.pools.clear()

    def on_cfg_denoiser(self, step: int, total_steps: int, rows: int, uncond_rows: int) -> None:
        """Before each CFG batch: move schedules, and learn which rows are unconditional."""
        if self.applied is None:
            return
        if total_steps:
            self.applied.patch.set_progress(step / total_steps, total_steps)
        if self.applied.routing is not None:
            self.applied.routing.cfg_layout(rows, uncond_rows)

    # -- helpers --------------------------------------------------------------------------------

    def _specs(self, tags: list[Tag], hires: bool) -> tuple[list[NetworkSpec], list[str]]:
        return specs_for_tags(tags, self.library, self.cache, hires=hires, rescan=True)

    def _record_hashes(self, p: Any, tags: list[Tag], settings: Settings, hires: bool) -> None:
        """``Lora hashes: "name: 12hex, …"`` as the builtin writes it, merged across the hires pass."""
        if not settings.add_hashes or p is None or not hasattr(p, "extra_generation_params"):
            return
        if not hires or not hasattr(p, "lora_hashes"):
            p.lora_hashes = {}
        for tag in tags:
            entry = self.library.resolve(tag.name).entry
            if entry is None or entry.problem:
                continue
            try:
                p.lora_hashes[tag.name.translate(REMOVE_SYMBOLS)] = self.library.hashes(entry).infotext_hash
            except OSError:
                continue
        if p.lora_hashes:
            p.extra_generation_params["Lora hashes"] = ", ".join(f"{k}: {v}" for k, v in p.lora_hashes.items())
        self.library.save()


def _batch_prompts(p: Any) -> list[str] | None:
    """The prompts (with their tags) of the images of this batch, when there are several."""
    prompts = getattr(p, "all_prompts", None)
    size = int(getattr(p, "batch_size", 1) or 1)
    if not isinstance(prompts, list) or size < 2:
        return None
    start = int(getattr(p, "iteration", 0) or 0) * size
    return [str(prompt) for prompt in prompts[start : start + size]]


def _batch_tags(p: Any) -> list[list[Tag]] | None:
    """Each image's valid tags when the images of this batch differ (else ``None``)."""
    batch = _batch_prompts(p)
    if batch is None:
        return None
    images = [[t for t in parse_prompt(prompt).tags if t.valid] for prompt in batch]
    if len({tuple(sorted(t.raw for t in image)) for image in images}) <= 1:
        return None
    return images


def _union(images: list[list[Tag]]) -> list[Tag]:
    seen: dict[str, Tag] = {}
    for image in images:
        for tag in image:
            seen.setdefault(tag.raw, tag)
    return list(seen.values())


def _members(specs: list[NetworkSpec], images: list[list[Tag]] | None) -> list[list[bool]]:
    """For each spec, whether each image of the batch carries its tag (all, without per-image tags)."""
    if not images:
        return [[True] for _ in specs]
    raws = [{tag.raw for tag in image} for image in images]
    return [[spec.raw in image for image in raws] for spec in specs]


def _batch_warning(p: Any) -> list[str]:
    """A1111 applies the first prompt's tags to every image of a batch: say so when they differ."""
    batch = _batch_prompts(p)
    if batch is None:
        return []
    sets = [tuple(sorted(t.raw for t in parse_prompt(prompt).tags)) for prompt in batch]
    if len(set(sets)) <= 1:
        return []
    return [
        f"the {len(batch)} images of this batch have different LoRA tags; as in A1111, the first image's "
        "tags are applied to all of them (use batch size 1 for per-image LoRAs)"
    ]


def _steps(p: Any, hires: bool) -> int:
    steps = getattr(p, "hr_second_pass_steps", 0) if hires else 0
    return int(steps or getattr(p, "steps", 0) or 1)


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
