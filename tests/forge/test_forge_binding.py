"""The Forge binding: Forge-shaped layers (plain ``nn.Module`` Linears, fp8 storage) are found,
patched in hooks mode exactly like torch's, restored exactly; packed layers (bitsandbytes 4-bit,
GGUF) take the kinds that never read the layer's weight, and anything else is reported by name
instead of being skipped silently."""

from __future__ import annotations

import pytest
import torch

import loraloom
from loraloom.hosts.forge.binding import FORGE
from loraloom.hosts.forge.parts import forge_targets
from loraloom.networks.network import load_network
from tests.fixtures.lora_files import write_file
from tests.fixtures.models import kind_lora_for, kohya_lora_for, tiny_text_encoder
from tests.forge.forge_layers import BNBLinear, GGUFLinear, Linear, forgeify, quantize_linears


@pytest.fixture
def lora(tmp_path):  # type: ignore[no-untyped-def]
    tensors = kohya_lora_for(tiny_text_encoder(0), "lora_te", seed=3, scale=0.3)
    return load_network(str(write_file(tmp_path / "words.safetensors", tensors)))


def encode(model, ids):  # type: ignore[no-untyped-def]
    with torch.no_grad():
        return model(ids).last_hidden_state


IDS = torch.tensor([[1, 5, 9, 3, 2, 7, 4, 8]])


def test_forge_linears_take_the_same_lora_as_torch_linears(lora) -> None:
    reference, forge = tiny_text_encoder(0), forgeify(tiny_text_encoder(0))
    assert any(type(m) is Linear for m in forge.modules())
    base = encode(forge, IDS)
    before = {k: v.clone() for k, v in forge.state_dict().items()}
    with loraloom.patching.apply({"te1": reference}, [(lora, 1.0, 1.0)]):
        expected = encode(reference, IDS)
    with loraloom.patching.apply({"te1": forge}, [(lora, 1.0, 1.0)], binding=FORGE) as patch:
        report = patch.report()[0]
        assert report.unmatched == {} and report.matched, report
        torch.testing.assert_close(encode(forge, IDS), expected, rtol=1e-5, atol=1e-6)
    assert torch.equal(encode(forge, IDS), base)
    assert all(torch.equal(before[k], v) for k, v in forge.state_dict().items())
    assert not any(m._forward_hooks for m in forge.modules())


def test_without_the_binding_forge_linears_are_invisible(lora) -> None:
    forge = forgeify(tiny_text_encoder(0))
    with loraloom.patching.apply({"te1": forge}, [(lora, 1.0, 1.0)]) as patch:
        assert len(patch.report()[0].unmatched) > len(patch.report()[0].matched)


def test_fp8_storage_works_in_hooks_mode(lora) -> None:
    fp8 = forgeify(tiny_text_encoder(0), storage=torch.float8_e4m3fn)
    base = encode(fp8, IDS)
    with loraloom.patching.apply({"te1": fp8}, [(lora, 1.0, 1.0)], binding=FORGE) as patch:
        assert patch.report()[0].unmatched == {}
        changed = encode(fp8, IDS)
    assert not torch.allclose(changed, base)
    assert torch.equal(encode(fp8, IDS), base)


def raw_parameters(model) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    """Every parameter's stored data (packed bytes included), copied."""
    return {k: torch.Tensor.as_subclass(v, torch.Tensor).detach().clone() for k, v in model.named_parameters()}


@pytest.mark.parametrize("layer", [BNBLinear, GGUFLinear], ids=["bitsandbytes-4bit", "gguf-q8_0"])
@pytest.mark.parametrize("kind", ["lora", "loha"])
def test_packed_layers_take_loras_in_hooks_mode(tmp_path, layer, kind: str) -> None:
    packed, dense = quantize_linears(tiny_text_encoder(0), layer)
    assert not any(isinstance(m, torch.nn.Linear) for m in packed.modules())
    tensors = kind_lora_for(tiny_text_encoder(0), "lora_te", kind, seed=4)
    network = load_network(str(write_file(tmp_path / f"{kind}.safetensors", tensors)))
    base = encode(packed, IDS)
    torch.testing.assert_close(base, encode(dense, IDS), rtol=1e-5, atol=1e-5)  # the twin is exact
    before = raw_parameters(packed)
    with loraloom.patching.apply({"te1": dense}, [(network, 1.0, 1.0)]):
        expected = encode(dense, IDS)
    with loraloom.patching.apply({"te1": packed}, [(network, 1.0, 1.0)], binding=FORGE) as patch:
        report = patch.report()[0]
        assert report.unmatched == {} and len(report.matched) == len(network.modules), report
        changed = encode(packed, IDS)
    assert not torch.allclose(changed, base)
    torch.testing.assert_close(changed, expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(encode(packed, IDS), base)
    assert all(torch.equal(before[k], v) for k, v in raw_parameters(packed).items())
    assert not any(m._forward_hooks for m in packed.modules())


def test_kinds_that_read_the_layer_weight_are_reported_on_packed_layers(tmp_path) -> None:
    packed, _ = quantize_linears(tiny_text_encoder(0), BNBLinear)
    tensors = kind_lora_for(tiny_text_encoder(0), "lora_te", "dora", seed=4)
    network = load_network(str(write_file(tmp_path / "dora.safetensors", tensors)))
    base = encode(packed, IDS)
    with loraloom.patching.apply({"te1": packed}, [(network, 1.0, 1.0)], binding=FORGE) as patch:
        report = patch.report()[0]
        assert encode(packed, IDS).equal(base)
    reason = report.unmatched["lora_te_text_model_encoder_layers_0_self_attn_q_proj"]
    assert "te1:text_model.encoder.layers.0.self_attn.q_proj" in reason
    assert "packed (bitsandbytes nf4)" in reason and "reads the layer's own weight" in reason


def test_a_packed_layer_that_hides_its_shape_is_reported_by_name(lora) -> None:
    packed = forgeify(tiny_text_encoder(0))
    layer = packed.text_model.encoder.layers[0].self_attn.q_proj
    del layer.in_features, layer.out_features
    layer.weight = torch.nn.Parameter(torch.zeros(32 * 32 // 2, dtype=torch.uint8), requires_grad=False)
    with loraloom.patching.apply({"te1": packed}, [(lora, 1.0, 1.0)], binding=FORGE) as patch:
        unmatched = patch.report()[0].unmatched
    reason = unmatched["lora_te_text_model_encoder_layers_0_self_attn_q_proj"]
    assert "layers.0.self_attn.q_proj" in reason and "does not tell its (out, in) shape" in reason
    assert "packed uint8" in reason


def test_merge_mode_is_refused_in_forge(lora) -> None:
    with pytest.raises(ValueError, match="merge mode is not available in Forge"):
        loraloom.patching.apply(
            {"te1": forgeify(tiny_text_encoder(0))}, [(lora, 1.0, 1.0)], mode="merge", binding=FORGE
        )


def test_forge_targets_come_from_forge_objects() -> None:
    from types import SimpleNamespace

    unet, clip_l = torch.nn.Module(), torch.nn.Module()
    engine = SimpleNamespace(
        forge_objects=SimpleNamespace(
            unet=SimpleNamespace(model=SimpleNamespace(diffusion_model=unet)),
            clip=SimpleNamespace(cond_stage_model=SimpleNamespace(clip_l=clip_l)),
        )
    )
    assert forge_targets(engine) == {"unet": unet, "te1": clip_l}
