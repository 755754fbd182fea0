"""Hostile prompt text: never an exception, linear time, bounded memory, edits that never split tags."""

from __future__ import annotations

import gc
import time
import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loraloom.syntax import insert_tag, new_tag_text, parse, parse_prompt, remove_tag, set_weight
from loraloom.syntax.grammar import prompt_lexer, scan_prompt
from loraloom.syntax.values import read_bound, read_dyn, read_weight
from loraloom.ui.prompt_edits import prompt_words, remove_words, toggle_lora

from .conftest import HOSTILE

DIGITS = "1" * 5000


# -- 1. values the parser cannot read are diagnostics of their tag ------------------------------


@pytest.mark.parametrize(
    "body",
    [
        f"x:start={DIGITS}",
        f"x:stop={DIGITS}",
        f"x:dyn={DIGITS}",
        f"x:1:1:{DIGITS}",
        f"x:1:start=-{DIGITS}",
        f"x:{DIGITS}",
        f"x:{DIGITS}.5@0,1@{DIGITS}",
        f"x:lbw={','.join([DIGITS] * 17)}",
        f"x:1:hr={DIGITS}e{DIGITS}",
    ],
)
def test_huge_numbers_are_a_diagnostic_of_their_tag_only(body: str) -> None:
    result = parse_prompt(f"<lora:{body}> <lora:good:0.5>")
    bad, good = result.tags
    assert good.valid and good.te == 0.5
    assert not bad.valid
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert len(errors) == 1 and errors[0].span[0] >= bad.span[0] and errors[0].span[1] <= bad.span[1]
    assert len(errors[0].message) < 200, "a message quotes a value shortened, never 5,000 digits"


huge_values = st.one_of(
    st.integers(4301, 6000).map(lambda count: "7" * count),  # past int()'s 4,300-digit limit
    st.integers(4301, 6000).map(lambda count: "1" + "0" * count),
    st.text("0123456789", min_size=19, max_size=200),  # past any step or rank count
    st.builds(lambda a, b: f"{a}e{b}", st.integers(0, 10**300), st.integers(-(10**40), 10**40)),
)


@HOSTILE
@given(
    st.sampled_from(["start", "stop", "dyn", "te", "unet", "hr", "lbw", None]),
    st.sampled_from(["", "+", "-"]),
    huge_values,
)
def test_no_value_text_raises(key: str | None, sign: str, value: str) -> None:
    item = f"{key}={sign}{value}" if key else f"1:1:{sign}{value}"
    result = parse(f"a <lora:x:{item}> b", f"<lyco:y:{sign}{value}>")
    assert len(result.tags) == 2


# -- 2. parsing is linear in the prompt length ------------------------------------------------------


def _seconds(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


@pytest.mark.parametrize(
    "unit",
    ["<a:", "<lora:", "<", "<a:<", "<lora:x:1", "<x:>", "<lora:x:1:" + "a" * 10],
)
def test_parsing_is_linear(unit: str) -> None:
    """A quadratic parse took ~5 s at 96 KB: 8× the text must cost about 8× the time, not 64×."""
    small = unit * (10_000 // len(unit))
    large = unit * (80_000 // len(unit))
    parse_prompt(small)  # warm-up
    t_small = min(_seconds(parse_prompt, small) for _ in range(5))
    t_large = min(_seconds(parse_prompt, large) for _ in range(3))
    assert t_large < 0.1 + 24 * t_small, f"{unit!r}: {t_small:.3f}s for 10 KB but {t_large:.3f}s for 80 KB"
    assert t_large < 5


def test_a_large_hostile_prompt_parses_in_a_second() -> None:
    assert _seconds(parse, "<a:" * 80_000, "<lora:" * 40_000) < 5  # 480 KB; ~15 s here when quadratic


@pytest.mark.parametrize(
    ("call", "text"),
    [
        (lambda t: remove_words(t, ["zz"]), "a" + " " * 60_000 + "b"),
        (prompt_words, " " * 60_000 + "a"),
        (lambda t: remove_tag(t, 0), "a" + " " * 60_000 + "b<lora:x:1>"),
        (lambda t: toggle_lora(t, 0, "x", 1.0), "<lora:x:1>" * 6_000),
        (lambda t: toggle_lora(t, len(t), "y", 1.0, ["w"]), "a" + " \t" * 30_000 + "b"),
    ],
)
def test_prompt_edits_are_linear_too(call, text: str) -> None:
    assert _seconds(call, text) < 3  # each was quadratic: tens of seconds to minutes


def test_the_scanner_finds_exactly_what_the_grammar_finds() -> None:
    """The linear scanner against the grammar's own lexer, on text dense in '<', ':' and '>'."""

    @HOSTILE
    @given(st.text(st.sampled_from(list("<>:ab_ 1\n=é")), max_size=60))
    def check(text: str) -> None:
        ours = [(t.type, str(t), t.start_pos) for t in scan_prompt(text)]
        theirs = [(t.type, str(t), t.start_pos) for t in prompt_lexer().lex(text)]
        assert ours == theirs

    check()


# -- 3. memory stays bounded ---------------------------------------------------------------------


def test_long_values_are_not_kept_in_the_value_cache() -> None:
    for reader in (read_weight, read_dyn):
        reader.cache_clear()
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        for index in range(40):
            weight = f"{index}." + "5" * 250_000  # 40 distinct 250 KB weights: 10 MB of keys if cached
            parse_prompt(f"<lora:x:{weight}:start={weight}:dyn={weight}>")
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    assert retained < 2_000_000, f"{retained:,} bytes stay allocated after parsing"
    assert read_weight.cache_info().currsize == 0 and read_bound.cache_info().currsize >= 0


# -- 4. an insertion never lands inside a tag and adds exactly one valid tag -------------------------

pieces = st.sampled_from(
    [
        "<hypernet:h:1>",
        "<lora:a:0.5>",
        "<lora:ink",
        "<3:",
        "a <3",
        "<x:",
        "<x:>",
        "<",
        ">",
        ":",
        " ",
        ", ",
        "cat",
        "\n",
        "<lora:bad:o.8>",
        "<lyco:b>",
        "<word:",
        "(",
        ")",
    ]
)
hostile_prompts = st.lists(pieces, max_size=10).map("".join)


@HOSTILE
@given(hostile_prompts, st.data(), st.sampled_from([" ", ", ", ""]))
def test_insert_adds_exactly_one_valid_tag_and_keeps_every_other(text: str, data, separator: str) -> None:
    cursor = data.draw(st.integers(0, len(text)))
    before = parse_prompt(text)
    edit = insert_tag(text, cursor, new_tag_text("new one", 0.5), separator)
    after = parse_prompt(edit.text)
    new = [tag for tag in after.tags if tag.name == "new one"]
    assert len(new) == 1 and new[0].valid and new[0].te == 0.5
    assert sorted(t.raw for t in after.tags if t is not new[0]) == sorted(t.raw for t in before.tags)
    assert sorted(f.raw for f in after.foreign) == sorted(f.raw for f in before.foreign)
    start, end = edit.replaced
    assert start == end and edit.text[: edit.span[0]] == text[:start] and edit.text[edit.span[1] :] == text[end:]


@pytest.mark.parametrize(
    ("text", "cursor", "expected"),
    [
        ("<hypernet:h:1>", 5, "<hypernet:h:1> <lora:x:1>"),
        ("a <3:", 5, "a <lora:x:1> <3:"),
        ("a <lora:ink", 11, "a <lora:x:1> <lora:ink"),
        ("a <lora:ink", 4, "a <lora:x:1> <lora:ink"),
    ],
)
def test_the_issue_examples(text: str, cursor: int, expected: str) -> None:
    assert insert_tag(text, cursor, "<lora:x:1>").text == expected


@HOSTILE
@given(hostile_prompts, st.data())
def test_a_card_click_inserts_one_tag_with_its_words(text: str, data) -> None:
    cursor = data.draw(st.integers(0, len(text)))
    words = data.draw(st.lists(st.sampled_from(["ink wash", "<lora:evil:1>", "x>", "a <b:", "mono"]), max_size=3))
    toggle = toggle_lora(text, cursor, "ink", 0.8, words)
    assert toggle.action == "inserted"
    result = parse_prompt(toggle.change.full)
    assert [t.name for t in result.tags if t.name == "ink"] == ["ink"]
    assert len(result.tags) == len(parse_prompt(text).tags) + 1
    assert not set(toggle.words_added) & {"<lora:evil:1>", "x>", "a <b:"}, "words that could form tags are not inserted"


@HOSTILE
@given(
    st.lists(st.sampled_from(["<lora:x:1>", "<lora:y:1>", " ", ", ", ",", "\n", "cat", "\t"]), max_size=14).map("".join)
)
def test_removing_many_tags_at_once_equals_removing_them_one_by_one(text: str) -> None:
    from loraloom.syntax.editor import remove_tags

    indices = [i for i, tag in enumerate(parse_prompt(text).tags) if tag.name == "x"]
    expected = text
    while found := [i for i, tag in enumerate(parse_prompt(expected).tags) if tag.name == "x"]:
        expected = remove_tag(expected, found[0]).text
    edit = remove_tags(text, indices)
    assert edit.text == expected
    start, end = edit.replaced
    assert text[:start] + edit.text[edit.span[0] : edit.span[1]] + text[end:] == edit.text


@pytest.mark.parametrize("weight", [float("nan"), float("inf"), -float("inf")])
def test_set_weight_refuses_non_finite_weights(weight: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        set_weight("<lora:x:1>", 0, weight)
    with pytest.raises(ValueError, match="finite"):
        set_weight("<lora:x:1>", 0, 1.0, unet=weight)
    with pytest.raises(ValueError, match="finite"):
        new_tag_text("x", weight)


@pytest.mark.parametrize("name", ["te=1", " x", "x ", "a:b", "a>b", "", "unet=2", "dyn=4"])
def test_names_a_tag_cannot_hold_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="cannot name"):
        new_tag_text(name, 1)
