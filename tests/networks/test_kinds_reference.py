"""Every kind's ΔW against an independent reference, and its on-the-fly path against its ΔW.

References: the ``lycoris-lora`` package's own modules for LyCORIS kinds (LoCon, LoHa, LoKr,
IA3, OFT, BOFT, GLoRA, full, norm, DoRA) and ``peft`` for LoRA and DoRA as diffusers uses them.
fp32, rtol 1e-5.

For LoHa and LoKr the reference is the weight LyCORIS's own *forward* uses
(``get_weight() · scalar · multiplier``): its ``get_diff_weight`` multiplies alpha/rank in a
second time (lycoris-lora 3.x), which neither its forward, A1111 nor ComfyUI do.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from loraloom.networks.adapter import TargetInfo
from loraloom.networks.dora import DoRA
from loraloom.networks.full import Full, Norm
from loraloom.networks.glora import GLoRA
from loraloom.networks.ia3 import IA3
from loraloom.networks.loha import LoHa
from loraloom.networks.lokr import LoKr
from loraloom.networks.lora import LoRA
from loraloom.networks.oft import BOFT, OFT

lycoris_modules = pytest.importorskip("lycoris.modules")
peft = pytest.importorskip("peft")

RTOL, ATOL = 1e-5, 1e-6
SHAPES_AND_TUCKER = [("linear", False), ("conv", False), ("conv", True)]


@pytest.fixture(autouse=True)
def _no_grad():  # type: ignore[no-untyped-def]
    """The references copy tensors into parameters in place, which autograd forbids."""
    torch.manual_seed(0)
    with torch.no_grad():
        yield


def randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape) * 0.1


def make_target(kind: str, out: int = 24, inp: int = 16, k: int = 3) -> nn.Module:
    torch.manual_seed(1)
    module = nn.Conv2d(inp, out, k, padding=1) if kind == "conv" else nn.Linear(inp, out)
    with torch.no_grad():
        module.weight.normal_()
    return module


def getter(tensors: dict[str, torch.Tensor | None]):  # type: ignore[no-untyped-def]
    return lambda suffix: tensors.get(suffix)


def check(ours: torch.Tensor, reference: torch.Tensor) -> None:
    if reference.shape != ours.shape and reference.numel() == ours.numel():
        reference = reference.reshape(ours.shape)  # LyCORIS returns conv ΔW flattened
    torch.testing.assert_close(ours, reference.float(), rtol=RTOL, atol=ATOL)


def forward_delta(reference, multiplier: float) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """The ΔW a LyCORIS LoHa/LoKr module's forward adds at ``multiplier``."""
    return reference.get_weight(reference.shape) * reference.scalar * multiplier


def check_on_the_fly(adapter, module: nn.Module, multiplier: float = 1.0) -> None:  # type: ignore[no-untyped-def]
    """The hooks path (``delta_output``) equals running x through ΔW."""
    x = (
        torch.randn(2, module.weight.shape[1], 8, 8)
        if isinstance(module, nn.Conv2d)
        else torch.randn(3, 5, module.weight.shape[1])
    )
    delta = adapter.delta_weight(module.weight.detach())
    expected = (
        nn.functional.conv2d(x, delta, None, 1, 1) if isinstance(module, nn.Conv2d) else nn.functional.linear(x, delta)
    )
    torch.testing.assert_close(adapter.delta_output(x, module.weight.detach()), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("shape_kind", "tucker"), SHAPES_AND_TUCKER)
@pytest.mark.parametrize("multiplier", [1.0, 0.6, -1.5])
def test_locon_against_lycoris(shape_kind: str, tucker: bool, multiplier: float) -> None:
    module = make_target(shape_kind)
    rank, alpha = 4, 2.0
    if shape_kind == "conv" and tucker:
        down, mid, up = randn(rank, 16, 1, 1), randn(rank, rank, 3, 3), randn(24, rank, 1, 1)
    elif shape_kind == "conv":
        down, mid, up = randn(rank, 16, 3, 3), None, randn(24, rank, 1, 1)
    else:
        down, mid, up = randn(rank, 16), None, randn(24, rank)
    reference = lycoris_modules.LoConModule.make_module_from_state_dict(
        "x", module, up, down, mid, torch.tensor(alpha), None
    )
    ours = LoRA(
        TargetInfo.of(module),
        getter({"lora_down.weight": down, "lora_up.weight": up, "lora_mid.weight": mid, "alpha": torch.tensor(alpha)}),
    )
    check(ours.delta_weight(module.weight.detach(), multiplier), reference.get_diff_weight(multiplier)[0])
    check_on_the_fly(ours, module)


def test_lora_without_alpha_and_with_zero_alpha_has_scale_one() -> None:
    module = make_target("linear")
    down, up = randn(4, 16), randn(24, 4)
    for alpha in (None, torch.tensor(0.0)):
        ours = LoRA(TargetInfo.of(module), getter({"lora_down.weight": down, "lora_up.weight": up, "alpha": alpha}))
        check(ours.delta_weight(module.weight), up @ down)


@pytest.mark.parametrize(("shape_kind", "tucker"), SHAPES_AND_TUCKER)
def test_loha_against_lycoris(shape_kind: str, tucker: bool) -> None:
    module = make_target(shape_kind)
    rank, alpha, k = 4, 3.0, 3
    flat_in = 16 * (k * k if shape_kind == "conv" else 1)
    if tucker:
        t = {
            "hada_t1": randn(rank, rank, k, k),
            "hada_t2": randn(rank, rank, k, k),
            "hada_w1_a": randn(rank, 24),
            "hada_w1_b": randn(rank, 16),
            "hada_w2_a": randn(rank, 24),
            "hada_w2_b": randn(rank, 16),
        }
    else:
        t = {
            "hada_t1": None,
            "hada_t2": None,
            "hada_w1_a": randn(24, rank),
            "hada_w1_b": randn(rank, flat_in),
            "hada_w2_a": randn(24, rank),
            "hada_w2_b": randn(rank, flat_in),
        }
    reference = lycoris_modules.LohaModule.make_module_from_state_dict(
        "x",
        module,
        t["hada_w1_a"],
        t["hada_w1_b"],
        t["hada_w2_a"],
        t["hada_w2_b"],
        t["hada_t1"],
        t["hada_t2"],
        torch.tensor(alpha),
        None,
    )
    ours = LoHa(TargetInfo.of(module), getter({**t, "alpha": torch.tensor(alpha)}))
    check(ours.delta_weight(module.weight.detach(), 0.7), forward_delta(reference, 0.7))
    check_on_the_fly(ours, module)


@pytest.mark.parametrize("shape_kind", ["linear", "conv"])
@pytest.mark.parametrize("layout", ["full", "w2_lowrank", "both_lowrank"])
def test_lokr_against_lycoris(shape_kind: str, layout: str) -> None:
    module = make_target(shape_kind, out=64, inp=64)
    rank, alpha, k = 2, 1.0, 3
    w1 = randn(8, 8)
    w1a, w1b = (randn(8, rank), randn(rank, 8)) if layout == "both_lowrank" else (None, None)
    w2 = w2a = w2b = None
    if layout == "full":
        w2 = randn(8, 8, k, k) if shape_kind == "conv" else randn(8, 8)
    else:
        w2a, w2b = randn(8, rank), randn(rank, 8 * (k * k if shape_kind == "conv" else 1))
    if layout == "both_lowrank":
        w1 = None
    reference = lycoris_modules.LokrModule.make_module_from_state_dict(
        "x", module, w1, w1a, w1b, w2, w2a, w2b, None, None, torch.tensor(alpha), None
    )
    tensors = {
        "lokr_w1": w1,
        "lokr_w1_a": w1a,
        "lokr_w1_b": w1b,
        "lokr_w2": w2,
        "lokr_w2_a": w2a,
        "lokr_w2_b": w2b,
        "alpha": torch.tensor(alpha),
    }
    ours = LoKr(TargetInfo.of(module), getter(tensors))
    check(ours.delta_weight(module.weight.detach(), 1.3), forward_delta(reference, 1.3))
    check_on_the_fly(ours, module)


@pytest.mark.parametrize("shape_kind", ["linear", "conv"])
@pytest.mark.parametrize("on_input", [False, True])
def test_ia3_against_lycoris(shape_kind: str, on_input: bool) -> None:
    module = make_target(shape_kind)
    vector = randn(16 if on_input else 24)
    reference = lycoris_modules.IA3Module("x", module, 1, train_on_input=on_input)
    reference.weight.data.copy_(vector.reshape(reference.weight.shape))
    ours = IA3(TargetInfo.of(module), getter({"weight": vector, "on_input": torch.tensor(on_input)}))
    check(ours.delta_weight(module.weight.detach(), 0.5), reference.get_diff_weight(0.5)[0])
    check_on_the_fly(ours, module)


@pytest.mark.parametrize("shape_kind", ["linear", "conv"])
@pytest.mark.parametrize("constraint", [0.0, 1e-3])
@pytest.mark.parametrize("rescaled", [False, True])
def test_diag_oft_against_lycoris(shape_kind: str, constraint: float, rescaled: bool) -> None:
    module = make_target(shape_kind, out=24)
    blocks = randn(6, 4, 4)
    rescale = (1 + randn(24, *((1, 1, 1) if shape_kind == "conv" else (1,)))) if rescaled else None
    reference = lycoris_modules.DiagOFTModule.make_module_from_state_dict(
        "x", module, blocks, rescale, torch.tensor(constraint)
    )
    ours = OFT(
        TargetInfo.of(module), getter({"oft_blocks": blocks, "rescale": rescale, "alpha": torch.tensor(constraint)})
    )
    # lycoris-lora 3.x cannot evaluate a rescaled OFT at a multiplier other than 1 (a shape error)
    for multiplier in (1.0,) if rescaled else (1.0, 0.4):
        check(ours.delta_weight(module.weight.detach(), multiplier), reference.get_diff_weight(multiplier)[0])
    check_on_the_fly(ours, module)


@pytest.mark.parametrize("shape_kind", ["linear", "conv"])
def test_boft_against_lycoris(shape_kind: str) -> None:
    module = make_target(shape_kind, out=32)
    blocks = randn(3, 4, 8, 8)  # 4 blocks of 8 need 3 butterfly stages
    reference = lycoris_modules.ButterflyOFTModule.make_module_from_state_dict(
        "x", module, blocks, None, torch.tensor(0.0)
    )
    ours = BOFT(TargetInfo.of(module), getter({"oft_blocks": blocks, "alpha": torch.tensor(0.0)}))
    for multiplier in (1.0, 0.5):  # BOFT's multiplier acts inside each stage
        check(ours.delta_weight(module.weight.detach(), multiplier), reference.get_diff_weight(multiplier)[0])


@pytest.mark.parametrize("shape_kind", ["linear", "conv"])
def test_glora_against_lycoris(shape_kind: str) -> None:
    module = make_target(shape_kind)
    rank, alpha = 4, 2.0
    conv = shape_kind == "conv"
    a1 = randn(16, rank, 1, 1) if conv else randn(16, rank)
    a2 = randn(rank, 16, 1, 1) if conv else randn(rank, 16)
    b1 = randn(24, rank, 1, 1) if conv else randn(24, rank)
    b2 = randn(rank, 16, 3, 3) if conv else randn(rank, 16)
    reference = lycoris_modules.GLoRAModule.make_module_from_state_dict(
        "x", module, a1, a2, b1, b2, None, torch.tensor(alpha)
    )
    ours = GLoRA(
        TargetInfo.of(module),
        getter({"a1.weight": a1, "a2.weight": a2, "b1.weight": b1, "b2.weight": b2, "alpha": torch.tensor(alpha)}),
    )
    check(ours.delta_weight(module.weight.detach(), 0.8), reference.get_diff_weight(0.8)[0])
    check_on_the_fly(ours, module)


def test_full_and_norm_against_lycoris() -> None:
    module = make_target("linear")
    diff, diff_b = randn(24, 16), randn(24)
    reference = lycoris_modules.FullModule.make_module_from_state_dict("x", module, diff.clone(), diff_b.clone())
    ours = Full(TargetInfo.of(module), getter({"diff": diff, "diff_b": diff_b}))
    ref_w, ref_b = reference.get_diff_weight(0.5)
    check(ours.delta_weight(module.weight, 0.5), ref_w)
    check(ours.delta_bias() * 0.5, ref_b)
    for norm in (nn.LayerNorm(24), nn.GroupNorm(4, 24)):
        w, b = randn(24), randn(24)
        reference = lycoris_modules.NormModule.make_module_from_state_dict("x", norm, w, b)
        ours_norm = Norm(TargetInfo.of(norm), getter({"w_norm": w, "b_norm": b}), groups=getattr(norm, "num_groups", 0))
        ref_w, ref_b = reference.get_diff_weight(1.5)
        check(ours_norm.delta_weight(norm.weight, 1.5), ref_w)
        check(ours_norm.delta_bias() * 1.5, ref_b)
        x = torch.randn(2, 24, 3, 3) if isinstance(norm, nn.GroupNorm) else torch.randn(2, 5, 24)
        with torch.no_grad():
            base = norm(x)
            norm.weight += w
            norm.bias += b
            expected = norm(x) - base
        torch.testing.assert_close(ours_norm.delta_output(x, norm.weight), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("orientation", ["out", "in"])
@pytest.mark.parametrize("shape_kind", ["linear", "conv"])
def test_dora_against_lycoris_both_orientations(orientation: str, shape_kind: str) -> None:
    module = make_target(shape_kind)
    rank, alpha = 4, 4.0
    conv = shape_kind == "conv"
    down = randn(rank, 16, 3, 3) if conv else randn(rank, 16)
    up = randn(24, rank, 1, 1) if conv else randn(24, rank)
    if orientation == "out":
        scale = 1 + randn(24, *((1, 1, 1) if conv else (1,)))
    else:
        scale = 1 + randn(1, 16, *((1, 1) if conv else ()))
    reference = lycoris_modules.LoConModule(
        "x", module, 1, rank, alpha, weight_decompose=True, wd_on_out=orientation == "out"
    )
    reference.lora_up.weight.data.copy_(up)
    reference.lora_down.weight.data.copy_(down)
    reference.dora_scale.data.copy_(scale)
    base = LoRA(
        TargetInfo.of(module), getter({"lora_down.weight": down, "lora_up.weight": up, "alpha": torch.tensor(alpha)})
    )
    ours = DoRA(base, scale)
    weight = module.weight.detach()
    expected = reference.get_merged_weight(1.0)[0] - weight
    check(ours.delta_weight(weight), expected)
    check(ours.delta_weight(weight, 0.5), expected * 0.5)  # the A1111/ComfyUI strength rule


def peft_layer(module: nn.Module, rank: int, alpha: float, use_dora: bool) -> nn.Module:
    model = nn.Sequential()
    model.add_module("layer", module)
    config = peft.LoraConfig(
        r=rank, lora_alpha=alpha, target_modules=["layer"], use_dora=use_dora, init_lora_weights=False
    )
    return peft.inject_adapter_in_model(config, model).layer


@pytest.mark.parametrize("use_dora", [False, True])
@pytest.mark.parametrize("shape_kind", ["linear", "conv"])
def test_lora_and_dora_against_peft(use_dora: bool, shape_kind: str) -> None:
    module = make_target(shape_kind)
    original = module.weight.detach().clone()
    layer = peft_layer(module, rank=4, alpha=8, use_dora=use_dora)
    down = layer.lora_A["default"].weight.detach().clone()
    up = layer.lora_B["default"].weight.detach().clone()
    tensors = {"lora_down.weight": down, "lora_up.weight": up, "alpha": torch.tensor(8.0)}
    ours = LoRA(TargetInfo.of(module), getter(tensors))
    if use_dora:
        magnitude = layer.lora_magnitude_vector["default"].weight.detach().clone()
        ours = DoRA(ours, magnitude.reshape(-1))
    with torch.no_grad():
        layer.merge()
    check(ours.delta_weight(original), layer.base_layer.weight.detach() - original)
