"""Schedules, start/stop bounds and block-weight presets evaluate as documented."""

from __future__ import annotations

import pytest

from loraloom.syntax import BUILTIN_PRESETS, block_values, is_active, parse_prompt, weight_at


def tag(text: str):
    (parsed,) = parse_prompt(text).tags
    assert parsed.valid
    return parsed


@pytest.mark.parametrize(
    ("text", "step", "total", "expected"),
    [
        ("<lora:x:0.5>", 7, 20, 0.5),
        ("<lora:x:0.8@0,0.2@0.5>", 0, 20, 0.8),
        ("<lora:x:0.8@0,0.2@0.5>", 5, 20, 0.5),
        ("<lora:x:0.8@0,0.2@0.5>", 10, 20, 0.2),
        ("<lora:x:0.8@0,0.2@0.5>", 19, 20, 0.2),
        ("<lora:x:1@0.5,0@1>", 2, 20, 1.0),  # the first weight holds before the first keyframe
        ("<lora:x:0@0;1@10>", 5, 30, 0.5),  # t > 1 is an absolute step
        ("<lora:x:0@10,1@0.5>", 12.5, 30, 0.5),  # mixed steps and fractions are ordered by step
    ],
)
def test_weight_at(text: str, step: float, total: int, expected: float) -> None:
    assert weight_at(tag(text).te, step, total) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "active_steps"),
    [
        ("<lora:x:start=3:stop=6>", [3, 4, 5]),
        ("<lora:x:start=0.5>", [5, 6, 7, 8, 9]),
        ("<lora:x:stop=0.2>", [0, 1]),
        ("<lora:x>", list(range(10))),
    ],
)
def test_start_stop(text: str, active_steps: list[int]) -> None:
    parsed = tag(text)
    assert [s for s in range(10) if is_active(parsed, s, 10)] == active_steps


def test_presets_match_lora_block_weight() -> None:
    assert block_values("MIDD", 17) == (1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0)
    assert block_values("OUTS", 17) == (1,) + (0,) * 11 + (1,) * 5
    assert all(len(v) == 17 for v in BUILTIN_PRESETS.values())


def test_presets_have_an_sdxl_form_and_lists_must_fit() -> None:
    assert block_values("INALL", 12) == (1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
    assert block_values("OUTD", 12) == (1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0)
    assert block_values((1.0,) * 12, 17) is None
    assert block_values("UNKNOWN", 17) is None
    assert block_values("mine", 12, {"mine": (0.5,) * 12}) == (0.5,) * 12
