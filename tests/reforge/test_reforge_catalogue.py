"""The modules of a real reForge ``3b56b268`` SD1.5 model, as the recorder listed them
(``catalogues/reforge_sd15.json``: path, class, weight shape, dtype and the torch layer class it
subclasses, for every module with a weight in ``sd_model.model.diffusion_model`` and
``sd_model.cond_stage_model``), rebuilt as a module tree of those torch layers on the meta
device and located as the host locates them (``model_parts``): every module a kohya SD1.5 LoRA
(default targets and LoCon's convolutions) and a diffusers/PEFT one names must be found, with
torch's binding — reForge's ``ldm_patched`` layers subclass torch's."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from loraloom.hosts.a1111.targets import model_parts
from loraloom.patching import TORCH
from loraloom.patching.keymap import KeyMap
from tests.fixtures.host_catalogue import missing_kohya_modules, missing_peft_names
from tests.fixtures.models import tree

CATALOGUE = json.loads((Path(__file__).parent / "catalogues" / "reforge_sd15.json").read_text(encoding="utf-8"))
DTYPES = {"torch.float32": torch.float32, "torch.float16": torch.float16}


def layer(base: str, shape: list[int], dtype: str) -> nn.Module | None:
    """A meta-device torch layer of the recorded base class, weight shape and dtype."""
    name = base.rsplit(".", 1)[-1]
    options = {"device": "meta", "dtype": DTYPES.get(dtype, torch.float32)}
    if name == "Linear":
        return nn.Linear(shape[1], shape[0], **options)
    if name == "Conv2d":
        return nn.Conv2d(shape[1], shape[0], shape[2], **options)
    if name == "LayerNorm":
        return nn.LayerNorm(shape[0], **options)
    if name == "GroupNorm":
        return nn.GroupNorm(32, shape[0], **options)
    return None  # embeddings: no LoRA names them


def reforge_model() -> SimpleNamespace:
    """``shared.sd_model`` as reForge lays it out: A1111's attributes over ldm_patched modules."""
    parts = {}
    for part, rows in CATALOGUE.items():
        modules = [(path, layer(base, shape, dtype)) for path, _, shape, dtype, base in rows]
        parts[part] = tree((path, module) for path, module in modules if module is not None)
    return SimpleNamespace(model=SimpleNamespace(diffusion_model=parts["unet"]), cond_stage_model=parts["te1"])


def test_the_catalogue_is_reforges() -> None:
    kinds = {kind for rows in CATALOGUE.values() for _, kind, _, _, _ in rows}
    assert "ldm_patched.modules.ops.disable_weight_init.Linear" in kinds  # the UNet's layers
    assert "ldm_patched.modules.ops.manual_cast.Linear" in kinds  # the text encoder's
    assert len(CATALOGUE["unet"]) > 300 and len(CATALOGUE["te1"]) > 90
    # every layer a LoRA names subclasses torch's: the default binding is the right one
    layers = [row for rows in CATALOGUE.values() for row in rows if row[1].endswith(("Linear", "Conv2d"))]
    assert layers and all(row[4].startswith("torch.nn.modules.") for row in layers)
    # the text encoder keeps fp16 weights (manual_cast) even where the UNet runs fp32
    assert {row[3] for row in CATALOGUE["te1"] if "q_proj" in row[0]} == {"torch.float16"}


@pytest.mark.parametrize("groups", [("attn", "te"), ("attn", "te", "conv")], ids=["kohya-default", "locon"])
def test_every_kohya_sd15_module_is_found_where_the_host_looks(groups: tuple[str, ...]) -> None:
    parts = model_parts(reforge_model())
    assert parts.host == "a1111" and parts.binding is TORCH and set(parts.targets) == {"unet", "te1"}
    keymap = KeyMap(parts.targets, parts.binding)
    missing = missing_kohya_modules(keymap, groups)
    assert missing == [], missing[:5]
    assert keymap.model_family() == "sd1"


def test_diffusers_peft_names_are_found_too() -> None:
    parts = model_parts(reforge_model())
    keymap = KeyMap(parts.targets, parts.binding)
    assert missing_peft_names(keymap) == []
