"""The A1111 host against a stand-in of the A1111 modules it imports (``standin/``), driven in
A1111's order: script import (and reload), ``before_ui``, prompts set up, scripts' ``process``,
tags parsed by A1111's regex, ``extra_networks.activate``, sampling with ``on_cfg_denoiser``,
hires pass, checkpoint reload, infotext paste, REST routes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from loraloom.patching.unet_names import diffusers_to_ldm
from tests.fixtures.lora_files import write_file
from tests.fixtures.models import kohya_lora_for, patchable, tiny_text_encoder, tiny_unet, tree

ROOT = Path(__file__).resolve().parents[2]
STANDIN = Path(__file__).resolve().parent / "standin"


class LdmNamedUNet(nn.Module):
    """The same module objects under CompVis/LDM paths (as A1111's ``UNetModel`` names them);
    calling it runs the UNet, as A1111 calls ``model.diffusion_model``."""

    def __init__(self, unet: nn.Module) -> None:
        super().__init__()
        names = dict(unet.named_modules())

        def up_has_attention(level: int) -> bool:
            return f"up_blocks.{level}.attentions" in names

        view = tree((diffusers_to_ldm(path, up_has_attention) or path, module) for path, module in patchable(unet))
        for name, child in view.named_children():
            self.add_module(name, child)
        self.__dict__["runner"] = unet  # not a submodule: only the LDM names are visible

    def forward(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return self.runner(*args, **kwargs)


class StandInModel(nn.Module):
    """``shared.sd_model`` for SD1: ``model.diffusion_model`` and ``cond_stage_model``."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.unet = tiny_unet(seed)
        self.model = SimpleNamespace(diffusion_model=LdmNamedUNet(self.unet))
        self.cond_stage_model = nn.Module()
        self.cond_stage_model.wrapped = nn.Module()
        self.cond_stage_model.wrapped.transformer = tiny_text_encoder(seed)

    def get_learned_conditioning(self, texts: list[str]) -> torch.Tensor:
        """Encode prompts (a toy tokenizer: one id per character) with the text encoder."""
        ids = torch.tensor([[1 + ord(c) % 70 for c in text[:20].ljust(20)] for text in texts])
        with torch.no_grad():
            return self.cond_stage_model.wrapped.transformer(ids).last_hidden_state

    def cfg_step(self, step: int = 0, steps: int = 4, images: int = 1) -> torch.Tensor:
        """One CFG batch as A1111 lays it out: every image's conditional row, then unconditional rows."""
        from modules import script_callbacks

        generator = torch.Generator().manual_seed(11)
        x = torch.randn(images, 4, 8, 8, generator=generator)
        cond = torch.randn(images, 5, 32, generator=generator)
        uncond = torch.randn(images, 5, 32, generator=generator)
        x_in, context = torch.cat([x, x]), torch.cat([cond, uncond])
        script_callbacks.cfg_denoiser_callback(
            script_callbacks.CFGDenoiserParams(x_in, None, None, step, steps, cond, uncond)
        )
        with torch.no_grad():
            return self.model.diffusion_model(
                x_in, torch.tensor([500] * 2 * images), encoder_hidden_states=context
            ).sample

    def denoise(self, steps: int = 4) -> torch.Tensor:
        """A few 'sampling steps' with the CFG callback A1111 calls before each."""
        from modules import script_callbacks

        generator = torch.Generator().manual_seed(3)
        x = torch.randn(2, 4, 8, 8, generator=generator)
        context = torch.randn(2, 5, 32, generator=generator)
        with torch.no_grad():
            for step in range(steps):
                script_callbacks.cfg_denoiser_callback(
                    script_callbacks.CFGDenoiserParams(x, None, None, step, steps, context, context)
                )
                unet = self.model.diffusion_model
                x = x - 0.1 * unet(x, torch.tensor([999 - step * 100] * 2), encoder_hidden_states=context).sample
        return x


@pytest.fixture
def a1111(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """A fresh stand-in WebUI with a LoRA folder, and the extension's script loaded as A1111 does."""
    for name in [n for n in sys.modules if n == "modules" or n.startswith("modules.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(STANDIN))
    from modules import shared

    import loraloom.hosts.a1111 as host

    monkeypatch.setattr(host, "_session", None)
    folder = tmp_path / "models" / "Lora"
    folder.mkdir(parents=True)
    model = StandInModel()
    ink = kohya_lora_for(model.unet, "lora_unet", seed=1)
    ink.update(kohya_lora_for(model.cond_stage_model.wrapped.transformer, "lora_te", seed=3))
    write_file(folder / "ink.safetensors", ink)
    write_file(folder / "wc.safetensors", kohya_lora_for(model.unet, "lora_unet", seed=2))
    monkeypatch.setattr(shared.cmd_opts, "lora_dir", str(folder))
    monkeypatch.setattr(host, "_cache_path", lambda: str(tmp_path / "cache.json"))
    shared.sd_model = model
    script = load_script()
    return SimpleNamespace(shared=shared, host=host, model=model, folder=folder, script=script)


def load_script():  # type: ignore[no-untyped-def]
    """Exec ``scripts/loraloom.py`` as A1111's ``load_module`` does (root on sys.path only meanwhile)."""
    path = ROOT / "scripts" / "loraloom.py"
    saved = list(sys.path)
    sys.path.insert(0, str(ROOT))
    try:
        spec = importlib.util.spec_from_file_location("loraloom.py", path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    finally:
        sys.path[:] = saved
    return module


def generate(a1111, prompt: str, negative: str = "", steps: int = 4, hires: bool = False):  # type: ignore[no-untyped-def]
    from modules import extra_networks, processing

    p = processing.StableDiffusionProcessing(prompt, negative, steps=steps)
    p.setup_prompts()
    a1111.script.LoraloomScript().process(p)
    p.prompts, data = extra_networks.parse_prompts(p.all_prompts)
    extra_networks.activate(p, data)
    return p, a1111.model.denoise(steps)


def test_startup_and_reload_register_once(a1111) -> None:
    from modules import extra_networks, script_callbacks

    script_callbacks.before_ui_callback()
    network = extra_networks.extra_network_registry["lora"]
    assert extra_networks.extra_network_aliases["lyco"] is network
    load_script()  # a reload without clearing must not register twice
    assert all(
        len([c for c in cs if "loraloom" in (c.name or "")]) <= 1 for cs in script_callbacks.callback_map.values()
    )
    script_callbacks.clear_callbacks()  # what "Reload UI" does
    extra_networks.initialize()
    load_script()
    script_callbacks.before_ui_callback()
    assert type(extra_networks.extra_network_registry["lora"]).__name__ == type(network).__name__ == "LoraloomNetwork"
    assert len(script_callbacks.callback_map["callbacks_before_ui"]) == 1


def test_generation_applies_tags_and_an_empty_prompt_restores_exactly(a1111) -> None:
    from modules import script_callbacks

    script_callbacks.before_ui_callback()
    before = {k: v.clone() for k, v in a1111.model.unet.state_dict().items()}
    _, base = generate(a1111, "a cat")
    p, with_lora = generate(a1111, "a cat, <lora:ink:0.8>", "ugly, <lora:wc:1>")
    assert not torch.allclose(with_lora, base)
    assert p.all_negative_prompts == ["ugly, "]  # CLIP never sees the negative tag
    session = a1111.host.get_session()
    entry = session.library.get("ink")
    assert p.extra_generation_params["Lora hashes"] == f"ink: {session.library.hashes(entry).addnet[:12]}"
    assert session.applied is not None and session.applied.patch.report()[0].unmatched == {}
    same_patch = session.applied.patch
    generate(a1111, "a cat, <lora:ink:0.8>", "ugly, <lora:wc:1>")
    assert session.applied.patch is same_patch  # repeated activation with the same tags costs nothing
    _, again = generate(a1111, "a cat")
    assert torch.equal(again, base)
    assert all(torch.equal(before[k], v) for k, v in a1111.model.unet.state_dict().items())


@pytest.mark.parametrize("mode", ["hooks", "merge"])
def test_schedules_follow_the_sampler_and_modes_agree(a1111, mode: str) -> None:
    from modules import script_callbacks

    a1111.shared.opts.loraloom_mode = mode
    script_callbacks.before_ui_callback()
    _, constant = generate(a1111, "x <lora:ink:1>")
    _, scheduled = generate(a1111, "x <lora:ink:1@0,1@1>")  # the same weight as a schedule
    torch.testing.assert_close(scheduled, constant, rtol=1e-4, atol=1e-5)
    _, off_late = generate(a1111, "x <lora:ink:1:stop=2>")
    assert not torch.allclose(off_late, constant)
    assert a1111.host.get_session().applied.patch.multipliers == [(0.0, 0.0)]  # stopped by the last step


def test_a_malformed_or_unknown_tag_disables_only_itself(a1111) -> None:
    from modules import script_callbacks

    script_callbacks.before_ui_callback()
    _, only_ink = generate(a1111, "x <lora:ink:1>")
    p, mixed = generate(a1111, "x <lora:ink:1> <lora:wc:o.8> <lora:inc:1>")
    torch.testing.assert_close(mixed, only_ink, rtol=0, atol=0)
    comments = " ".join(p.comments)
    assert "weight 'o.8' is not a number" in comments and "did you mean ink" in comments


def test_hires_pass_may_carry_other_tags_and_hashes_merge(a1111) -> None:
    from modules import extra_networks, processing, script_callbacks

    script_callbacks.before_ui_callback()
    p = processing.StableDiffusionProcessing("x <lora:ink:1:hr=0.5>", steps=2)
    p.setup_prompts()
    _, data = extra_networks.parse_prompts(p.all_prompts)
    extra_networks.activate(p, data)
    session = a1111.host.get_session()
    assert session.applied.patch.multipliers == [(1.0, 1.0)]
    p.is_hr_pass = True
    extra_networks.activate(p, data)
    assert session.applied.patch.multipliers == [(0.5, 0.5)]
    _, hr_data = extra_networks.parse_prompts(["x <lora:wc:1>"])
    extra_networks.activate(p, hr_data)
    assert set(p.lora_hashes) == {"ink", "wc"}


def test_checkpoint_reload_drops_stale_state(a1111) -> None:
    from modules import script_callbacks

    script_callbacks.before_ui_callback()
    generate(
        a1111,
        "x <lora:ink:1>",
    )
    session = a1111.host.get_session()
    old = a1111.model
    before = {k: v.clone() for k, v in old.unet.state_dict().items()}
    a1111.shared.sd_model = StandInModel(seed=5)
    script_callbacks.model_loaded_callback(a1111.shared.sd_model)
    assert session.applied is None and session.pools == {}
    assert all(torch.equal(before[k], v) for k, v in old.unet.state_dict().items())
    assert not any(m._forward_hooks for m in old.unet.modules())


def test_infotext_paste_renames_by_hash(a1111) -> None:
    from modules import script_callbacks

    session = a1111.host.get_session()
    wanted = session.library.hashes(session.library.get("ink")).infotext_hash
    params = {"Prompt": "a cat <lora:old name:0.7>", "Lora hashes": f'"old name: {wanted}"'}
    script_callbacks.infotext_pasted_callback("", params)
    assert params["Prompt"] == "a cat <lora:ink:0.7>"


def test_rest_routes(a1111) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from modules import script_callbacks

    app = FastAPI()
    script_callbacks.app_started_callback(None, app)
    client = TestClient(app)
    listed = client.get("/loraloom/v1/loras").json()
    assert sorted(item["name"] for item in listed) == ["ink", "wc"]
    assert client.get("/loraloom/v1/loras/ink").json()["family"] in ("sd1", "unknown")
    assert client.get("/loraloom/v1/loras/nope").status_code == 404
    assert client.post("/loraloom/v1/refresh").json()["count"] == 2
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


def test_negative_prompt_loras_act_on_the_unconditional_side_only(a1111) -> None:
    from modules import extra_networks, processing, script_callbacks

    script_callbacks.before_ui_callback()
    model = a1111.model

    def run(prompt: str, negative: str):  # type: ignore[no-untyped-def]
        p = processing.StableDiffusionProcessing(prompt, negative, steps=4)
        p.setup_prompts()
        a1111.script.LoraloomScript().process(p)
        p.prompts, data = extra_networks.parse_prompts(p.all_prompts)
        p.negative_prompts = p.all_negative_prompts
        extra_networks.activate(p, data)
        return (
            p,
            model.cfg_step(),
            model.get_learned_conditioning(p.prompts),
            model.get_learned_conditioning(p.negative_prompts),
        )

    _, base, base_c, _ = run("a cat", "ugly")
    p, out, c, _ = run("a cat", "ugly <lora:ink:1>")
    assert p.all_negative_prompts == ["ugly "]
    torch.testing.assert_close(out[0], base[0], rtol=0, atol=0)  # conditional row untouched
    assert not torch.allclose(out[1], base[1])  # unconditional row changed
    assert torch.equal(c, model.get_learned_conditioning(["a cat"]))  # positive encoding untouched
    _, _, _, uc_without = run("a cat", "ugly ")
    assert torch.equal(c, base_c) and torch.equal(uc_without, model.get_learned_conditioning(["ugly "]))
    p, _, _, uc_with = run("a cat", "ugly <lora:ink:1>")
    report = a1111.host.get_session().applied.patch.report()[0]
    assert report.unmatched == {} and any(k.startswith("lora_te_") for k in report.matched), report
    assert not torch.allclose(uc_with, uc_without)  # the negative LoRA's text-encoder part, negatives only
    _, whole, _, _ = run("a cat <lora:ink:1>", "ugly")
    assert not torch.allclose(whole[0], base[0]) and not torch.allclose(whole[1], base[1])  # positive: whole model
    run("a cat", "ugly")
    assert "get_learned_conditioning" not in vars(model)  # the wrapper is gone with the patch
    torch.testing.assert_close(model.cfg_step(), base, rtol=0, atol=0)


def test_negative_prompt_loras_in_merge_mode_are_reported(a1111) -> None:
    from modules import script_callbacks

    a1111.shared.opts.loraloom_mode = "merge"
    script_callbacks.before_ui_callback()
    p, _ = generate(a1111, "x", "ugly <lora:ink:1>")
    assert any("negative-prompt LoRAs need the hooks mode" in c for c in p.comments), (
        p.comments,
        getattr(p, "loraloom_negative_tags", None),
    )


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


def test_batches_with_different_tags_are_reported_in_merge_mode(a1111) -> None:
    from modules import extra_networks, processing, script_callbacks

    a1111.shared.opts.loraloom_mode = "merge"
    script_callbacks.before_ui_callback()
    p = processing.StableDiffusionProcessing("x", steps=2, batch_size=2)
    p.setup_prompts()
    p.all_prompts = ["x <lora:ink:1>", "x <lora:wc:1>"]
    _, data = extra_networks.parse_prompts(p.all_prompts)
    extra_networks.activate(p, data)
    assert any("different LoRA tags" in c for c in p.comments)


def test_sdapi_routes_answer_like_the_builtin(a1111) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from modules import script_callbacks

    app = FastAPI()
    script_callbacks.app_started_callback(None, app)
    client = TestClient(app)
    listed = client.get("/sdapi/v1/loras").json()
    assert sorted(item["name"] for item in listed) == ["ink", "wc"]
    assert set(listed[0]) == {"name", "alias", "path", "metadata"}
    assert client.post("/sdapi/v1/refresh-loras").status_code == 200


def test_each_image_of_a_batch_gets_its_own_loras_in_hooks_mode(a1111) -> None:
    from modules import extra_networks, processing, script_callbacks

    script_callbacks.before_ui_callback()
    model = a1111.model

    def step(prompts: list[str]):  # type: ignore[no-untyped-def]
        p = processing.StableDiffusionProcessing("", steps=4, batch_size=2)
        p.setup_prompts()
        p.all_prompts = prompts
        p.prompts, data = extra_networks.parse_prompts(p.all_prompts)
        p.negative_prompts = p.all_negative_prompts
        extra_networks.activate(p, data)
        return p, model.cfg_step(images=2), model.get_learned_conditioning(p.prompts)

    p, mixed, mixed_c = step(["x <lora:ink:1>", "x <lora:wc:1>"])
    assert not any("different LoRA tags" in c for c in p.comments)
    _, all_ink, ink_c = step(["x <lora:ink:1>", "x <lora:ink:1>"])
    _, all_wc, _ = step(["x <lora:wc:1>", "x <lora:wc:1>"])
    # rows: [cond image 0, cond image 1, uncond image 0, uncond image 1]
    for row, reference in ((0, all_ink), (2, all_ink), (1, all_wc), (3, all_wc)):
        torch.testing.assert_close(mixed[row], reference[row], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(mixed_c[0], ink_c[0], rtol=1e-4, atol=1e-5)  # image 0's text: ink's TE part
    none_c = step(["x", "x"])[2]
    torch.testing.assert_close(mixed_c[1], none_c[1], rtol=1e-4, atol=1e-5)  # wc has no TE part


def test_negative_tags_round_trip_through_the_infotext(a1111) -> None:
    from modules import script_callbacks

    script_callbacks.before_ui_callback()
    p, _ = generate(a1111, "x", "ugly, <lora:ink:0.5@0,1@1>")
    assert p.all_negative_prompts == ["ugly, "]
    assert p.extra_generation_params["Lora negative"] == "<lora:ink:0.5@0,1@1>"
    params = {"Prompt": "x", "Negative prompt": "ugly,", "Lora negative": "<lora:ink:0.5@0,1@1>"}
    script_callbacks.infotext_pasted_callback("", params)
    assert params["Negative prompt"] == "ugly, <lora:ink:0.5@0,1@1>"


def test_handing_the_tags_back_to_the_builtin(a1111) -> None:
    from modules import extra_networks, script_callbacks

    a1111.shared.opts.loraloom_handle_tags = False
    script_callbacks.before_ui_callback()
    assert "lora" not in extra_networks.extra_network_registry


def test_negative_loras_never_reuse_a1111s_shared_uc_cache(a1111) -> None:
    from modules import processing, script_callbacks

    script_callbacks.before_ui_callback()
    processing.StableDiffusionProcessing.cached_uc = ["stale", "uc"]  # A1111 keeps it on the class
    for _ in range(2):  # a new patch, then the same tags again (reused patch)
        p, _ = generate(a1111, "x", "ugly <lora:ink:1>")
        assert p.cached_uc == [None, None]
    p, _ = generate(a1111, "x", "ugly")
    assert p.cached_uc == ["stale", "uc"]  # without negative LoRAs A1111's cache is used as usual


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
    assert (state["model_family"], state["family_choice"], state["count"]) == ("sd1", False, 2)
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
    from modules import script_callbacks

    from loraloom.patching.pool import BufferPool

    a1111.shared.opts.loraloom_mode = "merge"
    script_callbacks.before_ui_callback()
    before = {k: v.clone() for k, v in a1111.model.unet.state_dict().items()}
    _, base = generate(a1111, "a cat")

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
