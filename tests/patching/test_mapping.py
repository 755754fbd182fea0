"""Key mapping on module trees with the real SD1.5, SD2.1 and SDXL names and shapes.

Trees are built on the meta device (names and shapes, no memory): diffusers-named and
LDM/sgm-named UNets, HF CLIP text encoders (bare and wrapped as A1111 does) and open_clip text
encoders whose q/k/v share one ``in_proj_weight``. Every stem spelling of every module must
land on a weight of the module's shape.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from loraloom.patching import KeyMap
from tests.fixtures.models import meta_module, open_clip_tree, tree
from tests.fixtures.sd_catalogue import SD15_UNET, SDXL_UNET, catalogue

FAMILIES = ["sd1", "sd2", "sdxl"]


def unet_tree(family: str, naming: str) -> nn.Module:
    modules = [m for m in catalogue(family) if m.part == "unet"]
    return tree(((m.ldm if naming == "ldm" else m.path), meta_module(m)) for m in modules)  # type: ignore[misc]


def hf_text_tree(family: str, part: str, wrapped: bool, flat: bool = False) -> nn.Module:
    """``flat``: without the ``text_model.`` level, as transformers 5's ``CLIPTextModel``."""
    prefix = "wrapped.transformer." if wrapped else ""
    return tree(
        (prefix + (m.path.removeprefix("text_model.") if flat else m.path), meta_module(m))
        for m in catalogue(family)
        if m.part == part
    )


def expected_shape(module) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    return module.weight_shape


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("naming", ["diffusers", "ldm"])
def test_every_unet_module_is_found_under_every_spelling(family: str, naming: str) -> None:
    keymap = KeyMap({"unet": unet_tree(family, naming)})
    modules = [m for m in catalogue(family) if m.part == "unet"]
    for module in modules:
        own = module.ldm if naming == "ldm" else module.path
        for stem in (module.kohya_stem(ldm=False), module.kohya_stem(ldm=True), f"unet.{module.path}"):
            slot = keymap.find(stem)
            assert slot is not None, (stem, naming)
            assert slot.path == own and slot.weight_shape == expected_shape(module), stem


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("wrapped", [False, True])
@pytest.mark.parametrize("flat", [False, True], ids=["text_model", "transformers5"])
def test_hf_text_encoders(family: str, wrapped: bool, flat: bool) -> None:
    parts = ["te1", "te2"] if family == "sdxl" else ["te1"]
    keymap = KeyMap({part: hf_text_tree(family, part, wrapped, flat) for part in parts})
    for module in (m for m in catalogue(family) if m.part in parts):
        peft_prefix = "text_encoder_2" if module.part == "te2" else "text_encoder"
        for stem in (module.kohya_stem(), f"{peft_prefix}.{module.path}"):
            slot = keymap.find(stem)
            assert slot is not None and slot.part == module.part, stem
            assert slot.weight_shape == expected_shape(module)
    if family == "sdxl":  # kohya SDXL writes lora_te1_ for the first encoder
        assert keymap.find("lora_te1_text_model_encoder_layers_0_self_attn_q_proj").part == "te1"  # type: ignore[union-attr]


@pytest.mark.parametrize("projection", [False, True], ids=["CLIPTextModel", "CLIPTextModelWithProjection"])
def test_real_transformers_text_models_map_as_files_name_them(projection: bool) -> None:
    """Whatever the installed transformers nests (5 dropped ``text_model.`` from CLIPTextModel
    only), files' ``text_model`` stems land, and SDXL's ``lora_te2_text_projection`` too."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)
    with torch.device("meta"):
        model = (CLIPTextModelWithProjection if projection else CLIPTextModel)(config)
    part = "te2" if projection else "te1"
    keymap = KeyMap({part: model})
    prefix = "lora_te2" if projection else "lora_te"
    for stem in (
        f"{prefix}_text_model_encoder_layers_1_self_attn_q_proj",
        f"{prefix}_text_model_encoder_layers_0_mlp_fc2",
        f"{prefix}_text_model_final_layer_norm",
    ):
        slot = keymap.find(stem)
        assert slot is not None and slot.part == part, stem
        assert slot.module is model.get_submodule(slot.path)
    slot = keymap.find("lora_te2_text_projection")
    if projection:
        assert slot is not None and slot.module is model.text_projection
        assert keymap.find("text_encoder_2.text_projection") is slot
    else:
        assert slot is None


@pytest.mark.parametrize(("family", "part"), [("sd2", "te1"), ("sdxl", "te2")])
def test_open_clip_text_encoders_slice_in_proj(family: str, part: str) -> None:
    modules = [m for m in catalogue(family) if m.part == part and m.kind != "norm"]
    keymap = KeyMap({part: open_clip_tree(modules)})
    width = next(m.inputs for m in modules if m.path.endswith("q_proj"))
    for module in modules:
        slot = keymap.find(module.kohya_stem())
        assert slot is not None, module.path
        assert slot.weight_shape == expected_shape(module)
        if module.path.endswith(("q_proj", "k_proj", "v_proj")):
            index = ("q_proj", "k_proj", "v_proj").index(module.path.rsplit(".", 1)[1])
            assert slot.mha_slice is not None and slot.rows == slice(index * width, (index + 1) * width)
            assert slot.weight is slot.module.in_proj_weight
        elif module.path.endswith("out_proj"):
            assert slot.weight is slot.module.out_proj.weight


def test_real_diffusers_sd15_unet_names_match_the_catalogue() -> None:
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        unet = UNet2DConditionModel(cross_attention_dim=SD15_UNET.cross, attention_head_dim=8)
    keymap = KeyMap({"unet": unet})
    for module in (m for m in catalogue("sd1") if m.part == "unet"):
        slot = keymap.find(module.kohya_stem(ldm=True))
        assert slot is not None and slot.path == module.path and slot.weight_shape == expected_shape(module)


def test_real_diffusers_sdxl_unet_names_match_the_catalogue() -> None:
    from diffusers import UNet2DConditionModel

    config = dict(
        block_out_channels=SDXL_UNET.channels,
        cross_attention_dim=SDXL_UNET.cross,
        layers_per_block=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 2, 10),
        attention_head_dim=(5, 10, 20),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2816,
    )
    with torch.device("meta"):
        unet = UNet2DConditionModel(**config)
    keymap = KeyMap({"unet": unet})
    modules = [m for m in catalogue("sdxl") if m.part == "unet"]
    for module in modules:
        slot = keymap.find(module.kohya_stem(ldm=True))
        assert slot is not None and slot.path == module.path and slot.weight_shape == expected_shape(module), module.ldm
    assert keymap.model_family() == "sdxl"


@pytest.mark.parametrize(("family", "expected"), [("sd1", "sd1"), ("sd2", "sd2"), ("sdxl", "sdxl")])
def test_model_family_from_the_unet(family: str, expected: str) -> None:
    assert KeyMap({"unet": unet_tree(family, "ldm")}).model_family() == expected


@pytest.mark.parametrize("binding", ["torch", "forge"])
def test_norms_without_weights_are_mapped_without_touching_them(binding: str) -> None:
    """SD3/Flux-style ``LayerNorm(elementwise_affine=False)`` has ``weight = None``."""
    from loraloom.hosts.forge.binding import FORGE
    from loraloom.patching import TORCH

    model = tree([("norm", nn.LayerNorm(8, elementwise_affine=False)), ("proj", nn.Linear(8, 8))])
    keymap = KeyMap({"unet": model}, FORGE if binding == "forge" else TORCH)
    assert keymap.find("lora_unet_proj").weight_shape == (8, 8)
