"""loraloom in reForge, on the stand-in run in reForge's flavour: A1111's model layout
(``model.diffusion_model``, ``cond_stage_model`` called with the texts) sampled the ComfyUI way
(each UNet call's ``cond_or_uncond``), with reForge's builtin ``Lora`` registering last — and
the stand-in replays the recordings of a real reForge ``3b56b268`` (``recordings/``)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from loraloom.activation import Row
from tests.a1111.standin_model import StandInModel
from tests.a1111.test_a1111_host import fresh_standin, generate, start_webui
from tests.a1111.test_recordings import assert_replays
from tests.fixtures.lora_files import write_file
from tests.fixtures.models import kohya_lora_for
from tests.forge.standin_engine import ForgeUNet

RECORDINGS = sorted((Path(__file__).parent / "recordings").glob("*.json"))


class ReForgeModel(StandInModel):
    """A1111's layout; the UNet called as ``ldm_patched`` calls it (``context``, ``transformer_options``)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.model = SimpleNamespace(diffusion_model=ForgeUNet(self.unet))


@pytest.fixture
def reforge(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    shared, host, folder = fresh_standin(monkeypatch, tmp_path, "reforge")
    model = ReForgeModel()
    ink = kohya_lora_for(model.unet, "lora_unet", seed=1)
    ink.update(kohya_lora_for(model.cond_stage_model.wrapped.transformer, "lora_te", seed=3))
    write_file(folder / "ink.safetensors", ink)
    shared.sd_model = model
    script, builtin, _ = start_webui()
    return SimpleNamespace(shared=shared, host=host, model=model, folder=folder, script=script, builtin=builtin)


def test_tags_apply_restore_and_route_by_cond_or_uncond(reforge) -> None:
    _, base = generate(reforge, "a cat", "ugly")
    p, with_lora = generate(reforge, "a cat <lora:ink:1>", "ugly")
    assert not torch.allclose(with_lora, base) and reforge.builtin.ExtraNetworkLora.applied == []
    library = reforge.host.get_session().library
    assert p.extra_generation_params["Lora hashes"] == f"ink: {library.hashes(library.get('ink')).addnet[:12]}"
    _, unet_part = generate(reforge, "a cat", "ugly <lora:ink:0:1>")
    _, text_part = generate(reforge, "a cat", "ugly <lora:ink:1:0>")
    assert not torch.equal(unet_part, base) and not torch.equal(text_part, base)
    assert reforge.host.get_session().core.applied.rows.unet_factors([Row(0, True), Row(0)]) == {0: [1.0, 0.0]}
    prompts = ["x <lora:ink:1>", "x"]
    _, batch = generate(reforge, batch_size=2, all_prompts=prompts, all_seeds=[5, 5])
    for index, prompt in enumerate(prompts):
        _, alone = generate(reforge, prompt, seed=5)
        torch.testing.assert_close(batch[index], alone[0], rtol=1e-4, atol=1e-5)
    _, again = generate(reforge, "a cat", "ugly")
    assert torch.equal(again, base)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in reforge.model.unet.modules())


@pytest.mark.parametrize("path", RECORDINGS, ids=[p.stem for p in RECORDINGS])
def test_the_stand_in_replays_the_real_reforge(reforge, path: Path) -> None:
    assert_replays(reforge, path)


def test_there_are_reforge_recordings_of_every_scenario() -> None:
    assert {p.stem for p in RECORDINGS} >= {"batch2", "negative", "hires", "schedule", "img2img", "and_batch", "cfg1"}
