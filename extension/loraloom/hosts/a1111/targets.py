"""Where the parts of an A1111 model live (SD1.x, SD2.x, SDXL), for the patcher.

SD1/SD2 (``LatentDiffusion``): UNet ``model.diffusion_model``, text encoder ``cond_stage_model``
(A1111's wrapper around HF CLIP, or around open_clip for SD2). SDXL (sgm ``DiffusionEngine``):
``conditioner.embedders[0]`` (CLIP-L) and ``[1]`` (OpenCLIP bigG). The key map detects the
naming inside each part, so only the parts are located here.
"""

from __future__ import annotations

from typing import Any


def model_targets(sd_model: Any) -> dict[str, Any]:
    """``{"unet", "te1"[, "te2"]}`` of an A1111 ``shared.sd_model`` (empty if there is none)."""
    if sd_model is None:
        return {}
    targets: dict[str, Any] = {}
    wrapper = getattr(sd_model, "model", None)
    unet = getattr(wrapper, "diffusion_model", None)
    if unet is not None:
        targets["unet"] = unet
    conditioner = getattr(sd_model, "conditioner", None)
    embedders = list(getattr(conditioner, "embedders", []) or [])
    if embedders:
        targets["te1"] = embedders[0]
        if len(embedders) > 1:
            targets["te2"] = embedders[1]
    elif getattr(sd_model, "cond_stage_model", None) is not None:
        targets["te1"] = sd_model.cond_stage_model
    return targets
