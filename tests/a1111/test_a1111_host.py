"""The A1111 host on a stand-in of A1111 v1.10.1 (``standin/``) that runs a generation in A1111's
order — the order ``test_recordings.py`` checks against recordings from a real A1111 — with the
builtin Lora extension's registration present, as on every install."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from tests.a1111.standin_model import StandInModel
from tests.fixtures.lora_files import write_file
from tests.fixtures.models import kohya_lora_for

ROOT = Path(__file__).resolve().parents[2]
STANDIN = Path(__file__).resolve().parent / "standin"
BUILTIN = STANDIN / "extensions-builtin" / "Lora"


def load_script(path: Path, root: Path):  # type: ignore[no-untyped-def]
    """Exec a script file as A1111's ``load_module`` does (its extension root on sys.path meanwhile)."""
    saved = list(sys.path)
    sys.path.insert(0, str(root))
    try:
        spec = importlib.util.spec_from_file_location(path.name, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    finally:
        sys.path[:] = saved
    return module


def start_webui(folder_name: str = "loraloom"):  # type: ignore[no-untyped-def]
    """Scripts loaded (builtin extensions first), then ``before_ui`` and ``app_started`` callbacks."""
    from fastapi import FastAPI
    from modules import extra_networks, script_callbacks

    script_callbacks.clear_callbacks()
    extra_networks.initialize()
    script_callbacks.extension_roots.clear()
    script_callbacks.extension_roots.update({"lora": str(BUILTIN), folder_name: str(ROOT)})
    builtin = load_script(BUILTIN / "scripts" / "lora_script.py", BUILTIN)
    ours = load_script(ROOT / "scripts" / "loraloom.py", ROOT)
    script_callbacks.ui_settings_callback()
    script_callbacks.before_ui_callback()
    app = FastAPI()
    script_callbacks.app_started_callback(None, app)
    return ours, builtin, app


def fresh_standin(monkeypatch, tmp_path, flavour: str = "a1111"):  # type: ignore[no-untyped-def]
    """The stand-in's modules imported anew (A1111's caches empty, no loraloom session yet) and
    an empty LoRA folder; ``flavour`` picks the host the stand-in behaves as."""
    for name in [n for n in sys.modules if n == "modules" or n.startswith("modules.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(STANDIN))
    from modules import processing, shared

    import loraloom.hosts.a1111 as host

    monkeypatch.setattr(host, "_session", None)
    monkeypatch.setattr(processing.StableDiffusionProcessing, "cached_uc", [None, None])
    monkeypatch.setattr(processing.StableDiffusionProcessing, "cached_c", [None, None])
    monkeypatch.setattr(shared, "flavour", flavour, raising=False)
    folder = tmp_path / "models" / "Lora"
    folder.mkdir(parents=True)
    monkeypatch.setattr(shared.cmd_opts, "lora_dir", str(folder))
    monkeypatch.setattr(host, "_cache_path", lambda: str(tmp_path / "cache.json"))
    return shared, host, folder


@pytest.fixture
def a1111(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """A fresh stand-in WebUI with a LoRA folder; scripts loaded and the UI callbacks run."""
    shared, host, folder = fresh_standin(monkeypatch, tmp_path)
    model = StandInModel()
    ink = kohya_lora_for(model.unet, "lora_unet", seed=1)
    ink.update(kohya_lora_for(model.cond_stage_model.wrapped.transformer, "lora_te", seed=3))
    write_file(folder / "ink.safetensors", ink)
    write_file(folder / "wc.safetensors", kohya_lora_for(model.unet, "lora_unet", seed=2))
    te_only = kohya_lora_for(model.cond_stage_model.wrapped.transformer, "lora_te", seed=4)
    write_file(folder / "words.safetensors", te_only)
    shared.sd_model = model
    script, builtin, app = start_webui()
    parts = {"script": script, "builtin": builtin, "app": app}
    return SimpleNamespace(shared=shared, host=host, model=model, folder=folder, **parts)


def generate(a1111, prompt: str = "", negative: str = "", *, also=(), img2img=None, **kwargs):  # type: ignore[no-untyped-def]
    """One generation through the stand-in's ``process_images`` with loraloom's script (then
    the scripts in ``also``); ``img2img`` is a denoising strength for an img2img run."""
    from modules import processing, scripts

    kwargs.setdefault("steps", 4)
    runner = scripts.ScriptRunner([a1111.script.LoraloomScript(), *also])
    if img2img is None:
        p = processing.StableDiffusionProcessing(prompt, negative, scripts=runner, **kwargs)
    else:
        p = processing.StableDiffusionProcessingImg2Img(
            prompt, negative, scripts=runner, init_images=[None], denoising_strength=img2img, **kwargs
        )
    processed = processing.process_images(p)
    return p, torch.stack(processed.images)


def weights(model) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    return {k: v.clone() for k, v in model.state_dict().items()}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def hooks_left(model) -> bool:  # type: ignore[no-untyped-def]
    modules = [*model.unet.modules(), *model.cond_stage_model.modules(), model.model.diffusion_model]
    return any(m._forward_hooks or m._forward_pre_hooks for m in modules)


# -- owning the tags ------------------------------------------------------------------------------


def test_loraloom_owns_the_tags_although_the_builtin_registers_last(a1111) -> None:
    from modules import extra_networks

    assert getattr(extra_networks.extra_network_registry["lora"], "loraloom", False)
    assert extra_networks.extra_network_aliases["lyco"] is extra_networks.extra_network_registry["lora"]
    generate(a1111, "a cat <lora:ink:1> <lyco:wc:0.5>")
    assert a1111.builtin.ExtraNetworkLora.applied == []  # never two patchers on one model


@pytest.mark.parametrize("folder_name", ["loraloom", "sd-webui-loraloom"])
def test_ownership_holds_under_any_folder_name_and_after_a_reload(a1111, folder_name: str) -> None:
    from modules import extra_networks, script_callbacks

    a1111.script, a1111.builtin, _ = start_webui(folder_name)  # "Reload UI": callbacks cleared, scripts re-run
    names = [c.name for c in script_callbacks.ordered("callbacks_before_ui")]
    if folder_name == "loraloom":  # metadata.ini's order: ours sorted first, so it runs last
        assert names[0].startswith("loraloom/") and names[-1].startswith("lora/"), names
    assert getattr(extra_networks.extra_network_registry["lora"], "loraloom", False)
    before_callbacks = len(script_callbacks.callback_map["callbacks_before_ui"])
    assert before_callbacks == 2  # one each, nothing registered twice
    generate(a1111, "x <lora:ink:1>")
    assert a1111.builtin.ExtraNetworkLora.applied == []
    assert a1111.host.get_session().applied is not None


def test_a_later_reregistration_is_taken_back_before_the_generation(a1111) -> None:
    from modules import extra_networks

    a1111.builtin.before_ui()  # e.g. another extension re-registers the builtin after app start
    generate(a1111, "x <lora:ink:1>")
    assert a1111.builtin.ExtraNetworkLora.applied == []
    assert a1111.builtin.ExtraNetworkLora.unloads >= 1  # told once to unload whatever it had applied
    assert getattr(extra_networks.extra_network_registry["lora"], "loraloom", False)


def test_off_hands_everything_back_and_on_takes_it_again(a1111) -> None:
    from modules import extra_networks

    generate(a1111, "x <lora:ink:1>")
    a1111.shared.opts.loraloom_handle_tags = False
    p, _ = generate(a1111, "x <lora:ink:1>", "ugly <lora:wc:1>")
    assert type(extra_networks.extra_network_registry["lora"]).__name__ == "ExtraNetworkLora"
    assert a1111.builtin.ExtraNetworkLora.applied == [[["ink", "1"]]]
    assert a1111.host.get_session().applied is None  # our patch is gone
    assert p.all_negative_prompts == ["ugly <lora:wc:1>"]  # negatives are the builtin's business too
    a1111.shared.opts.loraloom_handle_tags = True
    generate(a1111, "x <lora:ink:1>")
    assert getattr(extra_networks.extra_network_registry["lora"], "loraloom", False)
    assert len(a1111.builtin.ExtraNetworkLora.applied) == 1


# -- generations ----------------------------------------------------------------------------------


def test_tags_apply_and_removing_them_restores_exactly(a1111) -> None:
    before = weights(a1111.model)
    _, base = generate(a1111, "a cat")
    p, with_lora = generate(a1111, "a cat, <lora:ink:0.8>", "ugly, <lora:wc:1>")
    assert not torch.allclose(with_lora, base)
    assert p.all_negative_prompts == ["ugly, "]  # CLIP never sees the negative tag
    session = a1111.host.get_session()
    library = session.library
    ink, wc = (library.hashes(library.get(n)).addnet[:12] for n in ("ink", "wc"))
    assert p.extra_generation_params["Lora hashes"] == f"ink: {ink}, wc: {wc}"  # negative-only LoRAs too
    same_patch = session.applied.patch
    generate(a1111, "a cat, <lora:ink:0.8>", "ugly, <lora:wc:1>")
    assert session.applied.patch is same_patch  # the same tags again cost nothing
    _, again = generate(a1111, "a cat")
    assert torch.equal(again, base)
    assert same(before, weights(a1111.model)) and not hooks_left(a1111.model)


def test_steady_tags_run_settled_copies_as_the_setting_says(a1111) -> None:
    """Hooks mode's settled copies (``loraloom_settle_mb``): on by default, 0 adds outputs."""
    before = weights(a1111.model)
    _, base = generate(a1111, "a cat")
    _, settled = generate(a1111, "a cat <lora:ink:0.8>")
    patch = a1111.host.get_session().applied.patch
    assert patch._settle is not None and patch._settle.max_bytes == 4096 * 1024**2 and patch._settle.used > 0
    generate(a1111, "a cat")
    a1111.shared.opts.loraloom_settle_mb = 0.0  # A1111's API writes integers as floats
    _, added = generate(a1111, "a cat <lora:ink:0.8>")
    assert a1111.host.get_session().applied.patch._settle is None
    torch.testing.assert_close(settled, added, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(settled, base)
    _, again = generate(a1111, "a cat")
    assert torch.equal(again, base) and same(before, weights(a1111.model)) and not hooks_left(a1111.model)


def test_a_malformed_or_unknown_tag_disables_only_itself(a1111) -> None:
    _, only_ink = generate(a1111, "x <lora:ink:1>")
    p, mixed = generate(a1111, "x <lora:ink:1> <lora:wc:o.8> <lora:inc:1>", "<lora:nope:1>")
    assert torch.equal(mixed, only_ink)
    comments = " ".join(p.comments)
    assert "'o.8' is not a number" in comments and "did you mean ink" in comments
    assert "negative prompt: <lora:nope:1>" in comments
    assert p.all_negative_prompts == [""]  # an unknown negative tag never reaches CLIP either


def test_a_malformed_negative_tag_is_reported_and_disables_only_itself(a1111) -> None:
    _, alone = generate(a1111, "x", "ugly <lora:ink:1>")
    p, mixed = generate(a1111, "x", "ugly <lora:ink:1> <lora:wc:o.8>")
    assert torch.equal(mixed, alone)
    assert any("negative prompt: <lora:wc:o.8>" in c and "'o.8' is not a number" in c for c in p.comments)
    assert p.all_negative_prompts == ["ugly  "]  # the malformed tag never reaches CLIP either


@pytest.mark.parametrize("mode", ["hooks", "merge"])
def test_schedules_follow_the_denoiser_step(a1111, mode: str) -> None:
    a1111.shared.opts.loraloom_mode = mode
    _, zero = generate(a1111, "x <lora:ink:0>", steps=2)
    _, one = generate(a1111, "x <lora:ink:1>", steps=2)
    _, scheduled = generate(a1111, "x <lora:ink:0@0,1@0.5>", steps=2)
    assert not torch.equal(scheduled, zero) and not torch.equal(scheduled, one)  # step 1 sees 0.5, not 0
    _, constant = generate(a1111, "x <lora:ink:1@0,1@1>", steps=2)
    torch.testing.assert_close(constant, one, rtol=1e-4, atol=1e-5)  # added outputs vs a settled copy


@pytest.mark.parametrize("mode", ["hooks", "merge"])
def test_a_weight_change_keeps_the_patch_and_equals_a_fresh_one(a1111, mode: str) -> None:
    from modules import processing

    a1111.shared.opts.loraloom_mode = mode
    generate(a1111, "x <lora:ink:1> <lora:wc:0.3>")
    session = a1111.host.get_session()
    patch = session.applied.patch
    _, changed = generate(a1111, "x <lora:ink:0.5> <lora:wc:0.3@0,1@0.5>")
    assert session.applied.patch is patch  # re-weighted, not rebuilt
    session.release()
    processing.StableDiffusionProcessing.cached_c[:] = [None, None]
    _, fresh = generate(a1111, "x <lora:ink:0.5> <lora:wc:0.3@0,1@0.5>")
    assert session.applied.patch is not patch
    torch.testing.assert_close(changed, fresh, rtol=1e-5, atol=1e-6)


def test_the_same_schedule_again_starts_at_its_first_step(a1111) -> None:
    from modules import processing

    _, first = generate(a1111, "x <lora:ink:0@0,1@0.5>", steps=2)
    processing.StableDiffusionProcessing.cached_c[:] = [None, None]  # encode the prompt again
    _, again = generate(a1111, "x <lora:ink:0@0,1@0.5>", steps=2)
    assert torch.equal(again, first)


def test_hires_weights_and_tags_and_merged_hashes(a1111) -> None:
    _, plain = generate(a1111, "x <lora:ink:1>", enable_hr=True, steps=2)
    p, hr_zero = generate(a1111, "x <lora:ink:1:hr=0>", enable_hr=True, steps=2)
    assert not torch.equal(hr_zero, plain)  # hr=0 changes the hires pass
    p, _ = generate(a1111, "x <lora:ink:1>", enable_hr=True, hr_prompt="x <lora:wc:1>", steps=2)
    hashes = p.extra_generation_params["Lora hashes"]
    assert hashes.startswith("ink: ") and "wc: " in hashes


def test_checkpoint_switch_leaves_no_trace(a1111) -> None:
    from modules import script_callbacks

    generate(a1111, "x <lora:ink:1>", "<lora:wc:1>", batch_size=2, all_prompts=["x <lora:ink:1>", "x"])
    old = a1111.model
    session = a1111.host.get_session()
    a1111.shared.sd_model = StandInModel(seed=5)
    script_callbacks.model_loaded_callback(a1111.shared.sd_model)
    assert session.applied is None and session.core.pools == {}
    fresh = StandInModel()
    assert same(weights(fresh), weights(old)) and not hooks_left(old)


# -- rows: negative prompts and per-image tags ----------------------------------------------------


def test_negative_tags_act_on_the_unconditional_side_only(a1111) -> None:
    from loraloom.activation import Row

    _, base = generate(a1111, "a cat", "ugly")
    _, unet_part = generate(a1111, "a cat", "ugly <lora:ink:0:1>")
    _, text_part = generate(a1111, "a cat", "ugly <lora:ink:1:0>")
    assert not torch.equal(unet_part, base) and not torch.equal(text_part, base)
    assert not torch.equal(unet_part, text_part)
    session = a1111.host.get_session()
    generate(a1111, "a cat", "ugly <lora:ink:1>")
    rows = session.core.applied.rows
    assert rows.unet_factors([Row(0), Row(0, True)]) == {0: [0.0, 1.0]}  # cond row untouched
    cond = a1111.model.get_learned_conditioning(["a cat"])
    generate(a1111, "a cat", "ugly")
    assert torch.equal(cond, a1111.model.get_learned_conditioning(["a cat"]))
    _, again = generate(a1111, "a cat", "ugly")
    assert torch.equal(again, base) and not hooks_left(a1111.model)


@pytest.mark.parametrize("size", [2, 4])
def test_each_image_of_a_batch_equals_its_prompt_alone(a1111, size: int) -> None:
    prompts = ["x <lora:ink:1>", "x", "x <lora:wc:1> <lora:words:0.7>", "x <lora:ink:0.5>"][:size]
    negatives = "<lora:words:1>"
    p, batch = generate(a1111, "", negatives, batch_size=size, all_prompts=prompts, all_seeds=[7] * size)
    assert not any("different LoRA tags" in c for c in p.comments)
    for index, prompt in enumerate(prompts):
        _, alone = generate(a1111, prompt, negatives, seed=7)
        torch.testing.assert_close(batch[index], alone[0], rtol=1e-4, atol=1e-5)
    assert not torch.allclose(batch[0], batch[1])


def test_and_prompts_give_each_image_its_rows(a1111) -> None:
    prompts = ["x AND y <lora:ink:1>", "x"]
    _, batch = generate(a1111, batch_size=2, all_prompts=prompts, all_seeds=[3, 3])
    for index, prompt in enumerate(prompts):
        _, alone = generate(a1111, prompt, seed=3)
        torch.testing.assert_close(batch[index], alone[0], rtol=1e-4, atol=1e-5)


def test_merge_mode_reports_what_it_cannot_route(a1111) -> None:
    a1111.shared.opts.loraloom_mode = "merge"
    p, _ = generate(a1111, "x", "ugly <lora:ink:1>")
    assert any("negative-prompt LoRAs need the hooks mode" in c for c in p.comments)
    p, _ = generate(a1111, batch_size=2, all_prompts=["x <lora:ink:1>", "x <lora:wc:1>"])
    assert any("different LoRA tags" in c for c in p.comments)


def test_negative_tags_round_trip_through_the_infotext(a1111) -> None:
    from modules import script_callbacks

    p, _ = generate(a1111, "x", "ugly, <lora:ink:0.5@0,1@1>")
    assert p.all_negative_prompts == ["ugly, "]
    assert p.extra_generation_params["Lora negative"] == "<lora:ink:0.5@0,1@1>"
    params = {"Prompt": "x", "Negative prompt": "ugly,", "Lora negative": "<lora:ink:0.5@0,1@1>"}
    script_callbacks.infotext_pasted_callback("", params)
    assert params["Negative prompt"] == "ugly, <lora:ink:0.5@0,1@1>"


def test_negative_loras_never_reuse_a1111s_shared_uc_cache(a1111) -> None:
    from modules import processing

    _, base = generate(a1111, "x", "ugly")
    for _ in range(2):  # a new patch, then the same tags again (reused patch)
        p, out = generate(a1111, "x", "ugly <lora:ink:1>")
        assert p.cached_uc is not processing.StableDiffusionProcessing.cached_uc
        assert not torch.equal(out, base)
    _, again = generate(a1111, "x", "ugly")
    assert torch.equal(again, base)


def test_infotext_paste_renames_by_hash(a1111) -> None:
    from modules import script_callbacks

    session = a1111.host.get_session()
    wanted = session.library.hashes(session.library.get("ink")).infotext_hash
    params = {"Prompt": "a cat <lora:old name:0.7>", "Lora hashes": f'"old name: {wanted}"'}
    script_callbacks.infotext_pasted_callback("", params)
    assert params["Prompt"] == "a cat <lora:ink:0.7>"
    params = {
        "Prompt": "a <lora:old name:0.7>, b <lora:ink:1> <lora:old name:0.2:hr=0> <lora:x:o.8> c",
        "Lora hashes": f'"old name: {wanted}, ink: {wanted}"',
    }
    script_callbacks.infotext_pasted_callback("", params)
    assert params["Prompt"] == "a <lora:ink:0.7>, b <lora:ink:1> <lora:ink:0.2:hr=0> <lora:x:o.8> c"
    many = " ".join(f"<lora:old name:{i % 9}>" for i in range(2000))
    params = {"Prompt": many, "Lora hashes": f'"old name: {wanted}"'}
    script_callbacks.infotext_pasted_callback("", params)
    assert params["Prompt"] == many.replace("old name", "ink")


def test_rest_routes(a1111) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from modules import script_callbacks

    app = FastAPI()
    script_callbacks.app_started_callback(None, app)
    client = TestClient(app)
    listed = client.get("/loraloom/v1/loras").json()
    assert sorted(item["name"] for item in listed) == ["ink", "wc", "words"]
    assert client.get("/loraloom/v1/loras/ink").json()["family"] in ("sd1", "unknown")
    assert client.get("/loraloom/v1/loras/nope").status_code == 404
    assert client.post("/loraloom/v1/refresh").json()["count"] == 3
    parsed = client.post("/loraloom/v1/parse", json={"prompt": "<lora:ink:0.5>", "negative": ""}).json()
    assert parsed["tags"][0]["te"] == 0.5


def test_settings_are_registered_in_our_section(a1111) -> None:
    from modules import script_callbacks

    script_callbacks.ui_settings_callback()
    labels = a1111.shared.opts.data_labels
    assert {
        "loraloom_handle_tags",
        "loraloom_mode",
        "loraloom_cache_count",
        "loraloom_cache_mb",
        "loraloom_default_weight",
        "loraloom_extra_dirs",
        "loraloom_negative_tags",
        "loraloom_hide_other_families",
        "loraloom_trigger_words",
    } <= set(labels)
    assert all(labels[name].section == ("loraloom", "loraloom") for name in labels if name.startswith("loraloom_"))
    # A1111's settings page builds a component per option and refuses a type it has no default
    # component for (modules/ui_settings.py: str, int, bool): anything else must bring its own.
    for name, info in labels.items():
        if name.startswith("loraloom_"):
            assert info.component is not None or type(info.default) in (str, int, bool), name


def test_addnet_infotext_fields_become_tags(a1111) -> None:
    from modules import script_callbacks

    session = a1111.host.get_session()
    short = session.library.hashes(session.library.get("wc")).shorthash
    params = {
        "Prompt": "a cat",
        "AddNet Enabled": "True",
        "AddNet Module 1": "LoRA",
        "AddNet Model 1": "ink(000000000000)",
        "AddNet Weight A 1": "0.5",
        "AddNet Weight B 1": "0.5",
        "AddNet Module 2": "LoRA",
        "AddNet Model 2": f"renamed({short})",
        "AddNet Weight A 2": "1",
        "AddNet Weight B 2": "0.3",
    }
    script_callbacks.infotext_pasted_callback("", params)
    assert params["Prompt"] == "a cat <lora:ink:0.5> <lora:wc:1:0.3>"


def test_sdapi_routes_answer_like_the_builtin(a1111) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from modules import script_callbacks

    app = FastAPI()
    script_callbacks.app_started_callback(None, app)
    client = TestClient(app)
    listed = client.get("/sdapi/v1/loras").json()
    assert sorted(item["name"] for item in listed) == ["ink", "wc", "words"]
    assert set(listed[0]) == {"name", "alias", "path", "metadata"}
    assert client.post("/sdapi/v1/refresh-loras").status_code == 200


def test_gallery_tab_sliders_and_routes_are_mounted(a1111) -> None:
    """on_ui_tabs gives a "LoRA" tab holding #loraloom-tab; the script's UI holds the slider panel."""
    import gradio as gr
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from modules import script_callbacks

    tabs = script_callbacks.ui_tabs_callback()
    assert [(label, tab_id) for _, label, tab_id in tabs] == [("LoRA", "loraloom")]
    blocks, _, _ = tabs[0]
    config = blocks.get_config_file()
    assert any(c.get("props", {}).get("elem_id") == "loraloom-tab" for c in config["components"])
    assert any('class="loraloom-gallery"' in str(c.get("props", {}).get("value")) for c in config["components"])
    for is_img2img, prompt in ((False, "#txt2img_prompt textarea"), (True, "#img2img_prompt textarea")):
        with gr.Blocks() as page:
            assert a1111.script.LoraloomScript().ui(is_img2img) == []
        html = [str(c["props"].get("value")) for c in page.get_config_file()["components"] if "props" in c]
        assert any("loraloom-sliders-panel" in value and f'data-prompt="{prompt}"' in value for value in html)

    a1111.model.is_sd1 = True
    script_callbacks.ui_settings_callback()
    app = FastAPI()
    script_callbacks.app_started_callback(None, app)
    client = TestClient(app)
    session = a1111.host.get_session()
    assert session.gallery.wait(30)
    state = client.get("/loraloom/v1/ui/state").json()
    assert (state["model_family"], state["family_choice"], state["count"]) == ("sd1", False, 3)
    cards = {card["name"]: card for card in client.get("/loraloom/v1/ui/cards").json()["cards"]}
    assert cards["ink"]["family"] == "sd1" and not cards["ink"]["pending"]
    a1111.shared.opts.loraloom_default_weight = 0.6
    toggled = client.post("/loraloom/v1/ui/toggle", json={"text": "cat", "cursor": 3, "name": "wc"}).json()
    assert toggled["change"]["full"] == "cat <lora:wc:0.6>"
    (a1111.folder / "new.safetensors").write_bytes((a1111.folder / "wc.safetensors").read_bytes())
    client.post("/sdapi/v1/refresh-loras")  # A1111's own refresh also refreshes the gallery
    assert session.gallery.wait(30)
    assert "new" in {card["name"] for card in client.get("/loraloom/v1/ui/cards").json()["cards"]}


def test_a_failed_apply_is_a_problem_and_the_model_stays_untouched(a1111, monkeypatch) -> None:
    from loraloom.patching.pool import BufferPool

    a1111.shared.opts.loraloom_mode = "merge"
    before = {k: v.clone() for k, v in a1111.model.unet.state_dict().items()}
    _, base = generate(a1111, "a cat, ")

    def out_of_memory(self, like):  # type: ignore[no-untyped-def]
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB")

    with monkeypatch.context() as patched:
        patched.setattr(BufferPool, "take", out_of_memory)
        p, image = generate(a1111, "a cat, <lora:ink:1>")
    assert any("LoRAs not applied" in c and "out of memory" in c for c in p.comments), p.comments
    assert torch.equal(image, base) and a1111.host.get_session().applied is None
    assert all(torch.equal(before[k], v) for k, v in a1111.model.unet.state_dict().items())
    _, image = generate(a1111, "a cat, <lora:ink:1>")  # applies as soon as memory allows
    assert not torch.allclose(image, base)
