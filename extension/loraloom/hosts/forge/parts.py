"""Where Forge keeps a model's parts: ``shared.sd_model`` is a ``ForgeDiffusionEngine`` without
``model``/``cond_stage_model``; the UNet is ``forge_objects.unet.model.diffusion_model`` (LDM
names) and the text encoders are ``forge_objects.clip.cond_stage_model.clip_l`` (``clip_g`` on
SDXL). Forge clones ``forge_objects`` for every batch (the modules are shared), so the parts are
looked up again at every activation."""

from __future__ import annotations

from typing import Any


def forge_targets(sd_model: Any) -> dict[str, Any]:
    objects = getattr(sd_model, "forge_objects", None)
    unet = getattr(getattr(getattr(objects, "unet", None), "model", None), "diffusion_model", None)
    encoders = getattr(getattr(objects, "clip", None), "cond_stage_model", None)
    targets: dict[str, Any] = {}
    if unet is not None:
        targets["unet"] = unet
    for part, name in (("te1", "clip_l"), ("te2", "clip_g")):
        module = getattr(encoders, name, None)
        if module is not None:
            targets[part] = module
    return targets
