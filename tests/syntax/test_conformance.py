"""Table-driven conformance: every tag form A1111 accepts, and loraloom's additions."""

from __future__ import annotations

import pytest

from loraloom.syntax import Keyframe, parse, parse_prompt

from . import a1111_oracle

K = Keyframe

# prompt, expected fields of the only tag (name, te, unet, and any extra fields)
VALID = [
    ("<lora:x>", dict(name="x", te=1.0, unet=1.0, dyn=None)),
    ("<lora:x:0.75>", dict(name="x", te=0.75, unet=0.75)),
    ("<lora:x:1>", dict(te=1.0, unet=1.0)),
    ("<lora:x:-0.5>", dict(te=-0.5, unet=-0.5)),
    ("<lora:x:.5>", dict(te=0.5)),
    ("<lora:x:1e-1>", dict(te=0.1)),
    ("<lora:x:+2.>", dict(te=2.0)),
    ("<lora:x: 0.5 >", dict(te=0.5, unet=0.5)),
    ("<lora:x:0.5:0.25>", dict(te=0.5, unet=0.25)),
    ("<lora:x:0.5:0.25:8>", dict(te=0.5, unet=0.25, dyn=8)),
    ("<lora:x:te=0.3>", dict(te=0.3, unet=0.3)),
    ("<lora:x:unet=0.3>", dict(te=1.0, unet=0.3)),
    ("<lora:x:dyn=4>", dict(te=1.0, dyn=4)),
    ("<lora:x:unet=0.2:0.9>", dict(te=0.9, unet=0.2)),
    ("<lora:x:0.9:te=0.1>", dict(te=0.1, unet=0.1)),
    ("<lora:x:dyn=2:te=0.5:unet=0.7>", dict(te=0.5, unet=0.7, dyn=2)),
    ("<lora:te=0.5:x>", dict(name="x", te=0.5)),
    ("<lyco:x:0.4>", dict(type="lyco", name="x", te=0.4)),
    ("<lora:styles/ink v2:0.8>", dict(name="styles/ink v2", te=0.8)),
    ("<lora:my.lora-v1.5 (final) [b]:1>", dict(name="my.lora-v1.5 (final) [b]")),
    ("<lora:日本語のスタイル:0.6>", dict(name="日本語のスタイル", te=0.6)),
    ("<lora:émoji 🎨:1>", dict(name="émoji 🎨")),
    ("<lora:a=b=c:1>", dict(name="a=b=c", te=1.0)),
    ("<lora:char=alice:0.5>", dict(name="char=alice", te=0.5)),
    ("<lora:x\n:0.5>", dict(name="x", te=0.5)),
    # schedules (loractl): w@t, comma or semicolon separated
    ("<lora:x:0.8@0,0.2@0.5>", dict(te=(K(0.0, 0.8), K(0.5, 0.2)), unet=(K(0.0, 0.8), K(0.5, 0.2)))),
    ("<lora:x:0@0; 1@10 ;0.5@20>", dict(te=(K(0, 0), K(10, 1), K(20, 0.5)))),
    ("<lora:x:1:unet=0@0,1@1>", dict(te=1.0, unet=(K(0, 0), K(1, 1)))),
    ("<lora:x:0.5:hr=0.2>", dict(te=0.5, hr_te=0.2, hr_unet=0.2)),
    ("<lora:x:0.5:hr=0.2:hrunet=0>", dict(hr_te=0.2, hr_unet=0.0)),
    ("<lora:x:hrte=0@0,1@1>", dict(hr_te=(K(0, 0), K(1, 1)), hr_unet=None)),
    # block weights (lora-block-weight)
    ("<lora:x:1:lbw=MIDD>", dict(lbw="MIDD")),
    ("<lora:x:1:lbw=outall>", dict(lbw="OUTALL")),
    ("<lora:x:1:lbw=ALL0.5>", dict(lbw="ALL0.5")),
    ("<lora:x:1:lbw=1,0,0,0,0,0,0,0,1,1,1,1,1,1,1,1,1>", dict(lbw=(1.0,) + (0.0,) * 7 + (1.0,) * 9)),
    ("<lora:x:1:lbw=1, 0,0,0,0,1 ,1,1,1,1,1,0.5>", dict(lbw=(1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0.5))),
    # start/stop: integers are steps, decimals fractions
    ("<lora:x:1:start=5:stop=20>", dict(start=5, stop=20)),
    ("<lora:x:1:start=0.25:stop=1.0>", dict(start=0.25, stop=1.0)),
]


@pytest.mark.parametrize(("prompt", "expected"), VALID, ids=[p for p, _ in VALID])
def test_valid_tag(prompt: str, expected: dict) -> None:
    result = parse_prompt(prompt)
    assert [d for d in result.diagnostics if d.severity == "error"] == []
    (tag,) = result.tags
    assert tag.valid
    assert tag.raw == prompt and tag.span == (0, len(prompt))
    for field, value in expected.items():
        assert getattr(tag, field) == value, field
    if "type" not in expected:
        assert tag.type == "lora"


def test_start_stop_keep_step_and_fraction_apart() -> None:
    (tag,) = parse_prompt("<lora:x:start=1:stop=1.0>").tags
    assert isinstance(tag.start, int) and isinstance(tag.stop, float)


# prompt, substring of the error message, span of the error
INVALID = [
    ("<lora:x:o.8>", "weight 'o.8' is not a number", (8, 11)),
    ("<lora:x:nan>", "weight 'nan' is not a finite number", (8, 11)),
    ("<lora:x:inf>", "not a finite number", (8, 11)),
    ("<lora:x:-Infinity>", "not a finite number", (8, 17)),
    ("<lora:x:1e999>", "too large", (8, 13)),
    ("<lora:x:0.5:abc>", "unet weight 'abc'", (12, 15)),
    ("<lora:x:te=>", "weight is empty", (11, 11)),
    ("<lora:x:0.5@0,0.2@>", "ends too early", (18, 18)),
    ("<lora:x:0.5@0,,0.2@1>", "unexpected ','", (14, 15)),
    ("<lora:x:0.5@-1>", "position '-1' is negative", (12, 14)),
    ("<lora:x:1:dyn=1.5>", "dyn '1.5': unexpected '.'", (15, 16)),
    ("<lora:x:1:dyn=0>", "at least 1", (14, 15)),
    ("<lora:x:1:1:abc>", "dyn 'abc' is not a number", (12, 15)),
    ("<lora:x:1:lbw=NOPE>", "lbw preset 'NOPE' is unknown", (14, 18)),
    ("<lora:x:1:lbw=1,0,1>", "lbw has 3 values", (14, 19)),
    ("<lora:x:1:lbw=1,x>", "lbw '1,x'", (16, 17)),
    ("<lora:x:1:start=2.5>", "decimal outside 0…1", (16, 19)),
    ("<lora:x:1:stop=-3>", "stop '-3' is negative", (15, 17)),
    ("<lora:x:hr=big>", "hires weight 'big'", (11, 14)),
    ("<lora::1>", "tag has no name", (6, 6)),
    ("<lora: :1>", "tag has no name", (6, 7)),
]


@pytest.mark.parametrize(("prompt", "message", "span"), INVALID, ids=[p for p, _, _ in INVALID])
def test_invalid_tag_is_kept_with_a_positioned_error(prompt: str, message: str, span: tuple[int, int]) -> None:
    result = parse_prompt(prompt)
    (tag,) = result.tags
    assert not tag.valid and tag.te is None and tag.unet is None
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert len(errors) == 1, errors
    assert message in errors[0].message
    assert errors[0].span == span
    assert errors[0].hint


def test_one_bad_tag_does_not_disable_the_others() -> None:
    result = parse_prompt("<lora:a:0.5>, <lora:b:o.8>, <lora:c>")
    assert [(t.name, t.valid, t.te) for t in result.tags] == [("a", True, 0.5), ("b", False, None), ("c", True, 1.0)]


@pytest.mark.parametrize(
    "prompt",
    ["<3 you", "a <b> c", "x < y > z", "<lora:x", "<lora:>", "<>", "<:a>", "<lora x:1>", "a<", "<" * 50, ""],
)
def test_text_that_is_not_a_tag_stays_prompt_text(prompt: str) -> None:
    result = parse_prompt(prompt)
    assert result.tags == () and result.foreign == ()
    assert result.clean == prompt == a1111_oracle.strip(prompt)


def test_unclosed_tag_warns_at_its_position() -> None:
    result = parse_prompt("a cat, <lora:x:0.5")
    (warning,) = result.diagnostics
    assert warning.severity == "warning" and "never closed" in warning.message
    assert warning.span == (7, 13)


def test_empty_tag_warns() -> None:
    (warning,) = parse_prompt("x <lyco:> y").diagnostics
    assert "empty tag" in warning.message and warning.span == (2, 9)


def test_missing_close_before_next_tag_is_a_warning_at_the_inner_angle() -> None:
    result = parse_prompt("<lora:x <lora:y:1>")
    assert len(result.tags) == 1
    assert any("'<'" in d.message and d.span == (8, 9) for d in result.diagnostics)


@pytest.mark.parametrize(
    ("prompt", "foreign_types"),
    [
        ("<hypernet:h:1>", ["hypernet"]),
        ("<LORA:x:1>", ["LORA"]),
        ("<ti_embed:x> <lora:y> <word:a:b:c>", ["ti_embed", "word"]),
        ("<12:30>", ["12"]),
    ],
)
def test_other_tag_types_are_foreign_and_uninterpreted(prompt: str, foreign_types: list[str]) -> None:
    result = parse_prompt(prompt)
    assert [f.type for f in result.foreign] == foreign_types
    assert all(prompt[f.span[0] : f.span[1]] == f.raw for f in result.foreign)
    assert result.diagnostics == ()


@pytest.mark.parametrize(
    "prompt",
    [
        "(<lora:a:1>:1.2), [<lora:b:0.5>|<lora:c>]",
        "a cat BREAK <lora:a:1> a dog AND <lora:b:0.5> a bird :1.2",
        "((masterpiece)), <lora:a:1>,<lora:b:1> ,\n<hypernet:h>\t<lora:c>",
        "<lora:a:1><lora:b:1><lora:c:1>",
    ],
)
def test_clean_prompt_equals_a1111_strip(prompt: str) -> None:
    assert parse_prompt(prompt).clean == a1111_oracle.strip(prompt)


def test_emphasis_and_break_around_tags_keep_their_positions() -> None:
    prompt = "(<lora:a:1>:1.2) BREAK <lora:b:0.5>"
    result = parse_prompt(prompt)
    assert [prompt[slice(*t.span)] for t in result.tags] == ["<lora:a:1>", "<lora:b:0.5>"]
    assert result.clean == "(:1.2) BREAK "


def test_warnings_for_unknown_extra_and_repeated_arguments() -> None:
    result = parse_prompt("<lora:x:1:1:4:9:foo=2:te=0.5>")
    messages = [d.message for d in result.diagnostics]
    assert any("unknown argument 'foo='" in m for m in messages)
    assert any("extra argument '9'" in m for m in messages)
    assert any("te is given twice" in m for m in messages)
    (tag,) = result.tags
    assert tag.valid and tag.te == 0.5 and tag.unet == 1.0 and tag.dyn == 4


def test_start_not_before_stop_warns() -> None:
    result = parse_prompt("<lora:x:1:start=10:stop=5>")
    assert result.tags[0].valid
    assert any("never active" in d.message for d in result.diagnostics)


def test_duplicate_names_are_reported_per_prompt() -> None:
    result = parse("<lora:a:1> <lora:b> <lora:a:0.5>", "<lora:a:-1>")
    duplicates = [d for d in result.diagnostics if "appears" in d.message]
    assert len(duplicates) == 1
    assert duplicates[0].source == "positive" and duplicates[0].span == (20, 32)


def test_negative_prompt_tags_carry_their_source_and_own_spans() -> None:
    result = parse("a <lora:p:1>", "<lora:n:-1> bad")
    assert [(t.name, t.source, t.span) for t in result.tags] == [("p", "positive", (2, 12)), ("n", "negative", (0, 11))]
    assert result.negative.clean == " bad"


def test_user_lbw_presets() -> None:
    presets = {"FACE": (1.0,) * 12}
    assert parse_prompt("<lora:x:lbw=FACE>", presets=presets).tags[0].lbw == "FACE"
    assert not parse_prompt("<lora:x:lbw=FACE>").tags[0].valid


def test_unknown_preset_suggests_close_names() -> None:
    (error,) = parse_prompt("<lora:x:lbw=OUTAL>").diagnostics
    assert "did you mean OUTALL" in error.hint


def test_json_shape() -> None:
    data = parse("<lora:x:0.5@0,1@0.5:unet=0.3:lbw=MIDD:start=2>", "<lyco:n>").to_json()
    assert set(data) == {"prompt", "negative", "clean_prompt", "clean_negative", "tags", "foreign", "diagnostics"}
    tag = data["tags"][0]
    assert set(tag) == {
        "type",
        "name",
        "te",
        "unet",
        "dyn",
        "schedule_te",
        "schedule_unet",
        "lbw",
        "start",
        "stop",
        "hr_te",
        "hr_unet",
        "span",
        "source",
        "raw",
        "valid",
    }
    assert tag["te"] is None and tag["schedule_te"] == [[0.0, 0.5], [0.5, 1.0]]
    assert tag["unet"] == 0.3 and tag["schedule_unet"] is None
    assert tag["span"] == [0, len(data["prompt"])] and tag["source"] == "positive"
    assert data["tags"][1]["source"] == "negative" and data["tags"][1]["te"] == 1.0
