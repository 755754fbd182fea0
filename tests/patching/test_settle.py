"""Settled hooks (``settle_bytes``): a module whose multipliers repeat runs a merged copy of its
weight for the forward only. The output must be the added-outputs one (to fp32 rounding), the
host's tensors must be its own between forwards and bit for bit after removal, and anything that
moves (a schedule, per-row factors, a replaced or rewritten weight, a new weight) must be seen."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

import loraloom
from loraloom.patching import BufferPool
from tests.fixtures.lora_files import write_file
from tests.fixtures.models import kind_lora_for, kohya_lora_for, tiny_text_encoder, tiny_unet
from tests.forge.forge_layers import GGUFLinear, forgeify, quantize_linears
from tests.patching.test_patch import run_unet

BUDGET = 1 << 30


@pytest.fixture
def unet_and_lora(tmp_path):  # type: ignore[no-untyped-def]
    unet = tiny_unet()
    network = loraloom.load_network(
        write_file(tmp_path / "x.safetensors", kohya_lora_for(unet, "lora_unet", scale=0.3))
    )
    return unet, network


def added_outputs(unet: nn.Module, network, weight: float = 0.8, **options) -> torch.Tensor:  # type: ignore[no-untyped-def]
    with loraloom.apply({"unet": unet}, [(network, weight, weight)], **options):
        return run_unet(unet)


def data_pointers(model: nn.Module) -> dict[str, int]:
    return {name: p.data_ptr() for name, p in model.named_parameters()}


def test_steady_networks_run_the_merged_copy_from_the_first_forward(unet_and_lora) -> None:
    unet, network = unet_and_lora
    before = {name: p.detach().clone() for name, p in unet.state_dict().items()}
    pointers = data_pointers(unet)
    reference = added_outputs(unet, network)
    with loraloom.apply({"unet": unet}, [(network, 0.8, 0.8)], settle_bytes=BUDGET) as patch:
        first = run_unet(unet)
        assert patch._settle.used > 0
        assert data_pointers(unet) == pointers  # between forwards: the host's own tensors
        second = run_unet(unet)
    torch.testing.assert_close(first, reference, rtol=1e-5, atol=1e-5)
    assert torch.equal(first, second)  # the same tags give the same output from the first call on
    assert all(torch.equal(before[name], p) for name, p in unet.state_dict().items())


def test_the_module_runs_one_product_when_settled(unet_and_lora, monkeypatch) -> None:
    """Settled means no adapter arithmetic: the hooks' own products are not called at all."""
    from loraloom.patching import hooks

    unet, network = unet_and_lora
    calls = []
    original = hooks._Fused.accumulate
    monkeypatch.setattr(hooks._Fused, "accumulate", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    with loraloom.apply({"unet": unet}, [(network, 0.8, 0.8)]):
        run_unet(unet)
    added = len(calls)
    with loraloom.apply({"unet": unet}, [(network, 0.8, 0.8)], settle_bytes=BUDGET):
        run_unet(unet), run_unet(unet)
    assert added > 0 and len(calls) == added


def test_a_new_weight_gets_a_new_copy(unet_and_lora) -> None:
    unet, network = unet_and_lora
    at_03 = added_outputs(unet, network, 0.3)
    with loraloom.apply({"unet": unet}, [(network, 0.8, 0.8)], settle_bytes=BUDGET) as patch:
        run_unet(unet)
        patch.set_weights([0.3])
        changed = run_unet(unet)
    with loraloom.apply({"unet": unet}, [(network, 0.3, 0.3)], settle_bytes=BUDGET):
        fresh = run_unet(unet)
    torch.testing.assert_close(changed, at_03, rtol=1e-5, atol=1e-5)
    assert torch.equal(changed, fresh)  # re-weighted equals applied at that weight, bit for bit


@pytest.mark.parametrize("tag", ["<lora:x:0@0,1@1>", "<lora:x:1:start=0.5>", "<lora:x:1:stop=2>"])
def test_networks_that_move_within_a_pass_keep_adding_outputs(unet_and_lora, tag: str) -> None:
    unet, network = unet_and_lora
    (parsed,) = loraloom.syntax.parse_prompt(tag).tags
    outputs = {}
    for settle in (0, BUDGET):
        with loraloom.apply({"unet": unet}, [(network, parsed)], settle_bytes=settle) as patch:
            for step in range(4):
                patch.set_progress(step / 4, total_steps=4)
                outputs.setdefault(settle, []).append(run_unet(unet))
            assert settle == 0 or patch._settle.used == 0
    for added, other in zip(outputs[0], outputs[BUDGET], strict=True):
        assert torch.equal(added, other)


def test_rows_with_their_own_factors_add_outputs(unet_and_lora) -> None:
    unet, network = unet_and_lora
    with loraloom.apply({"unet": unet}, [(network, 1.0, 1.0)]) as patch:
        patch.set_row_factors(0, [0.0, 1.0])
        reference = run_unet(unet)
    with loraloom.apply({"unet": unet}, [(network, 1.0, 1.0)], settle_bytes=BUDGET) as patch:
        patch.set_row_factors(0, [0.0, 1.0])
        outputs = [run_unet(unet) for _ in range(3)]
        assert patch._settle.used == 0
    for out in outputs:
        torch.testing.assert_close(out, reference, rtol=0, atol=0)


def test_a_small_budget_settles_some_layers_and_the_sum_is_unchanged(unet_and_lora) -> None:
    unet, network = unet_and_lora
    reference = added_outputs(unet, network)
    with loraloom.apply({"unet": unet}, [(network, 0.8, 0.8)], settle_bytes=40_000) as patch:
        out = run_unet(unet)
        assert 0 < patch._settle.used <= 40_000 and patch._settle.refused > 0
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5)


def test_a_replaced_or_rewritten_weight_gets_a_new_copy(unet_and_lora) -> None:
    """Hosts replace parameters (Forge's loader, device moves) or write them in place."""
    unet, network = unet_and_lora
    layer = unet.down_blocks[0].attentions[0].transformer_blocks[0].attn1.to_q
    with loraloom.apply({"unet": unet}, [(network, 0.8, 0.8)], settle_bytes=BUDGET):
        run_unet(unet), run_unet(unet)
        layer.weight = nn.Parameter(layer.weight.detach() * 2, requires_grad=False)
        replaced = [run_unet(unet) for _ in range(2)]
        with torch.no_grad():
            layer.weight.add_(0.5)
        rewritten = [run_unet(unet) for _ in range(2)]
    reference_replaced = added_outputs(unet, network)  # the layer keeps the rewritten weight now
    with torch.no_grad():
        layer.weight.sub_(0.5)
    reference_before_rewrite = added_outputs(unet, network)
    for out in replaced:
        torch.testing.assert_close(out, reference_before_rewrite, rtol=1e-5, atol=1e-5)
    for out in rewritten:
        torch.testing.assert_close(out, reference_replaced, rtol=1e-5, atol=1e-5)


def test_a_host_that_keeps_moving_a_weight_gets_added_outputs_for_that_layer(unet_and_lora) -> None:
    """A1111's ``--lowvram`` moves blocks between devices every step: a merge per step would
    cost more than it saves, so after a few moves the layer adds its outputs (still exact)."""
    unet, network = unet_and_lora
    layer = unet.down_blocks[0].attentions[0].transformer_blocks[0].attn1.to_q
    with loraloom.apply({"unet": unet}, [(network, 0.8, 0.8)], settle_bytes=BUDGET) as patch:
        (hook,) = [h for h in patch._hooks if h.module is layer]
        for _ in range(5):
            layer.weight = nn.Parameter(layer.weight.detach().clone(), requires_grad=False)  # "moved"
            out = run_unet(unet)
        assert hook.settled.failed and hook.settled.weight is None
        assert sum(h.settled.weight is not None for h in patch._hooks) == len(patch._hooks) - 1
    torch.testing.assert_close(out, added_outputs(unet, network), rtol=1e-5, atol=1e-5)


def test_weights_made_in_inference_mode_settle(tmp_path) -> None:
    """Forge loads its weights under ``torch.inference_mode`` (no version counter)."""
    with torch.inference_mode():
        unet = tiny_unet()
    network = loraloom.load_network(
        write_file(tmp_path / "x.safetensors", kohya_lora_for(unet, "lora_unet", scale=0.3))
    )
    with torch.inference_mode():
        reference = added_outputs(unet, network)
        with loraloom.apply({"unet": unet}, [(network, 0.8, 0.8)], settle_bytes=BUDGET) as patch:
            run_unet(unet)
            out = run_unet(unet)
            assert patch._settle.used > 0
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("storage", "compute", "copy_dtype"),
    [
        (torch.float16, torch.float32, torch.float32),  # Forge/reForge text encoders on a CPU
        (torch.float32, torch.float32, torch.float32),
    ],
)
def test_a_layer_that_casts_per_forward_gets_a_copy_in_its_compute_dtype(
    tmp_path, storage, compute, copy_dtype
) -> None:
    encoder = forgeify(tiny_text_encoder(0), storage=storage)
    network = loraloom.load_network(
        write_file(tmp_path / "te.safetensors", kohya_lora_for(tiny_text_encoder(0), "lora_te", scale=0.3))
    )
    ids = torch.tensor([[1, 5, 9, 3, 2, 7, 4, 8]])
    from loraloom.hosts.forge.binding import FORGE

    with torch.no_grad():
        with loraloom.apply({"te1": encoder}, [(network, 0.8, 0.8)], binding=FORGE):
            reference = encoder(ids).last_hidden_state
        with loraloom.apply({"te1": encoder}, [(network, 0.8, 0.8)], binding=FORGE, settle_bytes=BUDGET) as patch:
            encoder(ids)
            settled = encoder(ids).last_hidden_state
            copies = {hook.settled.weight.dtype for hook in patch._hooks if hook.settled.weight is not None}
    assert copies == {copy_dtype}
    assert all(p.dtype == storage for name, p in encoder.named_parameters() if name.endswith("proj.weight"))
    torch.testing.assert_close(settled, reference, rtol=1e-5, atol=1e-5)


def test_under_autocast_the_copy_keeps_the_dtype_autocast_computes_in(tmp_path) -> None:
    """bf16 weights fed fp32 under autocast compute in bf16: an fp32 copy would only double
    the memory and be cast back at every forward."""
    model = nn.Sequential(nn.Linear(16, 16), nn.Linear(16, 16)).to(torch.bfloat16)
    network = loraloom.load_network(write_file(tmp_path / "x.safetensors", kohya_lora_for(model, "lora_unet")))
    x = torch.randn(2, 16)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        with loraloom.apply({"unet": model}, [(network, 0.8, 0.8)]):
            reference = model(x)
        with loraloom.apply({"unet": model}, [(network, 0.8, 0.8)], settle_bytes=BUDGET) as patch:
            out = model(x)
            copies = {hook.settled.weight.dtype for hook in patch._hooks}
    assert copies == {torch.bfloat16}
    torch.testing.assert_close(out.float(), reference.float(), rtol=0.05, atol=0.05)


def test_a_forward_that_raises_still_gets_the_original_back(unet_and_lora) -> None:
    unet, network = unet_and_lora
    layer = unet.down_blocks[0].attentions[0].proj_in
    pointers = data_pointers(unet)

    def fail(module, inputs, output):  # type: ignore[no-untyped-def]
        raise RuntimeError("host fault in a later hook")

    with loraloom.apply({"unet": unet}, [(network, 0.8, 0.8)], settle_bytes=BUDGET):
        run_unet(unet), run_unet(unet)
        handle = layer.register_forward_hook(fail)
        with pytest.raises(RuntimeError, match="host fault"):
            run_unet(unet)
        handle.remove()
        assert data_pointers(unet) == pointers


def test_a_copy_that_cannot_be_built_falls_back_to_added_outputs(unet_and_lora, monkeypatch, caplog) -> None:
    unet, network = unet_and_lora
    reference = added_outputs(unet, network)

    def out_of_memory(self, like, dtype=None):  # type: ignore[no-untyped-def]
        raise torch.OutOfMemoryError("no room for a merged copy")

    monkeypatch.setattr(BufferPool, "take", out_of_memory)
    with (
        caplog.at_level(logging.WARNING, "loraloom"),
        loraloom.apply({"unet": unet}, [(network, 0.8, 0.8)], settle_bytes=BUDGET) as patch,
    ):
        outputs = [run_unet(unet) for _ in range(3)]
        assert patch._settle.used == 0 and all(hook.settled.failed for hook in patch._hooks if hook.settled)
    for out in outputs:
        torch.testing.assert_close(out, reference, rtol=0, atol=0)
    assert "adds its LoRAs' outputs instead" in caplog.text


def test_two_settled_patches_on_one_model_add_up_and_unwind(tmp_path, unet_and_lora) -> None:
    unet, network = unet_and_lora
    other = loraloom.load_network(
        write_file(tmp_path / "y.safetensors", kohya_lora_for(unet, "lora_unet", seed=5, scale=0.3))
    )
    before = {name: p.detach().clone() for name, p in unet.state_dict().items()}
    with loraloom.apply({"unet": unet}, [(network, 0.8, 0.8), (other, 0.5, 0.5)]):
        reference = run_unet(unet)
    first = loraloom.apply({"unet": unet}, [(network, 0.8, 0.8)], settle_bytes=BUDGET)
    second = loraloom.apply({"unet": unet}, [(other, 0.5, 0.5)], settle_bytes=BUDGET)
    outputs = [run_unet(unet) for _ in range(3)]
    assert first._settle.used > 0 and second._settle.used > 0
    first.remove()
    second.remove()
    for out in outputs:
        torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5)
    assert all(torch.equal(before[name], p) for name, p in unet.state_dict().items())


@pytest.mark.parametrize("kind", ["loha", "lokr", "ia3", "full", "dora", "glora"])
def test_other_kinds_settle_to_the_same_sum(tmp_path, kind: str) -> None:
    unet = tiny_unet()
    network = loraloom.load_network(write_file(tmp_path / "x.safetensors", kind_lora_for(unet, "lora_unet", kind)))
    reference = added_outputs(unet, network, 0.7)
    with loraloom.apply({"unet": unet}, [(network, 0.7, 0.7)], settle_bytes=BUDGET) as patch:
        run_unet(unet)
        out = run_unet(unet)
        assert patch._settle.used > 0
    torch.testing.assert_close(out, reference, rtol=1e-4, atol=1e-5)


def test_packed_layers_and_training_keep_adding_outputs(tmp_path) -> None:
    from loraloom.hosts.forge.binding import FORGE

    packed, dense = quantize_linears(tiny_text_encoder(0), GGUFLinear)
    network = loraloom.load_network(
        write_file(tmp_path / "te.safetensors", kohya_lora_for(dense, "lora_te", scale=0.3))
    )
    ids = torch.tensor([[1, 5, 9, 3, 2, 7, 4, 8]])
    with (
        torch.no_grad(),
        loraloom.apply({"te1": packed}, [(network, 0.8, 0.8)], binding=FORGE, settle_bytes=BUDGET) as patch,
    ):
        packed(ids), packed(ids)
        assert patch._settle.used == 0
    unet = tiny_unet()
    network = loraloom.load_network(write_file(tmp_path / "x.safetensors", kohya_lora_for(unet, "lora_unet")))
    with loraloom.apply({"unet": unet}, [(network, 0.8, 0.8)], settle_bytes=BUDGET) as patch:
        sample = torch.randn(1, 4, 8, 8)
        for _ in range(2):
            unet(sample, torch.tensor([10]), encoder_hidden_states=torch.randn(1, 5, 32)).sample.sum()
        assert patch._settle.used == 0  # autograd on: the graph must see the adapters


def test_the_autocast_dtype_is_read_on_torch_before_2_4_too(monkeypatch) -> None:
    """A1111 v1.10.1 installs torch 2.1: no ``torch.get_autocast_dtype(device)`` there."""
    from loraloom.patching import hooks

    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert hooks._autocast_dtype("cpu") == torch.bfloat16
        monkeypatch.delattr(torch, "get_autocast_dtype")
        assert hooks._autocast_dtype("cpu") == torch.bfloat16
    assert hooks._autocast_dtype("cpu") is None
