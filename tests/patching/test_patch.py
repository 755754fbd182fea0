"""``apply``/``Patch`` on small real models: hooks and merge agree with a hand-made merge for
every kind, restore is bit-exact, weights/progress/block weights act, problems are reported."""

from __future__ import annotations

import gc
import os

import pytest
import torch
from torch import nn

import loraloom
from loraloom.networks.adapter import TargetInfo
from loraloom.networks.build import build_adapter
from loraloom.syntax import parse_prompt
from tests.fixtures.lora_files import write_file
from tests.fixtures.models import (
    OpenClipLikeEncoder,
    kind_lora_for,
    kohya_lora_for,
    tiny_text_encoder,
    tiny_unet,
)

KINDS = [
    "lora",
    "lora_tucker",
    "dora",
    "loha",
    "loha_tucker",
    "lokr",
    "lokr_lowrank",
    "ia3",
    "oft",
    "boft",
    "glora",
    "full",
]


def unet_inputs(dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    sample = torch.randn(2, 4, 8, 8, generator=generator).to(dtype)
    context = torch.randn(2, 5, 32, generator=generator).to(dtype)
    return sample, torch.tensor([10, 500]), context


def run_unet(unet: nn.Module, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    sample, timestep, context = unet_inputs(dtype)
    with torch.no_grad():
        return unet(sample, timestep, encoder_hidden_states=context).sample


def hand_merged(model: nn.Module, network, prefix: str, multiplier: float) -> nn.Module:  # type: ignore[no-untyped-def]
    """The model with every ΔW added by hand (the reference for both modes)."""
    modules = dict(model.named_modules())
    with torch.no_grad():
        for stem, module in network.modules.items():
            host = _find(modules, prefix, stem)
            adapter = build_adapter(network, module, TargetInfo.of(host), host, host.weight.device)
            host.weight += (adapter.delta_weight(host.weight, multiplier)).to(host.weight.dtype)
            if adapter.delta_bias() is not None and host.bias is not None:
                host.bias += adapter.delta_bias() * multiplier
    return model


def _find(modules: dict[str, nn.Module], prefix: str, stem: str) -> nn.Module:
    flat = stem[len(prefix) + 1 :]
    return next(m for name, m in modules.items() if name.replace(".", "_") == flat)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", ["hooks", "merge"])
def test_both_modes_equal_a_hand_merge(tmp_path, kind: str, mode: str) -> None:
    unet = tiny_unet()
    base = run_unet(unet)
    path = write_file(tmp_path / "x.safetensors", kind_lora_for(unet, "lora_unet", kind))
    network = loraloom.load_network(path)
    expected = run_unet(hand_merged(tiny_unet(), network, "lora_unet", 0.7))
    with loraloom.apply({"unet": unet}, [(network, 0.7, 0.7)], mode=mode) as patch:
        (report,) = patch.report()
        assert report.skipped is None and not report.unmatched and len(report.matched) == len(network.modules)
        patched = run_unet(unet)
    torch.testing.assert_close(patched, expected, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(patched, base)
    assert torch.equal(run_unet(unet), base)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_merge_restores_every_parameter_bit_for_bit(tmp_path, dtype: torch.dtype) -> None:
    unet = tiny_unet(dtype=dtype)
    before = {name: p.detach().clone() for name, p in unet.state_dict().items()}
    network = loraloom.load_network(write_file(tmp_path / "x.safetensors", kohya_lora_for(unet, "lora_unet")))
    patch = loraloom.apply({"unet": unet}, [(network, 1.0, 1.0)], mode="merge")
    assert not all(torch.equal(before[name], p) for name, p in unet.state_dict().items())
    patch.set_weights([0.3])  # re-merge from the originals and cached ΔW
    patch.remove()
    patch.remove()  # idempotent
    assert all(torch.equal(before[name], p) for name, p in unet.state_dict().items())


def test_hooks_never_touch_weights_and_run_in_bf16(tmp_path) -> None:
    unet = tiny_unet(dtype=torch.bfloat16)
    before = {name: p.detach().clone() for name, p in unet.state_dict().items()}
    network = loraloom.load_network(write_file(tmp_path / "x.safetensors", kohya_lora_for(unet, "lora_unet")))
    reference = run_unet(hand_merged(tiny_unet(), network, "lora_unet", 1.0))
    with loraloom.apply({"unet": unet}, [(network, 1.0, 1.0)]):
        out = run_unet(unet, torch.bfloat16)
        assert all(torch.equal(before[name], p) for name, p in unet.state_dict().items())
    torch.testing.assert_close(out.float(), reference, rtol=0.1, atol=0.1)


def test_hooks_keep_the_memory_layout_of_the_module_output(tmp_path) -> None:
    """A 1×1 conv fed a permuted view (LDM's ``proj_out``) answers channels-last; the hooked
    output keeps that layout — the layers after it are the host's, and so is their speed."""
    conv = nn.Conv2d(16, 16, 1).eval()
    model = nn.Module()
    model.add_module("proj_out", conv)
    lora = {
        "lora_unet_proj_out.lora_down.weight": torch.randn(4, 16, 1, 1) * 0.1,
        "lora_unet_proj_out.lora_up.weight": torch.randn(16, 4, 1, 1) * 0.1,
        "lora_unet_proj_out.alpha": torch.tensor(4.0),
    }
    network = loraloom.load_network(write_file(tmp_path / "conv.safetensors", lora))
    tokens = torch.randn(2, 36, 16)  # (batch, h·w, channels), as a transformer block leaves it
    x = tokens.transpose(1, 2).reshape(2, 16, 6, 6)  # the view LDM hands proj_out
    with torch.no_grad():
        plain = conv(x)
        merged = torch.nn.functional.conv2d(
            x,
            conv.weight
            + (
                lora["lora_unet_proj_out.lora_up.weight"].flatten(1)
                @ lora["lora_unet_proj_out.lora_down.weight"].flatten(1)
            )[..., None, None],
            conv.bias,
        )
        with loraloom.apply({"unet": model}, [(network, 1.0, 1.0)]):
            hooked = conv(x)
    assert hooked.stride() == plain.stride()
    torch.testing.assert_close(hooked, merged, rtol=1e-5, atol=1e-6)


def test_several_loras_on_one_module_fuse_and_add_up(tmp_path) -> None:
    unet = tiny_unet()
    first = loraloom.load_network(write_file(tmp_path / "a.safetensors", kohya_lora_for(unet, "lora_unet", seed=1)))
    second = loraloom.load_network(
        write_file(tmp_path / "b.safetensors", kohya_lora_for(unet, "lora_unet", seed=2, rank=8))
    )
    reference = hand_merged(hand_merged(tiny_unet(), first, "lora_unet", 0.5), second, "lora_unet", -1.0)
    expected = run_unet(reference)
    with loraloom.apply({"unet": unet}, [(first, 0.5, 0.5), (second, -1.0, -1.0)]) as patch:
        torch.testing.assert_close(run_unet(unet), expected, rtol=1e-4, atol=1e-5)
        hook = next(h for h in patch._hooks if h.fused)
        assert len(hook.fused) == 1 and len(hook.fused[0].adapters) == 2
        patch.set_weights([0.0, 0.0])
        torch.testing.assert_close(run_unet(unet), run_unet(tiny_unet()), rtol=0, atol=0)


def test_text_encoder_weight_is_separate_from_unet_weight(tmp_path) -> None:
    text_encoder = tiny_text_encoder()
    tokens = torch.tensor([[1, 5, 9, 2]])
    base = text_encoder(tokens).last_hidden_state
    tensors = kohya_lora_for(text_encoder, "lora_te")
    network = loraloom.load_network(write_file(tmp_path / "te.safetensors", tensors))
    with loraloom.apply({"te1": text_encoder}, [(network, 0.0, 1.0)]):
        assert torch.equal(text_encoder(tokens).last_hidden_state, base)
    with loraloom.apply({"te1": text_encoder}, [(network, 1.0, 0.0)]):
        assert not torch.allclose(text_encoder(tokens).last_hidden_state, base)


PROJECTIONS = {
    "self_attn_q_proj": (32, 32),
    "self_attn_k_proj": (32, 32),
    "self_attn_v_proj": (32, 32),
    "self_attn_out_proj": (32, 32),
    "mlp_fc1": (32, 128),
    "mlp_fc2": (128, 32),
}


@pytest.mark.parametrize("mode", ["hooks", "merge"])
def test_open_clip_attention_slices(tmp_path, mode: str) -> None:
    torch.manual_seed(0)
    encoder = OpenClipLikeEncoder()
    x = torch.randn(2, 6, 32)
    base = encoder(x)
    generator = torch.Generator().manual_seed(5)
    tensors = {}
    for layer in range(2):
        for projection, (i, o) in PROJECTIONS.items():
            stem = f"lora_te_text_model_encoder_layers_{layer}_{projection}"
            tensors[f"{stem}.lora_down.weight"] = torch.randn(4, i, generator=generator) * 0.2
            tensors[f"{stem}.lora_up.weight"] = torch.randn(o, 4, generator=generator) * 0.2
    network = loraloom.load_network(write_file(tmp_path / "oc.safetensors", tensors))
    reference = OpenClipLikeEncoder()
    reference.load_state_dict(encoder.state_dict())
    with torch.no_grad():
        for layer, block in enumerate(reference.transformer.resblocks):

            def delta(name: str, layer: int = layer) -> torch.Tensor:
                stem = f"lora_te_text_model_encoder_layers_{layer}_{name}"
                return tensors[f"{stem}.lora_up.weight"] @ tensors[f"{stem}.lora_down.weight"]

            block.attn.in_proj_weight += torch.cat(
                [delta("self_attn_q_proj"), delta("self_attn_k_proj"), delta("self_attn_v_proj")]
            )
            block.attn.out_proj.weight += delta("self_attn_out_proj")
            block.mlp.c_fc.weight += delta("mlp_fc1")
            block.mlp.c_proj.weight += delta("mlp_fc2")
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    with loraloom.apply({"te1": encoder}, [(network, 1.0, 1.0)], mode=mode) as patch:
        assert len(patch.report()[0].matched) == 12
        torch.testing.assert_close(encoder(x), reference(x), rtol=1e-4, atol=1e-5)
        if mode == "hooks":
            assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())
    assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())
    assert torch.equal(encoder(x), base)


def test_schedules_start_stop_and_block_weights(tmp_path) -> None:
    unet = tiny_unet()
    base = run_unet(unet)
    network = loraloom.load_network(write_file(tmp_path / "s.safetensors", kohya_lora_for(unet, "lora_unet")))
    (tag,) = parse_prompt("<lora:s:1@0,0@0.5:start=2:stop=8>").tags
    with loraloom.apply({"unet": unet}, [(network, tag)]) as patch:
        patch.set_progress(0.1, total_steps=10)  # step 1: before start
        assert patch.multipliers == [(0.0, 0.0)] and torch.equal(run_unet(unet), base)
        patch.set_progress(0.25)  # step 2.5: 1 → 0 at half the pass → 0.5
        assert patch.multipliers == [(0.5, 0.5)]
        assert not torch.allclose(run_unet(unet), base)
        patch.set_progress(0.8)  # step 8: stopped
        assert torch.equal(run_unet(unet), base)
    (tag,) = parse_prompt("<lora:s:1:lbw=NONE>").tags
    with loraloom.apply({"unet": unet}, [(network, tag)]) as patch:
        assert torch.equal(run_unet(unet), base)


def test_problems_are_reported_and_the_model_still_runs(tmp_path) -> None:
    unet = tiny_unet()
    base = run_unet(unet)
    tensors = kohya_lora_for(unet, "lora_unet")
    nan_tensors = dict(tensors)
    key = next(k for k in nan_tensors if k.endswith("lora_up.weight"))
    nan_tensors[key] = nan_tensors[key].clone()
    nan_tensors[key][0, 0] = float("nan")
    bad_shape = dict(tensors)
    key = next(k for k in bad_shape if k.endswith("lora_down.weight") and bad_shape[k].dim() == 2)
    bad_shape[key] = torch.zeros(4, 7)
    stray = dict(tensors)
    stray["lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight"] = torch.zeros(4, 32)
    stray["lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_up.weight"] = torch.zeros(32, 4)
    stray["lora_unet_not_a_module.lora_down.weight"] = torch.zeros(4, 32)
    stray["lora_unet_not_a_module.lora_up.weight"] = torch.zeros(32, 4)
    networks = [
        loraloom.load_network(write_file(tmp_path / f"{n}.safetensors", t))
        for n, t in (("nan", nan_tensors), ("shape", bad_shape), ("stray", stray))
    ]
    with loraloom.apply({"unet": unet}, [(n, 1.0, 1.0) for n in networks]) as patch:
        nan_report, shape_report, stray_report = patch.report()
        assert "NaN or infinite" in nan_report.skipped and nan_report.messages
        assert "for a [128, 32] weight" in shape_report.skipped
        assert stray_report.skipped is None
        assert stray_report.unmatched == {
            "lora_te2_text_model_encoder_layers_0_mlp_fc1": "te2 was not given",
            "lora_unet_not_a_module": "no module of the model has this name",
        }
        assert "2 keys not applied" in stray_report.messages[0]
        out = run_unet(unet)
    assert torch.isfinite(out).all()
    assert torch.equal(run_unet(unet), base)


def test_a_lora_for_another_family_is_skipped(tmp_path) -> None:
    from tests.fixtures.lora_files import lora_state_dict
    from tests.fixtures.sd_catalogue import catalogue

    sdxl = lora_state_dict([m for m in catalogue("sdxl") if m.group == "attn"][::50], naming="kohya_ldm")
    network = loraloom.load_network(write_file(tmp_path / "xl.safetensors", sdxl))
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        sd15 = UNet2DConditionModel(cross_attention_dim=768, attention_head_dim=8)
    patch = loraloom.apply({"unet": sd15}, [(network, 1.0, 1.0)])
    assert patch.report()[0].skipped == "is a sdxl LoRA but the model is sd1; skipped"
    patch.remove()


def _rss() -> int:
    with open(f"/proc/{os.getpid()}/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.parametrize("mode", ["hooks", "merge"])
def test_no_leak_over_100_apply_remove_cycles(tmp_path, mode: str) -> None:
    unet = tiny_unet()
    path = write_file(tmp_path / "x.safetensors", kohya_lora_for(unet, "lora_unet", rank=16))
    for _ in range(40):  # warm up allocator pools (glibc arenas grow for the first few dozen cycles)
        with loraloom.apply({"unet": unet}, [(loraloom.load_network(path), 1.0, 1.0)], mode=mode):
            run_unet(unet)
    gc.collect()
    start = _rss()
    for _ in range(100):
        with loraloom.apply({"unet": unet}, [(loraloom.load_network(path), 1.0, 1.0)], mode=mode):
            run_unet(unet)
    gc.collect()
    grown = _rss() - start
    assert grown < 20 * 1024 * 1024, f"RSS grew by {grown / 1e6:.1f} MB over 100 cycles"
    assert not unet._forward_hooks and all(not m._forward_hooks for m in unet.modules())


def test_merge_reapplies_other_weights_from_cached_deltas_and_reuses_pooled_buffers(tmp_path) -> None:
    from loraloom.patching import BufferPool

    unet = tiny_unet()
    network = loraloom.load_network(write_file(tmp_path / "x.safetensors", kohya_lora_for(unet, "lora_unet")))
    expected = {w: run_unet(hand_merged(tiny_unet(), network, "lora_unet", w)) for w in (0.25, -0.5)}
    pool = BufferPool()
    with loraloom.apply({"unet": unet}, [(network, 1.0, 1.0)], mode="merge", pool=pool) as patch:
        patch.set_weights([0.25])  # the first re-merge caches ΔW
        torch.testing.assert_close(run_unet(unet), expected[0.25], rtol=1e-4, atol=1e-5)
        cached = [c.change._delta for c in patch._contributions]
        assert all(delta is not None for delta in cached)
        patch.set_weights([-0.5])  # re-uses them
        assert all(c.change._delta is d for c, d in zip(patch._contributions, cached, strict=True))
        torch.testing.assert_close(run_unet(unet), expected[-0.5], rtol=1e-4, atol=1e-5)
    buffers = pool.nbytes()
    assert buffers > 0  # the host's pool keeps the buffers for the next generation
    with loraloom.apply({"unet": unet}, [(network, 1.0, 1.0)], mode="merge", pool=pool):
        assert pool.nbytes() == 0  # all taken again, none allocated anew
    assert pool.nbytes() == buffers


def test_dyn_keeps_the_first_ranks(tmp_path) -> None:
    unet = tiny_unet()
    tensors = kohya_lora_for(unet, "lora_unet", rank=8)
    truncated = {}
    for key, value in tensors.items():
        if key.endswith("lora_down.weight"):
            value = value[:3]
        elif key.endswith("lora_up.weight"):
            value = value[:, :3]
        truncated[key] = value
    network = loraloom.load_network(write_file(tmp_path / "x.safetensors", tensors))
    manual = loraloom.load_network(write_file(tmp_path / "t.safetensors", truncated))
    (tag,) = parse_prompt("<lora:x:1:dyn=3>").tags
    with loraloom.apply({"unet": unet}, [(network, tag)]):
        ours = run_unet(unet)
    # the same scale as the full rank (alpha / 8), as A1111 applies dyn
    reference = tiny_unet()
    with loraloom.apply({"unet": reference}, [(manual, 3 / 8, 3 / 8)]):
        torch.testing.assert_close(ours, run_unet(reference), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["lora", "loha"])
def test_row_factors_apply_a_network_to_chosen_batch_rows_only(tmp_path, kind: str) -> None:
    unet = tiny_unet()
    base = run_unet(unet)
    network = loraloom.load_network(write_file(tmp_path / "x.safetensors", kind_lora_for(unet, "lora_unet", kind)))
    full = run_unet(hand_merged(tiny_unet(), network, "lora_unet", 1.0))
    with loraloom.apply({"unet": unet}, [(network, 1.0, 1.0)]) as patch:
        patch.set_row_factors(0, [0.0, 1.0])  # e.g. [cond, uncond] of a CFG batch
        mixed = run_unet(unet)
        patch.set_row_factors(0, None)
        torch.testing.assert_close(run_unet(unet), full, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(mixed[0], base[0], rtol=0, atol=0)
    torch.testing.assert_close(mixed[1], full[1], rtol=1e-4, atol=1e-5)
    with loraloom.apply({"unet": unet}, [(network, 1.0, 1.0)], mode="merge") as patch, pytest.raises(ValueError):
        patch.set_row_factors(0, [0.0, 1.0])
