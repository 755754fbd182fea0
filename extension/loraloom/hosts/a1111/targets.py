"""Where the parts of the loaded model live, told by feature (never by a version string).

- A1111 (and reForge, whose ``model.diffusion_model`` is its Forge UNet): SD1/SD2
  ``LatentDiffusion`` — UNet ``model.diffusion_model``, text encoder ``cond_stage_model``; SDXL
  (sgm ``DiffusionEngine``) — ``conditioner.embedders[0]`` (CLIP-L) and ``[1]`` (OpenCLIP bigG).
  Their encoder modules are called with the texts; ``Lora hashes`` holds the addnet hash.
- Forge (a ``ForgeDiffusionEngine`` with ``forge_objects`` and no ``model``): the parts of
  ``forge_objects`` (:mod:`loraloom.hosts.forge.parts`), Forge's layer classes, texts seen at
  ``sd_model.get_learned_conditioning`` (its encoders get token ids); ``Lora hashes`` holds the
  whole-file sha256, as Forge's builtin writes it.

The key map detects the naming inside each part, so only the parts are located here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...activation import addnet_hash, sha256_prefix
from ...activation.plan import HashOf
from ...patching import TORCH, Binding
from ..forge.binding import FORGE
from ..forge.parts import forge_targets


@dataclass(frozen=True)
class ModelParts:
    """One loaded model, as the patcher and the call describer need it."""

    host: str
    """``a1111`` (A1111 and reForge) or ``forge``."""
    targets: dict[str, Any] = field(default_factory=dict)
    binding: Binding = TORCH
    hash_of: HashOf = addnet_hash
    texts_at_method: bool = False
    """Texts are seen at ``sd_model.get_learned_conditioning`` (Forge), not at the encoder modules."""


def model_parts(sd_model: Any) -> ModelParts:
    targets = model_targets(sd_model)
    if targets or sd_model is None:
        return ModelParts("a1111", targets)
    forge = forge_targets(sd_model)
    if forge:
        return ModelParts("forge", forge, FORGE, sha256_prefix, texts_at_method=True)
    return ModelParts("a1111", {})


def model_targets(sd_model: Any) -> dict[str, Any]:
    """``{"unet", "te1"[, "te2"]}`` of an A1111-style ``shared.sd_model`` (empty if there is none)."""
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
