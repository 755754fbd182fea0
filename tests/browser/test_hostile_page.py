"""A library of hostile names and metadata in a real browser: every payload stays inert text."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from loraloom.samples import write_samples

from .test_gallery import PROMPT, set_prompt

PAYLOAD = '<img src=x onerror="window.__pwned=1">'
NAME = '"><svg onload=window.__pwned=2>'


@pytest.fixture
def library(tmp_path):
    """The sample library plus files whose names, sidecars and headers carry script payloads."""
    folder = tmp_path / "loras"
    write_samples(str(folder))
    small_lora(folder / f"{NAME}.safetensors", {"ss_training_comment": PAYLOAD, "ss_output_name": PAYLOAD})
    small_lora(folder / "evil.safetensors", {"ss_tag_frequency": json.dumps({"1_x": {PAYLOAD: 3}})})
    (folder / "evil.json").write_text(
        json.dumps({"activation text": f"{PAYLOAD}, fine words", "description": PAYLOAD, "notes": PAYLOAD})
    )
    (folder / "evil.civitai.info").write_text(json.dumps({"model": {"name": PAYLOAD, "tags": [PAYLOAD]}}))
    return folder


def assert_inert(page) -> None:
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src='x'], svg[onload]").count() == 0


def test_payloads_in_names_and_metadata_stay_text(page) -> None:
    page.wait_for_selector('.loraloom-card[data-name="evil"]')
    assert_inert(page)
    for name in ("evil", NAME):
        page.locator(".loraloom-card", has_text="evil" if name == "evil" else "svg").first.locator(
            ".loraloom-info"
        ).click()
        page.wait_for_selector(".loraloom-detail [data-field='activation text']")
        assert_inert(page)
        page.click(".loraloom-detail .loraloom-close")
    set_prompt(page, PROMPT, f"{PAYLOAD} <lora:{PAYLOAD}:1> <lora:evil:1>")
    page.keyboard.type(" ")
    page.wait_for_selector('.loraloom-slider[data-name="evil"]')
    page.wait_for_function("document.querySelector('#loraloom-parse').textContent.includes('onerror')")
    assert_inert(page)
    page.click('.loraloom-card[data-name="evil"] .loraloom-add-words')  # a second click: removes it
    page.wait_for_function(f"!document.querySelector('{PROMPT}').value.includes('<lora:evil')")
    page.click('.loraloom-card[data-name="evil"] .loraloom-add-words')
    page.wait_for_function(f"document.querySelector('{PROMPT}').value.includes('<lora:evil')")
    value = page.input_value(PROMPT)
    assert "fine words" in value and value.count("onerror") == 2  # the payload word is never inserted
    assert_inert(page)


def small_lora(path, metadata: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    """A real kohya SD1 LoRA of one attention module, written without torch (the gradio-3
    environment that runs the browser tests again has none)."""
    stem = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
    rng = np.random.default_rng(0)
    tensors = {
        f"{stem}.lora_down.weight": rng.standard_normal((4, 320)).astype(np.float16),
        f"{stem}.lora_up.weight": rng.standard_normal((320, 4)).astype(np.float16),
        f"{stem}.alpha": np.array(2.0, dtype=np.float16),
    }
    save_file(tensors, str(path), metadata)

