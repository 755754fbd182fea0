"""The tag language on a diffusers ``StableDiffusionPipeline`` / ``StableDiffusionXLPipeline``.

    loras = DiffusersLoRAs(pipe, Library(["models/Lora"]))
    with loras.activate("a cat, <lora:ink:0.8>", "blurry") as run:
        image = pipe(run.prompt, negative_prompt=run.negative_prompt, num_inference_steps=20,
                     callback_on_step_end=run.callback_on_step_end).images[0]

Tags are parsed with the grammar, names resolved through the library, files loaded through
a bounded cache and applied with the patcher; schedules and start/stop follow the sampler via
the step callback; leaving the ``with`` block removes everything. diffusers itself is never
imported here: the pipeline's own modules are patched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..library import Library
from ..patching import BufferPool, NetworkCache, Patch, PatchError, apply
from ..patching.resolve import specs_for_tags
from ..syntax import parse


@dataclass
class Activation:
    """One generation's LoRAs: clean prompts, the patch, and every problem as a line."""

    prompt: str
    negative_prompt: str
    patch: Patch
    problems: list[str] = field(default_factory=list)
    total_steps: int | None = None

    def callback_on_step_end(self, pipeline: Any, step: int, timestep: Any, callback_kwargs: dict) -> dict:
        """diffusers' step callback: move schedules to the next step (``step`` just ended)."""
        total = self.total_steps or getattr(pipeline, "num_timesteps", None) or step + 1
        self.patch.set_progress((step + 1) / total, total)
        return callback_kwargs

    def remove(self) -> None:
        self.patch.remove()

    def __enter__(self) -> Activation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class DiffusersLoRAs:
    """Applies ``<lora:…>`` tags to one pipeline; keep one per pipeline (it caches networks)."""

    def __init__(self, pipeline: Any, library: Library, *, mode: str = "hooks", cache: NetworkCache | None = None):
        self.pipeline = pipeline
        self.library = library
        self.mode = mode
        self.cache = cache or NetworkCache()
        self.pool = BufferPool()  # merged weights reuse memory from one generation to the next

    def targets(self) -> dict[str, Any]:
        parts = {
            "unet": getattr(self.pipeline, "unet", None),
            "te1": getattr(self.pipeline, "text_encoder", None),
            "te2": getattr(self.pipeline, "text_encoder_2", None),
        }
        return {name: module for name, module in parts.items() if module is not None}

    def activate(self, prompt: str, negative_prompt: str = "", *, num_inference_steps: int | None = None) -> Activation:
        """Parse, resolve, load and apply the tags of ``prompt``; return the clean prompts."""
        parsed = parse(prompt, negative_prompt)
        problems = [f"{d.severity}: {d.message} ({d.hint})" for d in parsed.diagnostics]
        specs, resolve_problems = specs_for_tags(parsed.positive.tags, self.library, self.cache)
        problems += resolve_problems
        for tag in parsed.negative.tags:
            problems.append(f"{tag.raw}: negative-prompt LoRAs are applied by the A1111 host only; ignored here")
        try:
            patch = apply(self.targets(), specs, mode=self.mode, pool=self.pool)
        except PatchError as error:  # the pipeline is untouched: run it without the LoRAs
            problems.append(f"LoRAs not applied: {error}")
            patch = apply(self.targets(), [], mode=self.mode, pool=self.pool)
        patch.set_progress(0.0, num_inference_steps)
        for report in patch.report():
            problems.extend(report.messages)
        return Activation(parsed.positive.clean, parsed.negative.clean, patch, problems, num_inference_steps)
