"""End to end on a tiny SD pipeline: a tagged prompt gives the image diffusers itself makes
after ``load_lora_weights`` + ``fuse_lora`` of the same file, and the untouched image after."""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from loraloom.hosts.diffusers import DiffusersLoRAs
from loraloom.library import Library
from tests.fixtures.lora_files import write_file
from tests.fixtures.models import kohya_lora_for
from tests.fixtures.pipelines import generate, tiny_sd_pipeline

ATTENTION = ("attn1", "attn2", "ff.net", "proj_in", "proj_out")


class _Only(nn.Module):
    """A view of a model's attention-side modules (what diffusers' kohya converter maps)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def named_modules(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        for name, module in self.model.named_modules(*args, **kwargs):
            if any(part in name for part in ATTENTION):
                yield name, module


@pytest.fixture
def library_file(tmp_path):  # type: ignore[no-untyped-def]
    pipeline = tiny_sd_pipeline(tmp_path / "model")
    tensors = kohya_lora_for(_Only(pipeline.unet), "lora_unet", rank=4, alpha=2.0, scale=0.3)
    tensors.update(kohya_lora_for(pipeline.text_encoder, "lora_te", rank=4, alpha=4.0, seed=1, scale=0.3))
    root = tmp_path / "Lora"
    root.mkdir()
    return write_file(root / "ink style.safetensors", tensors), root


@pytest.mark.parametrize("mode", ["hooks", "merge"])
def test_tagged_prompt_matches_diffusers_fuse_lora(tmp_path, library_file, mode: str) -> None:
    path, root = library_file
    pipeline = tiny_sd_pipeline(tmp_path / "model")
    base = generate(pipeline, "a cat, ")
    library = Library([str(root)])
    library.refresh()
    loras = DiffusersLoRAs(pipeline, library, mode=mode)
    with loras.activate("a cat, <lora:ink style:1>", num_inference_steps=3) as run:
        assert run.prompt == "a cat, " and run.problems == []
        ours = generate(pipeline, run.prompt, callback_on_step_end=run.callback_on_step_end)
    reference_pipeline = tiny_sd_pipeline(tmp_path / "model")
    reference_pipeline.load_lora_weights(path)
    reference_pipeline.fuse_lora(lora_scale=1.0)
    reference = generate(reference_pipeline, "a cat, ")
    assert np.abs(reference - base).max() > 1e-2  # the LoRA visibly changes the image
    np.testing.assert_allclose(ours, reference, rtol=0, atol=2e-4)
    np.testing.assert_array_equal(generate(pipeline, "a cat, "), base)  # removed: exactly the original


def test_weights_problems_and_schedules(tmp_path, library_file) -> None:
    _, root = library_file
    pipeline, loras = _pipeline_and_loras(tmp_path, root)
    base = generate(pipeline, "a cat, ")
    with loras.activate("a cat, <lora:ink style:0>", num_inference_steps=3) as run:
        np.testing.assert_array_equal(
            generate(pipeline, run.prompt, callback_on_step_end=run.callback_on_step_end), base
        )
    with loras.activate("a cat, <lora:ink stile:1> <lora:ink style:o.5>") as run:
        assert any("did you mean ink style" in p for p in run.problems)
        assert any("weight 'o.5' is not a number" in p for p in run.problems)
        np.testing.assert_array_equal(generate(pipeline, run.prompt), generate(pipeline, "a cat,  "))
    with loras.activate("a cat, <lora:ink style:1@0,0@0.5>", num_inference_steps=3) as run:
        steps = []
        original = run.callback_on_step_end

        def spy(pipe, step, timestep, kwargs):  # type: ignore[no-untyped-def]
            steps.append(run.patch.multipliers[0])
            return original(pipe, step, timestep, kwargs)

        generate(pipeline, run.prompt, callback_on_step_end=spy)
    assert steps == [(1.0, 1.0), pytest.approx((1 / 3, 1 / 3)), (0.0, 0.0)]


@pytest.mark.parametrize("mode", ["hooks", "merge"])
@pytest.mark.parametrize("projection", [False, True], ids=["encoders", "with-text-projection"])
def test_sdxl_pipeline_matches_diffusers_fuse_lora(tmp_path, mode: str, projection: bool) -> None:
    """``projection``: the file also changes the second encoder's ``text_projection``
    (``lora_te2_text_projection``, as OneTrainer writes it), which diffusers applies too."""
    from tests.fixtures.pipelines import tiny_sdxl_pipeline

    pipeline = tiny_sdxl_pipeline(tmp_path / "model")
    tensors = kohya_lora_for(_Only(pipeline.unet), "lora_unet", rank=4, alpha=2.0, scale=0.3)
    tensors.update(kohya_lora_for(pipeline.text_encoder, "lora_te1", rank=4, alpha=4.0, seed=1, scale=0.3))
    tensors.update(kohya_lora_for(pipeline.text_encoder_2, "lora_te2", rank=4, alpha=4.0, seed=2, scale=0.3))
    if not projection:  # kohya never trains it
        tensors = {k: v for k, v in tensors.items() if "text_projection" not in k}
    assert projection == ("lora_te2_text_projection.lora_up.weight" in tensors)
    root = tmp_path / "Lora"
    root.mkdir()
    path = write_file(root / "xl.safetensors", tensors)
    base = generate(pipeline, "a cat, ")
    library = Library([str(root)])
    library.refresh()
    with DiffusersLoRAs(pipeline, library, mode=mode).activate("a cat, <lora:xl:1>", num_inference_steps=3) as run:
        report = run.patch.report()[0]
        assert run.problems == [] and len(report.matched) == len(tensors) // 3
        assert ("lora_te2_text_projection" in report.matched) == projection
        ours = generate(pipeline, run.prompt, callback_on_step_end=run.callback_on_step_end)
    reference_pipeline = tiny_sdxl_pipeline(tmp_path / "model")
    reference_pipeline.load_lora_weights(path)
    reference_pipeline.fuse_lora(lora_scale=1.0)
    reference = generate(reference_pipeline, "a cat, ")
    assert np.abs(reference - base).max() > 1e-2
    np.testing.assert_allclose(ours, reference, rtol=0, atol=2e-4)
    np.testing.assert_array_equal(generate(pipeline, "a cat, "), base)


def _pipeline_and_loras(tmp_path, root):  # type: ignore[no-untyped-def]
    """A fresh tiny SD pipeline and loraloom on it, with the test's LoRA folder."""
    pipeline = tiny_sd_pipeline(tmp_path / "model")
    library = Library([str(root)])
    library.refresh()
    return pipeline, DiffusersLoRAs(pipeline, library)


def _embeds_generate(pipeline, run, seeds):  # type: ignore[no-untyped-def]
    import torch

    return pipeline(
        **run.pipeline_kwargs(),
        num_inference_steps=3,
        height=16,
        width=16,
        output_type="np",
        generator=[torch.Generator().manual_seed(s) for s in seeds],
        guidance_scale=5.0,
        callback_on_step_end=run.callback_on_step_end,
    ).images


def test_negative_tags_act_on_the_unconditional_side_only(tmp_path, library_file) -> None:
    _, root = library_file
    pipeline, loras = _pipeline_and_loras(tmp_path, root)
    outputs = {}
    cases = (("base", "ugly"), ("unet", "ugly <lora:ink style:0:1>"), ("te", "ugly <lora:ink style:1:0>"))
    for name, negative in cases:
        with loras.activate("a cat", negative, num_inference_steps=3) as run:
            assert run.problems == [] and run.negative_prompt == "ugly" + (" " if name != "base" else "")
            outputs[name] = _embeds_generate(pipeline, run, [7])[0]
    assert np.abs(outputs["unet"] - outputs["base"]).max() > 1e-3  # the UNet part: unconditional rows
    assert np.abs(outputs["te"] - outputs["base"]).max() > 1e-3  # the text part: the negative encoding
    with loras.activate("a cat", "ugly <lora:ink style:1>") as run:
        positive = run.pipeline_kwargs()["prompt_embeds"]
    with loras.activate("a cat", "ugly") as run:
        torch_equal = positive.equal(run.pipeline_kwargs()["prompt_embeds"])
    assert torch_equal  # the positive encoding never sees a negative LoRA
    untouched = tiny_sd_pipeline(tmp_path / "model")
    np.testing.assert_array_equal(generate(pipeline, "a cat", "ugly"), generate(untouched, "a cat", "ugly"))


def test_each_image_of_a_batch_gets_its_own_tags(tmp_path, library_file) -> None:
    _, root = library_file
    pipeline, loras = _pipeline_and_loras(tmp_path, root)
    prompts = ["a cat <lora:ink style:1>", "a cat"]
    with loras.activate(prompts, "ugly", num_inference_steps=3) as run:
        batch = _embeds_generate(pipeline, run, [7, 7])
    for index, prompt in enumerate(prompts):
        with loras.activate([prompt], "ugly", num_inference_steps=3) as run:
            alone = _embeds_generate(pipeline, run, [7])[0]
        np.testing.assert_allclose(batch[index], alone, rtol=0, atol=2e-4)
    assert np.abs(batch[0] - batch[1]).max() > 1e-3


def test_a_failed_apply_is_a_problem_and_the_pipeline_stays_untouched(tmp_path, library_file, monkeypatch) -> None:
    import torch

    from loraloom.patching.pool import BufferPool

    _, root = library_file
    pipeline = tiny_sd_pipeline(tmp_path / "model")
    library = Library([str(root)])
    library.refresh()
    base = generate(pipeline, "a cat, ")

    def out_of_memory(self, like):  # type: ignore[no-untyped-def]
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB")

    monkeypatch.setattr(BufferPool, "take", out_of_memory)
    with DiffusersLoRAs(pipeline, library, mode="merge").activate("a cat, <lora:ink style:1>") as run:
        assert any("LoRAs not applied" in p and "out of memory" in p for p in run.problems), run.problems
        np.testing.assert_array_equal(generate(pipeline, run.prompt), base)
