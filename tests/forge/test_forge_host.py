"""loraloom in Forge, on the stand-in run in Forge's flavour (``shared.flavour = "forge"``) with
a Forge-shaped engine (:mod:`.standin_engine`) and Forge's builtin ``sd_forge_lora`` registering
last: tags owned, applied through the Forge binding, exact restore, negative and per-image rows
from ``cond_or_uncond``, schedules, hires weights, Forge's hash — and the stand-in replays the
recordings of a real Forge ``dfdcbab6`` (``recordings/``)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from loraloom.activation import Row
from tests.a1111.test_a1111_host import BUILTIN, ROOT, fresh_standin, generate, load_script
from tests.a1111.test_recordings import assert_replays
from tests.fixtures.lora_files import write_file
from tests.fixtures.models import kohya_lora_for
from tests.forge.standin_engine import ForgeEngine

RECORDINGS = sorted((Path(__file__).parent / "recordings").glob("*.json"))


def start_forge():  # type: ignore[no-untyped-def]
    from fastapi import FastAPI
    from modules import extra_networks, script_callbacks

    script_callbacks.clear_callbacks()
    extra_networks.initialize()
    script_callbacks.extension_roots.clear()
    script_callbacks.extension_roots.update({"sd_forge_lora": str(BUILTIN), "loraloom": str(ROOT)})
    builtin = load_script(BUILTIN / "scripts" / "lora_script.py", BUILTIN)
    ours = load_script(ROOT / "scripts" / "loraloom.py", ROOT)
    script_callbacks.ui_settings_callback()
    script_callbacks.before_ui_callback()
    script_callbacks.app_started_callback(None, FastAPI())
    return ours, builtin


@pytest.fixture
def forge(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    shared, host, folder = fresh_standin(monkeypatch, tmp_path, "forge")
    engine = ForgeEngine()
    ink = kohya_lora_for(engine.unet, "lora_unet", seed=1)
    ink.update(kohya_lora_for(engine.text_encoder, "lora_te", seed=3))
    write_file(folder / "ink.safetensors", ink)
    write_file(folder / "wc.safetensors", kohya_lora_for(engine.unet, "lora_unet", seed=2))
    shared.sd_model = engine
    script, builtin = start_forge()
    return SimpleNamespace(shared=shared, host=host, model=engine, folder=folder, script=script, builtin=builtin)


def state(engine: ForgeEngine) -> dict[str, torch.Tensor]:
    return {f"{i}.{k}": v.clone() for i, m in enumerate(engine.modules) for k, v in m.state_dict().items()}


def hooks_left(engine: ForgeEngine) -> bool:
    return any(m._forward_hooks or m._forward_pre_hooks for part in engine.modules for m in part.modules())


def test_loraloom_owns_the_tags_and_forge_layers_take_the_lora(forge) -> None:
    from modules import extra_networks

    assert getattr(extra_networks.extra_network_registry["lora"], "loraloom", False)
    before = state(forge.model)
    _, base = generate(forge, "a cat")
    p, with_lora = generate(forge, "a cat <lora:ink:1>")
    assert not torch.allclose(with_lora, base)
    report = forge.host.get_session().applied.patch.report()[0]
    assert report.unmatched == {} and any(k.startswith("lora_te_") for k in report.matched), report.unmatched
    library = forge.host.get_session().library
    assert p.extra_generation_params["Lora hashes"] == f"ink: {library.hashes(library.get('ink')).sha256[:12]}"
    assert forge.builtin.ExtraNetworkLora.applied == []
    _, again = generate(forge, "a cat")
    assert torch.equal(again, base)
    after = state(forge.model)
    assert all(torch.equal(before[k], after[k]) for k in before) and not hooks_left(forge.model)


def test_merge_mode_is_reported_and_hooks_are_used(forge) -> None:
    forge.shared.opts.loraloom_mode = "merge"
    _, hooks = generate(forge, "a cat <lora:ink:1>")
    forge.shared.opts.loraloom_mode = "hooks"
    p, _ = generate(forge, "a cat <lora:ink:1>")
    assert not p.comments
    forge.shared.opts.loraloom_mode = "merge"
    p, merged = generate(forge, "a cat <lora:ink:1>")
    assert any("merge mode is not available in Forge" in c for c in p.comments)
    assert torch.equal(merged, hooks)


def test_negative_tags_act_on_the_unconditional_chunk_only(forge) -> None:
    _, base = generate(forge, "a cat", "ugly")
    _, unet_part = generate(forge, "a cat", "ugly <lora:ink:0:1>")
    _, text_part = generate(forge, "a cat", "ugly <lora:ink:1:0>")
    assert not torch.equal(unet_part, base) and not torch.equal(text_part, base)
    rows = forge.host.get_session().core.applied.rows
    assert rows.unet_factors([Row(0, True), Row(0)]) == {0: [1.0, 0.0]}
    _, cfg1_base = generate(forge, "a cat", "ugly", cfg_scale=1)
    _, cfg1 = generate(forge, "a cat", "ugly <lora:ink:1>", cfg_scale=1)
    assert torch.equal(cfg1, cfg1_base)  # no unconditional chunk at CFG 1: a negative LoRA changes nothing


def test_each_image_of_a_batch_equals_its_prompt_alone(forge) -> None:
    prompts = ["x <lora:ink:1>", "x", "x <lora:wc:1>"]
    _, batch = generate(forge, "", "<lora:wc:0.5>", batch_size=3, all_prompts=prompts, all_seeds=[5] * 3)
    for index, prompt in enumerate(prompts):
        _, alone = generate(forge, prompt, "<lora:wc:0.5>", seed=5)
        torch.testing.assert_close(batch[index], alone[0], rtol=1e-4, atol=1e-5)


def test_schedules_and_hires_weights_act(forge) -> None:
    _, zero = generate(forge, "x <lora:ink:0>", steps=2)
    _, one = generate(forge, "x <lora:ink:1>", steps=2)
    _, scheduled = generate(forge, "x <lora:ink:0@0,1@0.5>", steps=2)
    assert not torch.equal(scheduled, zero) and not torch.equal(scheduled, one)
    _, plain = generate(forge, "x <lora:ink:1>", enable_hr=True, steps=2)
    _, hr_zero = generate(forge, "x <lora:ink:1:hr=0>", enable_hr=True, steps=2)
    assert not torch.equal(hr_zero, plain)
    # Forge encodes the hires conditionings during the first pass, with the hires tags activated
    # outside the hires pass: their text-encoder weights must be the hires ones
    _, off = generate(forge, "x <lora:ink:0>", enable_hr=True, steps=2)
    _, hires_text = generate(forge, "x <lora:ink:0:hrte=1>", enable_hr=True, steps=2)
    assert not torch.equal(hires_text, off)


def test_a_checkpoint_switch_retargets(forge) -> None:
    from modules import script_callbacks

    generate(forge, "x <lora:ink:1>")
    old = forge.model
    forge.shared.sd_model = ForgeEngine(seed=4)
    script_callbacks.model_loaded_callback(forge.shared.sd_model)
    assert not hooks_left(old)
    generate(forge, "x <lora:ink:1>")
    assert forge.host.get_session().applied.patch.report()[0].unmatched == {}


@pytest.mark.parametrize("path", RECORDINGS, ids=[p.stem for p in RECORDINGS])
def test_the_stand_in_replays_the_real_forge(forge, path: Path) -> None:
    assert_replays(forge, path)


def test_there_are_forge_recordings_of_every_scenario() -> None:
    assert {p.stem for p in RECORDINGS} >= {"batch2", "negative", "hires", "schedule", "img2img", "and_batch", "cfg1"}
