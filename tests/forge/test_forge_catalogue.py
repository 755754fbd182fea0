"""The modules of a real Forge ``dfdcbab6`` SD1.5 model, as the recorder listed them: with the
fp16 checkpoint (``catalogues/forge_sd15.json``) and with a GGUF Q8_0 one, whose UNet Linears
are ``ForgeOperationsGGUF.Linear`` (``catalogues/forge_sd15_gguf_q8.json``) — path, class,
weight shape, dtype (and the torch base class) of every module with a weight in
``forge_objects.unet.model.diffusion_model`` and ``forge_objects.clip.cond_stage_model.clip_l``.
Each is rebuilt as a module tree of Forge-shaped layers (GGUF ones with packed weights): every
module a kohya SD1.5 LoRA (default targets and LoCon's convolutions) and a diffusers/PEFT one
names must be found, with the Forge binding, and none may be found without it where Forge's
layers are not torch's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from loraloom.hosts.forge.binding import FORGE
from loraloom.patching.keymap import KeyMap
from tests.fixtures.host_catalogue import missing_kohya_modules, missing_peft_names
from tests.fixtures.models import tree
from tests.forge.forge_layers import GGUFLinear, Linear

FOLDER = Path(__file__).parent / "catalogues"
CATALOGUES = {
    name: json.loads((FOLDER / f"{name}.json").read_text(encoding="utf-8"))
    for name in ("forge_sd15", "forge_sd15_gguf_q8")
}
CATALOGUE = CATALOGUES["forge_sd15"]


def layer(kind: str, shape: list[int]) -> nn.Module | None:
    """A meta-device layer of Forge's class ``kind`` (its Conv2d/norms subclass torch's; its Linear does not)."""
    name = kind.rsplit(".", 1)[-1]
    if kind.endswith("ForgeOperationsGGUF.Linear"):
        return GGUFLinear(nn.Linear(shape[1], shape[0], device="meta"))
    with torch.device("meta"):
        if name == "Linear":
            module = Linear(shape[1], shape[0])
            module.weight = nn.Parameter(torch.empty(shape), requires_grad=False)
            return module
        if name == "Conv2d":
            return nn.Conv2d(shape[1], shape[0], shape[2])
        if name == "LayerNorm":
            return nn.LayerNorm(shape[0])
        if name == "GroupNorm":
            return nn.GroupNorm(32, shape[0])
    return None


def forge_parts(recording: str = "forge_sd15") -> dict[str, nn.Module]:
    parts = {}
    for part, rows in CATALOGUES[recording].items():
        modules = [(path, layer(kind, shape)) for path, kind, shape, *_ in rows]
        parts[part] = tree((path, module) for path, module in modules if module is not None)
    return parts


def test_the_catalogue_is_forges() -> None:
    kinds = {kind for rows in CATALOGUE.values() for _, kind, *_ in rows}
    assert "backend.operations.ForgeOperations.Linear" in kinds
    assert len(CATALOGUE["unet"]) > 300 and len(CATALOGUE["te1"]) > 90
    gguf = {row[1] for row in CATALOGUES["forge_sd15_gguf_q8"]["unet"] if row[0].endswith("attn1.to_q")}
    assert gguf == {"backend.operations.ForgeOperationsGGUF.Linear"}


@pytest.mark.parametrize("recording", list(CATALOGUES))
@pytest.mark.parametrize("groups", [("attn", "te"), ("attn", "te", "conv")], ids=["kohya-default", "locon"])
def test_every_kohya_sd15_module_is_found_in_forges_model(recording: str, groups: tuple[str, ...]) -> None:
    keymap = KeyMap(forge_parts(recording), FORGE)
    missing = missing_kohya_modules(keymap, groups)
    assert missing == [], missing[:5]
    assert keymap.model_family() == "sd1"


def test_diffusers_peft_names_are_found_too() -> None:
    keymap = KeyMap(forge_parts(), FORGE)
    assert missing_peft_names(keymap) == []


def test_without_the_forge_binding_its_linears_are_invisible() -> None:
    keymap = KeyMap(forge_parts())
    assert keymap.find("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q") is None
    assert keymap.find("lora_unet_conv_in") is not None  # Forge's Conv2d is a torch Conv2d
