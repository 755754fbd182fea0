"""The stand-in against the real thing: each recording in ``recordings/`` (captured in a real
A1111 v1.10.1 with ``recorder/``) is replayed on the stand-in with loraloom, the same recorder
attached, and the two event sequences must agree — registry owners, ``activate`` arguments,
every text each encoder call got, every UNet call's batch, every CFG step's layout and
counters. When A1111 (or the stand-in) changes, this is the test that says so."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.a1111.test_a1111_host import a1111, generate, load_script  # noqa: F401  (the fixture)

RECORDINGS = sorted((Path(__file__).parent / "recordings").glob("*.json"))
RECORDER = Path(__file__).parent / "recorder"


def compared(events: list[dict]) -> list[dict]:
    """From the first generation on (app start happens before the stand-in's recorder loads)."""
    start = next(i for i, event in enumerate(events) if event["event"] == "owners" and event["when"] != "app_started")
    return events[start:]


def replay(webui, recording: dict) -> list[dict]:  # type: ignore[no-untyped-def]
    from modules import script_callbacks

    script_callbacks.extension_roots["loraloom-recorder"] = str(RECORDER)
    recorder = load_script(RECORDER / "scripts" / "recorder.py", RECORDER)
    request = recording["request"]
    process = next(e for e in recording["events"] if e["event"] == "process")
    options = {
        "steps": request.get("steps", 20),
        "batch_size": request.get("batch_size", 1),
        "n_iter": request.get("n_iter", 1),
        "seed": request.get("seed", 1),
        "cfg_scale": request.get("cfg_scale", 7),
        "all_prompts": process["all_prompts"] if request.get("script_name") else None,
    }
    if request.get("enable_hr"):
        options.update(enable_hr=True, hr_second_pass_steps=request.get("hr_second_pass_steps", 0))
    if recording["endpoint"].endswith("img2img"):
        options["img2img"] = request.get("denoising_strength", 0.75)
    prompt, negative = request.get("prompt", ""), request.get("negative_prompt", "")
    generate(webui, prompt, negative, also=[recorder.RecorderScript()], **options)
    return recorder.RECORDER.events


def assert_replays(webui, path: Path) -> None:  # type: ignore[no-untyped-def]
    """Replay the recording at ``path`` on the stand-in ``webui`` (any flavour) and compare."""
    recording = json.loads(path.read_text(encoding="utf-8"))
    for name in set(re.findall(r"<l(?:ora|yco):([^:>]+)", json.dumps(recording))):
        shutil.copy(webui.folder / "ink.safetensors", webui.folder / f"{name}.safetensors")
    webui.host.get_session().library.refresh()
    ours = compared(replay(webui, recording))
    real = compared(recording["events"])
    for index, (mine, theirs) in enumerate(zip(ours, real, strict=False)):
        assert mine == theirs, f"{path.name}: event {index} differs:\n stand-in {mine}\n real     {theirs}"
    assert len(ours) == len(real), f"{path.name}: {len(ours)} events on the stand-in, {len(real)} recorded"


@pytest.mark.parametrize("path", RECORDINGS, ids=[p.stem for p in RECORDINGS])
def test_the_stand_in_replays_the_real_host(a1111, path: Path) -> None:  # noqa: F811
    assert_replays(a1111, path)


def test_there_are_recordings_of_every_scenario() -> None:
    assert {p.stem for p in RECORDINGS} >= {"batch2", "negative", "hires", "schedule", "img2img", "and_batch"}
