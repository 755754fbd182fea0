"""Describing A1111's model calls to the activation session.

- **UNet.** ``on_cfg_denoiser`` fires before each CFG step with A1111's batch: for image *i*
  ``repeats[i]`` conditional rows (one per ``AND`` part, read from the sampler's multicond
  conditioning), then one unconditional row per image. A1111 may run that batch in chunks
  (``batch_cond_uncond`` off, cond/uncond of different lengths) or drop the unconditional rows
  (NGMS, skip early CFG), always in order from the first row, so a pre-hook on the UNet hands
  each call the next rows. The step comes from the denoiser's own counter: A1111's
  ``state.sampling_step`` is updated after the step, one behind.
- **Text encoders.** A forward pre-hook on each text-encoder part receives A1111's
  ``SdConditioning`` (the texts, and ``is_negative_prompt``); the images come from the texts'
  group marks (:mod:`.prompts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...activation import ActivationSession, Row, cfg_rows
from ..forge.rows import rows_from_options
from .prompts import TextGroups


def denoiser_step(params: Any) -> tuple[int, int]:
    """``(step, total)`` of a CFG step: the denoiser's counters, else A1111's shared state."""
    denoiser = getattr(params, "denoiser", None)
    step = getattr(denoiser, "step", None)
    total = getattr(denoiser, "total_steps", None)
    if step is None:
        step = getattr(params, "sampling_step", 0)
    if not total:
        total = getattr(params, "total_sampling_steps", 0)
    return int(step or 0), int(total or 0)


def cfg_layout(params: Any) -> list[Row] | None:
    """The rows of this CFG step's batch, or ``None`` when the layout is not A1111's."""
    x = getattr(params, "x", None)
    uncond = getattr(params, "text_uncond", None)
    if isinstance(uncond, dict):  # SDXL: {"crossattn": …, "vector": …}
        uncond = uncond.get("crossattn", next(iter(uncond.values()), None))
    if not hasattr(x, "shape") or not hasattr(uncond, "shape"):
        return None
    images = int(uncond.shape[0])
    repeats = _repeats(params, images)
    rows = cfg_rows(images, uncond_first=False, repeats=repeats)
    extra = int(x.shape[0]) - len(rows)
    if extra == images:  # an edit model's image-unconditional rows come last
        rows += [Row(i, True) for i in range(images)]
    elif extra != 0:
        return None
    return rows


def _repeats(params: Any, images: int) -> list[int]:
    sampler = getattr(getattr(params, "denoiser", None), "sampler", None)
    cond = (getattr(sampler, "sampler_extra_args", None) or {}).get("cond")
    batch = getattr(cond, "batch", None)
    if isinstance(batch, list) and len(batch) == images:
        return [len(parts) for parts in batch]
    text_cond = getattr(params, "text_cond", None)
    cond_rows = int(text_cond.shape[0]) if hasattr(text_cond, "shape") else images
    return [1] * images if cond_rows == images else [cond_rows // max(images, 1)] * images


class CallDescriber:
    """Hooks on the model parts that describe each call (attached only while rows are routed)."""

    def __init__(
        self, session: ActivationSession, targets: dict[str, Any], groups: TextGroups, text_model: Any = None
    ) -> None:
        """``text_model``: a model whose ``get_learned_conditioning`` sees the texts (Forge, where
        the encoder modules only get token ids); its method is described for the patch's life."""
        self.session = session
        self.groups = groups
        self.rows: list[Row] = []
        self.offset = 0
        self.handles: list[Any] = []
        self.text_model = text_model
        unet = targets.get("unet")
        if unet is not None:
            self.handles.append(unet.register_forward_pre_hook(self._before_unet, with_kwargs=True))
        for name in ("te1", "te2"):
            if targets.get(name) is not None:
                self.handles.append(targets[name].register_forward_pre_hook(self._before_text))
        self.previous_method = None
        if text_model is not None:
            self.previous_method = text_model.__dict__.get("get_learned_conditioning")
            encode = text_model.get_learned_conditioning

            def get_learned_conditioning(texts: Any, *args: Any, **kwargs: Any) -> Any:
                self._describe_texts(texts)
                return encode(texts, *args, **kwargs)

            text_model.get_learned_conditioning = get_learned_conditioning

    def cfg_step(self, rows: Sequence[Row] | None) -> None:
        self.rows, self.offset = list(rows or []), 0

    def _before_unet(self, module: Any, inputs: tuple, kwargs: dict) -> None:
        batch = int(inputs[0].shape[0]) if inputs and hasattr(inputs[0], "shape") else 0
        described = rows_from_options(batch, kwargs)  # Forge and reForge say it with each call
        if described is not None:
            self.session.unet_call(described)
            return
        rows = self.rows[self.offset : self.offset + batch]
        self.offset += batch
        if len(rows) != batch:  # a call outside a described CFG step: no routed network acts
            rows = []
        self.session.unet_call(rows)

    def _before_text(self, module: Any, inputs: tuple) -> None:
        texts = inputs[0] if inputs else None
        if isinstance(texts, dict):  # an sgm conditioner's batch
            texts = texts.get("txt")
        self._describe_texts(texts)

    def _describe_texts(self, texts: Any) -> None:
        if not isinstance(texts, list):
            return  # token ids (Forge's encoders): the texts were described at the method
        negative = bool(getattr(texts, "is_negative_prompt", False))
        self.session.encoding(self.groups.rows([str(t) for t in texts], negative))

    def detach(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []
        if self.text_model is not None:  # put back whatever was there (another extension's wrapper)
            if self.previous_method is not None:
                self.text_model.get_learned_conditioning = self.previous_method
            else:
                self.text_model.__dict__.pop("get_learned_conditioning", None)
            self.text_model = None
