"""Where the parts of A1111's SD1/SD2 and SDXL models are found, and how their names map."""

from __future__ import annotations

from types import SimpleNamespace

from torch import nn

from loraloom.hosts.a1111.targets import model_targets
from loraloom.patching import KeyMap
from tests.fixtures.models import meta_module, open_clip_tree, tree
from tests.fixtures.sd_catalogue import catalogue


def test_sd1_parts() -> None:
    unet, text = nn.Module(), nn.Module()
    model = SimpleNamespace(model=SimpleNamespace(diffusion_model=unet), cond_stage_model=text)
    assert model_targets(model) == {"unet": unet, "te1": text}
    assert model_targets(None) == {}


def test_sdxl_parts_map_every_module() -> None:
    modules = catalogue("sdxl")
    unet = tree((m.ldm, meta_module(m)) for m in modules if m.part == "unet")  # type: ignore[misc]
    clip_l = tree(("wrapped.transformer." + m.path, meta_module(m)) for m in modules if m.part == "te1")
    big_g = nn.Module()
    big_g.wrapped = nn.Module()
    big_g.wrapped.model = open_clip_tree([m for m in modules if m.part == "te2" and m.kind != "norm"])
    model = SimpleNamespace(
        model=SimpleNamespace(diffusion_model=unet), conditioner=SimpleNamespace(embedders=[clip_l, big_g])
    )
    targets = model_targets(model)
    assert set(targets) == {"unet", "te1", "te2"}
    keymap = KeyMap(targets)
    assert keymap.model_family() == "sdxl"
    for module in modules:
        if module.kind == "norm" and module.part == "te2":
            continue
        slot = keymap.find(module.kohya_stem(ldm=True) if module.part == "unet" else module.kohya_stem())
        assert slot is not None and slot.part == module.part and slot.weight_shape == module.weight_shape, module.path
