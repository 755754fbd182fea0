"""The editor: each edit changes only its span and leaves a prompt that parses as intended."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loraloom.syntax import (
    Edit,
    find_tags,
    insert_tag,
    new_tag_text,
    parse_prompt,
    remove_tag,
    rename_tag,
    set_weight,
)


def assert_only_span_changed(old: str, edit: Edit) -> None:
    start, end = edit.replaced
    assert edit.text[: edit.span[0]] == old[:start]
    assert edit.text[edit.span[1] :] == old[end:]
    assert edit.span[0] == start


@pytest.mark.parametrize(
    ("prompt", "weight", "unet", "expected"),
    [
        ("a, <lora:x:0.5>, b", 0.8, None, "a, <lora:x:0.8>, b"),
        ("a, <lora:x>, b", 0.8, None, "a, <lora:x:0.8>, b"),
        ("<lora:x:lbw=MIDD>", 1.25, None, "<lora:x:1.25:lbw=MIDD>"),
        ("<lora:x: 0.5 :0.2>", -1, None, "<lora:x: -1 :-1>"),
        ("<lora:x:te=0.5:dyn=4>", 0.15000000000000002, None, "<lora:x:te=0.15:dyn=4>"),
        ("<lora:x:0.5@0,1@0.5>", 2, None, "<lora:x:2>"),
        ("<lora:x:0.5>", 0.5, 0.25, "<lora:x:0.5:unet=0.25>"),
        ("<lora:x:0.5:0.1>", 0.7, 0.3, "<lora:x:0.7:0.3>"),
        ("<lora:x:unet=0.1:1>", 0.7, 0.3, "<lora:x:unet=0.3:0.7>"),
    ],
)
def test_set_weight(prompt: str, weight: float, unet: float | None, expected: str) -> None:
    edit = set_weight(prompt, 0, weight, unet=unet)
    assert edit.text == expected
    assert_only_span_changed(prompt, edit)
    (tag,) = parse_prompt(edit.text).tags
    assert tag.te == round(weight, 6) and tag.unet == round(weight if unet is None else unet, 6)


def test_set_weight_addresses_the_nth_tag_only() -> None:
    prompt = "<lora:a:1> <hypernet:h:1> <lora:b:1> <lora:c:1>"
    edit = set_weight(prompt, 1, 0.3)
    assert edit.text == "<lora:a:1> <hypernet:h:1> <lora:b:0.3> <lora:c:1>"
    assert_only_span_changed(prompt, edit)


def test_rename_keeps_arguments() -> None:
    edit = rename_tag("x <lora:old: 0.5:lbw=MIDD> y", 0, "styles/new one")
    assert edit.text == "x <lora:styles/new one: 0.5:lbw=MIDD> y"


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a cat <lora:x:1>", "a cat"),
        ("a cat, <lora:x:1>", "a cat"),
        ("a, <lora:x:1>, b", "a, b"),
        ("a <lora:x:1> b", "a b"),
        ("a, <lora:x:1> b", "a, b"),
        ("<lora:x:1>, a", "a"),
        ("<lora:x:1>", ""),
        ("(<lora:x:1>:1.2)", "(:1.2)"),
        ("line one\n<lora:x:1> two", "line one\ntwo"),
    ],
)
def test_remove_tag(prompt: str, expected: str) -> None:
    edit = remove_tag(prompt, 0)
    assert edit.text == expected
    assert_only_span_changed(prompt, edit)


@pytest.mark.parametrize(
    ("prompt", "cursor", "separator", "expected"),
    [
        ("a cat", 5, " ", "a cat <lora:x:1>"),
        ("a cat, ", 7, " ", "a cat, <lora:x:1>"),
        ("a cat,", 6, " ", "a cat, <lora:x:1>"),
        ("", 0, " ", "<lora:x:1>"),
        ("a cat", 0, " ", "<lora:x:1> a cat"),
        ("a cat", 2, ", ", "a <lora:x:1>, cat"),
        ("a cat", 1, ", ", "a, <lora:x:1>, cat"),
        ("a cat,", 6, ", ", "a cat, <lora:x:1>"),
        ("a <lora:y:1> b", 6, " ", "a <lora:y:1> <lora:x:1> b"),
        ("a cat", 99, " ", "a cat <lora:x:1>"),
    ],
)
def test_insert_tag(prompt: str, cursor: int, separator: str, expected: str) -> None:
    edit = insert_tag(prompt, cursor, new_tag_text("x", 1), separator)
    assert edit.text == expected
    assert_only_span_changed(prompt, edit)


def test_new_tag_text_refuses_names_a_tag_cannot_hold() -> None:
    assert new_tag_text("ink v2", 0.75) == "<lora:ink v2:0.75>"
    with pytest.raises(ValueError, match="may not contain"):
        new_tag_text("a:b", 1)


def test_find_tags() -> None:
    assert find_tags("<lora:a> <lora:b> <lyco:a:2>", "a") == [0, 2]


prompts = st.lists(
    st.sampled_from(["<lora:a:0.5>", "<lora:b>", "<lyco:c:1:lbw=MIDD>", " ", ", ", "cat", "(", ")", "<3", "\n"]),
    max_size=12,
).map("".join)


@given(prompts, st.data())
def test_edits_touch_only_their_span(prompt: str, data: st.DataObject) -> None:
    count = len(parse_prompt(prompt).tags)
    cursor = data.draw(st.integers(0, len(prompt)))
    inserted = insert_tag(prompt, cursor, "<lora:new:0.5>")
    assert_only_span_changed(prompt, inserted)
    assert len(parse_prompt(inserted.text).tags) == count + 1
    if count:
        index = data.draw(st.integers(0, count - 1))
        weight = data.draw(st.floats(-8, 8))
        for edit in (set_weight(prompt, index, weight), rename_tag(prompt, index, "z"), remove_tag(prompt, index)):
            assert_only_span_changed(prompt, edit)
        tags = parse_prompt(set_weight(prompt, index, weight).text).tags
        assert tags[index].te == round(weight, 6)
        assert len(parse_prompt(remove_tag(prompt, index).text).tags) == count - 1
