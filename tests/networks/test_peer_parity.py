"""The layouts where loraloom once disagreed with A1111, ComfyUI or diffusers (issue 13), each on
real safetensors files written here and checked against a reference nobody on this team wrote:
PEFT where it applies the file, else the formula written out from the format's definition (the
source is named at each formula). fp32, within rounding; both modes.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import loraloom
from loraloom.library import summarize_file
from tests.fixtures.lora_files import write_file
from tests.fixtures.models import file_path, kohya_lora_for, tiny_text_encoder, tree

RTOL, ATOL = 1e-5, 1e-6
MODES = ["hooks", "merge"]


def randn(generator: torch.Generator, *shape: int, scale: float = 0.1) -> torch.Tensor:
    return torch.randn(*shape, generator=generator) * scale


def applied(model: nn.Module, path: str, mode: str, multiplier: float, part: str = "unet"):  # type: ignore[no-untyped-def]
    return loraloom.apply({part: model}, [(loraloom.load_network(path), multiplier, multiplier)], mode=mode)


def one_module_model(path: str, module: nn.Module) -> nn.Module:
    torch.manual_seed(1)
    with torch.no_grad():
        module.weight.normal_()
        if module.bias is not None:
            module.bias.normal_()
    return tree([(path, module)])


# -- 1. transformers 5: CLIPTextModel without its text_model level ----------------------------


def text_layouts() -> list[tuple[str, nn.Module]]:
    """The same CLIP text transformer nested under ``text_model.`` and without it (transformers 5's
    CLIPTextModel; transformers 4's ``CLIPTextModel.text_model`` is that same flat layout)."""
    model = tiny_text_encoder()
    if hasattr(model, "text_model"):
        return [("text_model", model), ("flat", model.text_model)]
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    from tests.fixtures.models import TINY_CLIP

    torch.manual_seed(0)
    nested = CLIPTextModelWithProjection(CLIPTextConfig(**TINY_CLIP)).eval()
    nested.text_model.load_state_dict(model.state_dict())
    return [("text_model", nested), ("flat", model)]


def peft_reference(model: nn.Module, tensors: dict[str, torch.Tensor], rank: int, alpha: float) -> nn.Module:
    """PEFT's LoRA layers on a copy of ``model`` holding the file's down/up as lora_A/lora_B."""
    peft = pytest.importorskip("peft")
    reference = copy.deepcopy(model)
    config = peft.LoraConfig(
        r=rank, lora_alpha=alpha, target_modules=["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]
    )
    reference = peft.inject_adapter_in_model(config, reference)
    for name, layer in reference.named_modules():
        if hasattr(layer, "lora_A") and "default" in getattr(layer, "lora_A", {}):
            stem = "lora_te_" + file_path(model, name).replace(".", "_")
            with torch.no_grad():
                layer.lora_A["default"].weight.copy_(tensors[f"{stem}.lora_down.weight"])
                layer.lora_B["default"].weight.copy_(tensors[f"{stem}.lora_up.weight"])
    return reference


@pytest.mark.parametrize("mode", MODES)
def test_text_encoder_with_and_without_text_model_level_against_peft(tmp_path, mode: str) -> None:
    layouts = text_layouts()
    _, nested = layouts[0]
    tensors = kohya_lora_for(nested, "lora_te", rank=4, alpha=2.0, scale=0.3)
    tensors = {k: v for k, v in tensors.items() if "text_projection" not in k}
    assert all(key.startswith("lora_te_text_model_") for key in tensors)  # as real files name them
    path = write_file(tmp_path / "te.safetensors", tensors)
    tokens = torch.tensor([[1, 5, 9, 2, 7]])
    for name, model in layouts:
        expected = peft_reference(model, tensors, rank=4, alpha=2.0)(tokens).last_hidden_state
        base = model(tokens).last_hidden_state
        with applied(model, path, mode, 1.0, part="te1") as patch:
            (report,) = patch.report()
            assert not report.unmatched and len(report.matched) == len(tensors) // 3, name
            ours = model(tokens).last_hidden_state
        torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-5)
        assert not torch.allclose(ours, base), name


# -- 3. LoKr with a Tucker lokr_t2 and a full w1 ----------------------------------------------


def lokr_tucker_reference(w1, t2, w2a, w2b, alpha: float) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """ΔW from LyCORIS's definition (``lycoris/modules/lokr.py``, use_tucker): ``lokr_t2`` is
    [r, r, kh, kw], ``lokr_w2_a`` [r, out_k], ``lokr_w2_b`` [r, in_n]; the second factor is
    W2[:, :, h, w] = w2_aᵀ · t2[:, :, h, w] · w2_b; ΔW = kron(w1, W2) · alpha / r with r the
    LoKr dim (t2's and w2_b's first axis). Written as explicit blocks, not with ``torch.kron``."""
    rank, _, kh, kw = t2.shape
    w2 = torch.stack(
        [torch.stack([w2a.T @ t2[:, :, h, w] @ w2b for w in range(kw)], dim=-1) for h in range(kh)], dim=-2
    )
    out_k, in_n = w2.shape[:2]
    delta = torch.zeros(w1.shape[0] * out_k, w1.shape[1] * in_n, kh, kw)
    for a in range(w1.shape[0]):
        for b in range(w1.shape[1]):
            delta[a * out_k : (a + 1) * out_k, b * in_n : (b + 1) * in_n] = w1[a, b] * w2
    return delta * (alpha / rank)


@pytest.mark.parametrize("mode", MODES)
def test_lokr_tucker_with_full_w1_against_the_lycoris_definition(tmp_path, mode: str) -> None:
    g = torch.Generator().manual_seed(0)
    rank, alpha, multiplier = 4, 3.0, 0.8
    w1, t2 = randn(g, 4, 2), randn(g, rank, rank, 3, 3)
    w2a, w2b = randn(g, rank, 8), randn(g, rank, 16)  # out_k = 8 ≠ rank: the old reading halved ΔW
    stem = "lora_unet_down_blocks_0_resnets_0_conv1"
    tensors = {
        f"{stem}.lokr_w1": w1,
        f"{stem}.lokr_t2": t2,
        f"{stem}.lokr_w2_a": w2a,
        f"{stem}.lokr_w2_b": w2b,
        f"{stem}.alpha": torch.tensor(alpha),
    }
    path = write_file(tmp_path / "lokr.safetensors", tensors)
    assert summarize_file(path).rank == rank
    model = one_module_model("down_blocks.0.resnets.0.conv1", nn.Conv2d(32, 32, 3, padding=1))
    conv = model.get_submodule("down_blocks.0.resnets.0.conv1")
    original = conv.weight.detach().clone()
    delta = lokr_tucker_reference(w1, t2, w2a, w2b, alpha) * multiplier
    x = torch.randn(2, 32, 6, 6, generator=g)
    with torch.no_grad(), applied(model, path, mode, multiplier) as patch:
        assert patch.report()[0].matched
        ours = conv(x)
        if mode == "merge":
            torch.testing.assert_close(conv.weight - original, delta, rtol=RTOL, atol=ATOL)
        expected = F.conv2d(x, original + delta, conv.bias, padding=1)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-5)


# -- 4. legacy oft_diag: the convention of the LyCORIS version that wrote it --------------------


def legacy_oft_reference(weight: torch.Tensor, diag: torch.Tensor, multiplier: float, rotation: bool) -> torch.Tensor:
    """W' from LyCORIS 2.0's ``lycoris/modules/diag_oft.py`` as it saved ``oft_diag``: from
    2.0.0.dev9 (commit 8d01ba3, identity-initialised; A1111's ``network_oft.py`` reads it the
    same way) the blocks are the rotation R itself and W' = (m·R + (1−m)·I)ᵀ per block of output
    rows; before it (2.0.0.dev2–8, zero-initialised) the blocks D are R − I: W' = (m·D + I)ᵀ."""
    count, size, _ = diag.shape
    eye = torch.eye(size)
    merged = weight.clone()
    for k in range(count):
        r = multiplier * diag[k] + (1 - multiplier) * eye if rotation else multiplier * diag[k] + eye
        rows = slice(k * size, (k + 1) * size)
        merged[rows] = (r.T @ weight[rows].reshape(size, -1)).reshape(weight[rows].shape)
    return merged


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("convention", ["rotation", "difference"])
def test_legacy_oft_diag_follows_the_convention_it_was_written_with(tmp_path, mode: str, convention: str) -> None:
    g = torch.Generator().manual_seed(2)
    count, size, multiplier = 6, 4, 0.7
    noise = randn(g, count, size, size, scale=0.05)
    diag = torch.eye(size) + noise if convention == "rotation" else noise
    stem = "lora_unet_down_blocks_0_attentions_0_proj_out"
    path = write_file(tmp_path / "oft.safetensors", {f"{stem}.oft_diag": diag, f"{stem}.alpha": torch.tensor(0.0)})
    model = one_module_model("down_blocks.0.attentions.0.proj_out", nn.Linear(16, count * size))
    linear = model.get_submodule("down_blocks.0.attentions.0.proj_out")
    original = linear.weight.detach().clone()
    expected_weight = legacy_oft_reference(original, diag, multiplier, convention == "rotation")
    x = torch.randn(3, 16, generator=g)
    with torch.no_grad(), applied(model, path, mode, multiplier) as patch:
        (report,) = patch.report()
        assert len(report.conventions) == 1 and convention in report.conventions[0]
        assert report.to_json()["conventions"] == report.conventions
        ours = linear(x)
        if mode == "merge":
            torch.testing.assert_close(linear.weight, expected_weight, rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(ours, F.linear(x, expected_weight, linear.bias), rtol=1e-4, atol=1e-5)


def test_current_oft_blocks_need_no_convention_note(tmp_path) -> None:
    stem = "lora_unet_down_blocks_0_attentions_0_proj_out"
    blocks = randn(torch.Generator().manual_seed(3), 6, 4, 4)
    path = write_file(tmp_path / "oft.safetensors", {f"{stem}.oft_blocks": blocks, f"{stem}.alpha": torch.tensor(0.0)})
    model = one_module_model("down_blocks.0.attentions.0.proj_out", nn.Linear(16, 24))
    with applied(model, path, "hooks", 1.0) as patch:
        assert patch.report()[0].matched and patch.report()[0].conventions == []


# -- 5. GLoRA in LyCORIS-1 naming -------------------------------------------------------------


def glora_v1_reference(module: nn.Module, x: torch.Tensor, a1, a2, b1, b2, alpha: float, m: float) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """The output LyCORIS 1.x's GLoRA forward gives (``lycoris/modules/glora.py`` at commit
    68b1957): a1 = Linear(in→r), a2 = Linear(r→in), b1 = Linear(in→r), b2 = Linear(r→out), so the
    saved weights are a1 [r, in], a2 [in, r], b1 [r, in], b2 [out, r] (1×1 convs for Conv2d);
    y = W(x + a2(a1(x)·s)) + b2(b1(x)·s) with s = alpha/r · m (r = a1's first axis)."""
    scale = alpha / a1.shape[0] * m
    if isinstance(module, nn.Conv2d):
        step = lambda t, w: F.conv2d(t, w.reshape(*w.shape[:2], 1, 1))  # noqa: E731
        shifted = x + step(step(x, a1) * scale, a2)
        return module(shifted) + step(step(x, b1) * scale, b2)
    shifted = x + F.linear(F.linear(x, a1) * scale, a2)
    return module(shifted) + F.linear(F.linear(x, b1) * scale, b2)


GLORA_TARGETS = [("to_k", 16, 24, "linear"), ("to_q", 16, 16, "linear"), ("conv", 16, 24, "conv")]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("name", "inputs", "outputs", "layer"), GLORA_TARGETS, ids=["linear", "square", "conv1x1"])
def test_glora_in_lycoris1_naming_is_detected_and_applied(
    tmp_path, mode: str, name: str, inputs: int, outputs: int, layer: str
) -> None:
    g = torch.Generator().manual_seed(4)
    rank, alpha, multiplier = 4, 2.0, 0.9
    conv = layer == "conv"
    a1, a2 = randn(g, rank, inputs), randn(g, inputs, rank)
    b1, b2 = randn(g, rank, inputs), randn(g, outputs, rank)
    spatial = (1, 1) if conv else ()
    path_in_model = f"down_blocks.0.attentions.0.transformer_blocks.0.attn1.{name}"
    stem = "lora_unet_" + path_in_model.replace(".", "_")
    tensors = {
        f"{stem}.a1.weight": a1.reshape(*a1.shape, *spatial),
        f"{stem}.a2.weight": a2.reshape(*a2.shape, *spatial),
        f"{stem}.b1.weight": b1.reshape(*b1.shape, *spatial),
        f"{stem}.b2.weight": b2.reshape(*b2.shape, *spatial),
        f"{stem}.alpha": torch.tensor(alpha),
    }
    path = write_file(tmp_path / "glora.safetensors", tensors)
    summary = summarize_file(path)
    assert summary.kinds == {"glora": 1} and summary.rank == rank
    module = nn.Conv2d(inputs, outputs, 1) if conv else nn.Linear(inputs, outputs)
    model = one_module_model(path_in_model, module)
    reference_module = copy.deepcopy(module)
    x = torch.randn(2, inputs, 3, 3, generator=g) if conv else torch.randn(3, inputs, generator=g)
    with torch.no_grad():
        expected = glora_v1_reference(reference_module, x, a1, a2, b1, b2, alpha, multiplier)
        with applied(model, path, mode, multiplier) as patch:
            (report,) = patch.report()
            assert report.matched and not report.skipped and not report.problems
            assert len(report.conventions) == 1 and "LyCORIS-1" in report.conventions[0]
            ours = module(x)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-5)
