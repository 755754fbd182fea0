"""The tag language on a diffusers ``StableDiffusionPipeline`` / ``StableDiffusionXLPipeline``.

    loras = DiffusersLoRAs(pipe, Library(["models/Lora"]))
    with loras.activate(["a cat <lora:ink:0.8>", "a dog"], "blurry <lora:bad-hands:1>") as run:
        images = pipe(**run.pipeline_kwargs(), num_inference_steps=20,
                      callback_on_step_end=run.callback_on_step_end).images

Tags are parsed with the grammar and planned by the activation core (:func:`loraloom.activation.
plan`): positive tags act on their own image's rows, negative-prompt tags on the unconditional
rows and the negative encoding only. This host owns the CFG batch, so it describes every call
exactly: :meth:`Activation.pipeline_kwargs` encodes the positive and the negative prompts in two
described calls and hands diffusers the embeddings; a pre-hook on the UNet reads diffusers' own
layout (unconditional rows first, ``num_images_per_prompt`` images per prompt). With one prompt
and no negative tags, ``run.prompt``/``run.negative_prompt`` (the clean texts) work as well.
Schedules follow the step callback; leaving the ``with`` block removes everything. diffusers
itself is never imported here: the pipeline's own modules are patched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..activation import ActivationSession, TextRow, cfg_rows
from ..library import Library
from ..patching import NetworkCache, Patch
from ..syntax import parse_prompt


@dataclass
class Activation:
    """One generation's LoRAs: clean prompts, the patch, and every problem as a line."""

    prompts: list[str]
    negative_prompts: list[str]
    session: ActivationSession
    pipeline: Any
    problems: list[str] = field(default_factory=list)
    total_steps: int | None = None
    single: bool = True
    _hook: Any = None

    @property
    def prompt(self) -> str | list[str]:
        return self.prompts[0] if self.single else self.prompts

    @property
    def negative_prompt(self) -> str | list[str]:
        return self.negative_prompts[0] if self.single else self.negative_prompts

    @property
    def patch(self) -> Patch | None:
        return self.session.applied.patch if self.session.applied is not None else None

    def pipeline_kwargs(self) -> dict[str, Any]:
        """``prompt_embeds`` and ``negative_prompt_embeds`` (+ pooled for SDXL), each encoded in a
        call described to the row plan: positive texts per image, then the negative texts."""
        images = frozenset(range(len(self.prompts)))
        self.session.encoding([TextRow(frozenset({i})) for i in images])
        positive = self._encode(self.prompts)
        self.session.encoding([TextRow(frozenset({i}), negative=True) for i in images])
        zero = getattr(getattr(self.pipeline, "config", None), "force_zeros_for_empty_prompt", False)
        if zero and not any(self.negative_prompts):  # diffusers' own rule for an empty SDXL negative
            negative = tuple(torch.zeros_like(t) if t is not None else None for t in positive)
        else:
            negative = self._encode(self.negative_prompts)
        kwargs = {"prompt_embeds": positive[0], "negative_prompt_embeds": negative[0]}
        if len(positive) == 4:
            kwargs["pooled_prompt_embeds"], kwargs["negative_pooled_prompt_embeds"] = positive[2], negative[2]
        return kwargs

    def _encode(self, texts: list[str]) -> tuple:
        device = getattr(self.pipeline, "_execution_device", None) or getattr(self.pipeline, "device", None)
        with torch.no_grad():
            return tuple(
                self.pipeline.encode_prompt(
                    prompt=texts, device=device, num_images_per_prompt=1, do_classifier_free_guidance=False
                )
            )

    def callback_on_step_end(self, pipeline: Any, step: int, timestep: Any, callback_kwargs: dict) -> dict:
        """diffusers' step callback: move schedules to the next step (``step`` just ended)."""
        total = self.total_steps or getattr(pipeline, "num_timesteps", None) or step + 1
        self.session.set_progress((step + 1) / total, total)
        return callback_kwargs

    def _before_unet(self, module: Any, inputs: tuple) -> None:
        batch = int(inputs[0].shape[0])
        cfg = bool(getattr(self.pipeline, "do_classifier_free_guidance", True))
        per_prompt = batch // (len(self.prompts) * (2 if cfg else 1)) or 1
        rows = cfg_rows(len(self.prompts), uncond_first=True, cfg=cfg)
        self.session.unet_call([row for row in rows for _ in range(per_prompt)])

    def remove(self) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        self.session.release()

    def __enter__(self) -> Activation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class DiffusersLoRAs:
    """Applies ``<lora:…>`` tags to one pipeline; keep one per pipeline (it caches networks).

    ``settle_mb``: in hooks mode, memory for merged copies of layers whose weights stay put
    (:mod:`loraloom.patching.settle`; 0: every forward adds the adapters' outputs).
    """

    def __init__(
        self,
        pipeline: Any,
        library: Library,
        *,
        mode: str = "hooks",
        cache: NetworkCache | None = None,
        settle_mb: int = 4096,
    ):
        self.pipeline = pipeline
        self.mode = mode
        self.settle_bytes = max(0, settle_mb) * 1024**2
        self.session = ActivationSession(library, cache or NetworkCache(), hash_of=None)

    @property
    def library(self) -> Library:
        return self.session.library

    def targets(self) -> dict[str, Any]:
        parts = {
            "unet": getattr(self.pipeline, "unet", None),
            "te1": getattr(self.pipeline, "text_encoder", None),
            "te2": getattr(self.pipeline, "text_encoder_2", None),
        }
        return {name: module for name, module in parts.items() if module is not None}

    def activate(
        self,
        prompt: str | list[str],
        negative_prompt: str | list[str] = "",
        *,
        num_inference_steps: int | None = None,
    ) -> Activation:
        """Parse, plan, load and apply the tags; return the clean prompts and the call describer."""
        single = isinstance(prompt, str)
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        negatives = [negative_prompt] * len(prompts) if isinstance(negative_prompt, str) else list(negative_prompt)
        if len(negatives) != len(prompts):
            raise ValueError(f"{len(negatives)} negative prompts for {len(prompts)} prompts")
        parsed = [parse_prompt(text) for text in prompts]
        parsed_negative = [parse_prompt(text, "negative") for text in negatives]
        problems: list[str] = []
        for result in (*parsed, *parsed_negative):
            for d in result.diagnostics:
                line = f"{d.severity}: {d.message} ({d.hint})"
                if line not in problems:
                    problems.append(line)
        batch = self.session.plan(
            [list(p.tags) for p in parsed], [list(p.tags) for p in parsed_negative], mode=self.mode
        )
        problems += self.session.apply(batch, self.targets(), id(self.pipeline), settle_bytes=self.settle_bytes)
        self.session.set_progress(0.0, num_inference_steps)
        run = Activation(
            [p.clean for p in parsed],
            [p.clean for p in parsed_negative],
            self.session,
            self.pipeline,
            problems,
            num_inference_steps,
            single,
        )
        unet = self.targets().get("unet")
        if self.session.routed and unet is not None:
            run._hook = unet.register_forward_pre_hook(run._before_unet)
        return run
