"""What the recorder writes, shared by the real-WebUI extension and the stand-in's replay.

Each event is a small JSON-able dict; tensors are reduced to their batch size, texts kept as
they are (with A1111's ``is_negative_prompt`` flag), so recordings from a real host and from the
stand-in can be compared as plain data.
"""

from __future__ import annotations

import json
import os
from typing import Any


class Recorder:
    """Collects events in memory and, when ``path`` is given, appends them as JSON lines."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.events: list[dict[str, Any]] = []
        self.handles: list[Any] = []

    def add(self, event: str, **fields: Any) -> None:
        record = {"event": event, **fields}
        self.events.append(record)
        if self.path:
            with open(self.path, "a", encoding="utf-8") as stream:
                stream.write(json.dumps(record, sort_keys=True) + "\n")

    # -- what is recorded ---------------------------------------------------------------------

    def owners(self, extra_networks: Any, when: str) -> None:
        registry = getattr(extra_networks, "extra_network_registry", {})
        aliases = getattr(extra_networks, "extra_network_aliases", {})
        owners = {}
        for name in ("lora", "lyco"):
            owner = registry.get(name) or aliases.get(name)
            kind = type(owner).__name__ if owner is not None else None
            owners[name] = "loraloom" if getattr(owner, "loraloom", False) else kind
        self.add("owners", when=when, **owners)

    def activate(self, p: Any, data: dict) -> None:
        items = {name: [list(map(str, params.items)) for params in args] for name, args in data.items()}
        self.add(
            "activate",
            hr=bool(getattr(p, "is_hr_pass", False)),
            iteration=int(getattr(p, "iteration", 0) or 0),
            networks=items,
            prompts=[str(t) for t in getattr(p, "prompts", []) or []],
        )

    def cfg_denoiser(self, params: Any) -> None:
        denoiser = getattr(params, "denoiser", None)
        sampler = getattr(denoiser, "sampler", None)
        cond = (getattr(sampler, "sampler_extra_args", None) or {}).get("cond")
        self.add(
            "cfg",
            step=getattr(denoiser, "step", None),
            total=getattr(denoiser, "total_steps", None),
            sampling_step=params.sampling_step,
            rows=int(params.x.shape[0]),
            cond_rows=_rows(params.text_cond),
            uncond_rows=_rows(params.text_uncond),
            repeats=[len(parts) for parts in getattr(cond, "batch", [])],
        )

    def attach(self, sd_model: Any) -> None:
        """Forward pre-hooks on the UNet and the text-encoder parts (removed by :meth:`detach`).

        Forge's engine has no ``model``/``cond_stage_model``: its UNet is in ``forge_objects`` and
        its texts are seen at ``get_learned_conditioning`` (its encoders get token ids)."""
        unet = getattr(getattr(sd_model, "model", None), "diffusion_model", None)
        forge = getattr(sd_model, "forge_objects", None)
        if unet is None and forge is not None:
            unet = forge.unet.model.diffusion_model
        if unet is not None:
            self.handles.append(unet.register_forward_pre_hook(self._unet, with_kwargs=True))
        embedders = list(getattr(getattr(sd_model, "conditioner", None), "embedders", []) or [])
        parts = embedders or [getattr(sd_model, "cond_stage_model", None)]
        for index, part in enumerate(parts):
            if part is not None:
                self.handles.append(part.register_forward_pre_hook(self._encoder(f"te{index + 1}")))
        if not any(parts) and forge is not None:
            self.wrapped = sd_model
            encode = sd_model.get_learned_conditioning
            record = self._encoder("engine")

            def get_learned_conditioning(texts: Any, *args: Any, **kwargs: Any) -> Any:
                record(None, (texts,))
                return encode(texts, *args, **kwargs)

            sd_model.get_learned_conditioning = get_learned_conditioning

    def detach(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []
        wrapped = getattr(self, "wrapped", None)
        if wrapped is not None:
            wrapped.__dict__.pop("get_learned_conditioning", None)
            self.wrapped = None

    def _unet(self, module: Any, inputs: tuple, kwargs: dict) -> None:
        fields: dict[str, Any] = {"rows": int(inputs[0].shape[0])}
        options = kwargs.get("transformer_options")
        if isinstance(options, dict) and "cond_or_uncond" in options:
            fields["cond_or_uncond"] = list(options["cond_or_uncond"])
        self.add("unet", **fields)

    def _encoder(self, part: str) -> Any:
        def hook(module: Any, inputs: tuple) -> None:
            texts = inputs[0] if inputs else None
            if isinstance(texts, dict):
                texts = texts.get("txt")
            if isinstance(texts, list):
                negative = bool(getattr(texts, "is_negative_prompt", False))
                self.add("encode", part=part, negative=negative, texts=[str(t) for t in texts])

        return hook


def _rows(tensor: Any) -> int | None:
    if isinstance(tensor, dict):
        tensor = tensor.get("crossattn")
    return int(tensor.shape[0]) if hasattr(tensor, "shape") else None


def catalogue(sd_model: Any) -> dict[str, list[list]]:
    """Every module with a weight in the model's parts: ``[path, class, weight shape, dtype, torch
    base]`` — the torch layer class it subclasses (``""``: none, e.g. Forge's Linear)."""
    forge = getattr(sd_model, "forge_objects", None)
    parts: dict[str, Any] = {}
    unet = getattr(getattr(sd_model, "model", None), "diffusion_model", None)
    if unet is None and forge is not None:
        unet = forge.unet.model.diffusion_model
    parts["unet"] = unet
    embedders = list(getattr(getattr(sd_model, "conditioner", None), "embedders", []) or [])
    if embedders:
        parts.update({f"te{i + 1}": e for i, e in enumerate(embedders)})
    elif getattr(sd_model, "cond_stage_model", None) is not None:
        parts["te1"] = sd_model.cond_stage_model
    elif forge is not None:
        encoders = forge.clip.cond_stage_model
        for part, name in (("te1", "clip_l"), ("te2", "clip_g")):
            if hasattr(encoders, name):
                parts[part] = getattr(encoders, name)
    result = {}
    for part, module in parts.items():
        if module is None:
            continue
        rows = []
        for name, child in module.named_modules():
            weight = getattr(child, "weight", None)
            if hasattr(weight, "shape"):
                kind = type(child)
                bases = (f"{c.__module__}.{c.__qualname__}" for c in kind.__mro__ if c.__module__.startswith("torch."))
                base = next((b for b in bases if b != "torch.nn.modules.module.Module"), "")
                rows.append(
                    [name, f"{kind.__module__}.{kind.__qualname__}", list(weight.shape), str(weight.dtype), base]
                )
        result[part] = rows
    return result


def recorder_from_env() -> Recorder:
    return Recorder(os.environ.get("LORALOOM_RECORD") or None)
