"""Identification from keys and shapes: format, family, kinds, rank/alpha, parts, for every kind."""

from __future__ import annotations

import pytest
import torch

from loraloom.library import summarize_file
from tests.fixtures.lora_files import kohya_metadata, lora_state_dict, write_file
from tests.fixtures.sd_catalogue import catalogue

KINDS = {  # fixture kind -> (reported kind, has rank)
    "lora": ("lora", True),
    "lora_tucker": ("lora", True),
    "dora": ("dora", True),
    "loha": ("loha", True),
    "loha_tucker": ("loha", True),
    "lokr": ("lokr", False),
    "lokr_lowrank": ("lokr", True),
    "ia3": ("ia3", False),
    "oft": ("oft", False),
    "boft": ("boft", False),
    "glora": ("glora", True),
    "full": ("full", False),
    "norm": ("norm", False),
}
# Kinds whose tensors show the target's width or conv-ness: the keys alone tell SD1.x from SD2.x.
WIDTH_KINDS = {"lora", "lora_tucker", "dora", "loha", "lokr", "glora", "full"}


def modules_for(family: str, kind: str, coverage: str) -> list:
    groups = {"norm"} if kind == "norm" else {"attn", "te", "conv"} if coverage == "full" else {"attn", "te"}
    parts = {"unet"} if coverage == "unet" else {"te1", "te2"} if coverage == "te" else {"unet", "te1", "te2"}
    modules = [m for m in catalogue(family) if m.group in groups and m.part in parts]
    step = 3 if family != "sdxl" else 9
    picked = modules[::step]
    if kind == "full":  # a full diff is as large as the layer: keep the file small
        picked = [m for m in picked if m.inputs * m.outputs * m.kernel**2 <= 1_100_000][:24]
    assert picked, (family, kind, coverage)
    return picked


CASES = [
    (family, kind, coverage)
    for family in ("sd1", "sd2", "sdxl")
    for kind in KINDS
    for coverage in ("full", "unet", "te")
    if not (kind == "norm" and coverage == "full")
    and not (family == "sd2" and coverage == "unet" and kind not in WIDTH_KINDS)
]


@pytest.mark.parametrize(("family", "kind", "coverage"), CASES, ids=["-".join(c) for c in CASES])
def test_identification_from_keys_alone(tmp_path, family: str, kind: str, coverage: str) -> None:
    modules = modules_for(family, kind, coverage)
    naming = "kohya_ldm" if family == "sdxl" else "kohya"
    path = write_file(tmp_path / "x.safetensors", lora_state_dict(modules, kind, rank=4, alpha=2.0, naming=naming))
    summary = summarize_file(path)
    reported, has_rank = KINDS[kind]
    assert summary.format == "kohya"
    assert summary.family == family, summary.family_reason
    assert summary.kinds == {reported: len(modules)}
    assert summary.modules == len(modules)
    assert summary.parts == sorted({m.part for m in modules})
    assert summary.dtype == "float16"
    if has_rank:
        assert (summary.rank, summary.alpha) == (4, 2.0)
    assert summary.problems == []


@pytest.mark.parametrize("kind", sorted(set(KINDS) - WIDTH_KINDS))
def test_sd2_unet_only_kinds_without_width_use_metadata(tmp_path, kind: str) -> None:
    tensors = lora_state_dict(modules_for("sd2", kind, "unet"), kind)
    path = write_file(tmp_path / "x.safetensors", tensors, kohya_metadata("sd_v2"))
    assert summarize_file(path).family == "sd2"


def test_sdxl_diffusers_paths_and_ldm_paths_are_both_sdxl(tmp_path) -> None:
    modules = [m for m in catalogue("sdxl") if m.group == "attn"][::20]
    for naming in ("kohya", "kohya_ldm"):
        path = write_file(tmp_path / f"{naming}.safetensors", lora_state_dict(modules, naming=naming))
        summary = summarize_file(path)
        assert (summary.family, summary.format, summary.modules) == ("sdxl", "kohya", len(modules))


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_peft_files(tmp_path, family: str) -> None:
    modules = [m for m in catalogue(family) if m.group in ("attn", "te")][::7]
    metadata = {"format": "pt", "lora_adapter_metadata": '{"r": 4, "lora_alpha": 8, "target_modules": ["to_k"]}'}
    path = write_file(
        tmp_path / "p.safetensors", lora_state_dict(modules, naming="peft", dtype=torch.float32), metadata
    )
    summary = summarize_file(path)
    assert (summary.format, summary.family, summary.kinds) == ("diffusers", family, {"lora": len(modules)})
    assert (summary.rank, summary.alpha, summary.dtype) == (4, 8.0, "float32")
    assert set(summary.parts) == {m.part for m in modules}


def test_old_diffusers_attention_processor_keys(tmp_path) -> None:
    tensors = {
        "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.processor.to_k_lora.down.weight": torch.zeros(
            4, 768
        ),
        "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.processor.to_k_lora.up.weight": torch.zeros(320, 4),
        "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.processor.to_out_lora.down.weight": torch.zeros(
            4, 320
        ),
        "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.processor.to_out_lora.up.weight": torch.zeros(
            320, 4
        ),
    }
    summary = summarize_file(write_file(tmp_path / "old.safetensors", tensors))
    assert (summary.format, summary.family, summary.kinds, summary.rank) == ("diffusers", "sd1", {"lora": 2}, 4)


def test_dora_both_orientations(tmp_path) -> None:
    modules = [m for m in catalogue("sd1") if m.group == "attn"][:10]
    for orientation in ("out", "in"):
        tensors = lora_state_dict(modules, "dora", dora_orientation=orientation)
        assert summarize_file(write_file(tmp_path / f"{orientation}.safetensors", tensors)).kinds == {"dora": 10}


def test_keys_beat_wrong_metadata_and_say_so(tmp_path) -> None:
    modules = [m for m in catalogue("sdxl") if m.group in ("attn", "te")][::25]
    path = write_file(tmp_path / "x.safetensors", lora_state_dict(modules, naming="kohya_ldm"), kohya_metadata("sd_v1"))
    summary = summarize_file(path)
    assert summary.family == "sdxl"
    assert any("metadata says sd1 but the keys are sdxl" in p for p in summary.problems)


@pytest.mark.parametrize(
    ("key", "architecture"),
    [
        ("lora_unet_double_blocks_0_img_attn_qkv", "Flux"),
        ("lora_unet_single_blocks_3_linear1", "Flux"),
        ("transformer.joint_blocks.0.context_block.attn.qkv", "SD3"),
        ("lora_prior_unet_down_blocks_0_attentions_0_to_q", "Stable Cascade"),
    ],
)
def test_other_architectures_are_unknown_with_a_clear_message(tmp_path, key: str, architecture: str) -> None:
    tensors = {f"{key}.lora_down.weight": torch.zeros(4, 64), f"{key}.lora_up.weight": torch.zeros(64, 4)}
    summary = summarize_file(write_file(tmp_path / "x.safetensors", tensors))
    assert summary.family == "unknown"
    assert any(f"likely {architecture}" in p for p in summary.problems)


def test_missing_alpha_bf16_and_stray_keys(tmp_path) -> None:
    modules = [m for m in catalogue("sd1") if m.group == "attn"][:6]
    tensors = lora_state_dict(modules, dtype=torch.bfloat16)
    tensors = {k: v for k, v in tensors.items() if not k.endswith(".alpha")}
    tensors["something_else.weird"] = torch.zeros(3)
    summary = summarize_file(write_file(tmp_path / "x.safetensors", tensors))
    assert (summary.rank, summary.alpha, summary.dtype, summary.modules) == (4, None, "bfloat16", 6)
    assert any("1 keys match no known LoRA kind" in p for p in summary.problems)


def test_alpha_in_bf16_and_fp32_is_read_exactly(tmp_path) -> None:
    modules = [m for m in catalogue("sd1") if m.group == "attn"][:2]
    for dtype in (torch.bfloat16, torch.float32, torch.float16):
        tensors = lora_state_dict(modules, rank=8, alpha=3.5, dtype=dtype)
        summary = summarize_file(write_file(tmp_path / f"{dtype}.safetensors", tensors))
        assert (summary.rank, summary.alpha) == (8, 3.5)


def test_largest_rank_and_its_alpha(tmp_path) -> None:
    modules = [m for m in catalogue("sd1") if m.group == "attn"]
    tensors = lora_state_dict(modules[:5], rank=4, alpha=1.0)
    tensors.update(lora_state_dict(modules[5:8], rank=16, alpha=8.0, seed=1))
    summary = summarize_file(write_file(tmp_path / "x.safetensors", tensors))
    assert (summary.rank, summary.alpha, summary.modules) == (16, 8.0, 8)


def test_params_and_blocks(tmp_path) -> None:
    modules = [m for m in catalogue("sd1") if m.group in ("attn", "te")]
    tensors = lora_state_dict(modules)
    summary = summarize_file(write_file(tmp_path / "x.safetensors", tensors))
    assert summary.params == sum(t.numel() for t in tensors.values())
    assert summary.modules == 264
    expected_blocks = ["BASE", "IN01", "IN02", "IN04", "IN05", "IN07", "IN08", "M00"]
    expected_blocks += [f"OUT{i:02d}" for i in range(3, 12)]
    assert summary.blocks == expected_blocks
