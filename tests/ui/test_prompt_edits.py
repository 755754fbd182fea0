"""Prompt edits the gallery and sliders make: one minimal range each, nothing else touched."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loraloom.ui.prompt_edits import remove_tag_at, remove_words, set_tag_weight, text_change, toggle_lora


def apply(old: str, change) -> str:
    return old[: change.start] + change.text + old[change.end :]


@given(st.text(max_size=40), st.text(max_size=40))
def test_text_change_is_one_range_that_rebuilds_the_new_text(old: str, new: str) -> None:
    change = text_change(old, new)
    assert apply(old, change) == new == change.full
    assert change.end - change.start <= len(old)


def test_click_inserts_at_the_cursor_and_a_second_click_removes_exactly_that() -> None:
    text = "a cat, sitting"
    inserted = toggle_lora(text, 6, "ink", 0.8)
    assert inserted.action == "inserted"
    assert inserted.change.full == "a cat, <lora:ink:0.8> sitting"
    assert apply(text, inserted.change) == inserted.change.full
    removed = toggle_lora(inserted.change.full, 0, "ink", 0.8)
    assert removed.action == "removed"
    assert removed.change.full == text


def test_trigger_words_are_added_once_and_removed_with_the_tag() -> None:
    text = "a cat, Monochrome, sitting"
    inserted = toggle_lora(text, len("a cat,"), "ink", 0.8, ["ink wash", "monochrome", "ink wash"])
    assert inserted.words_added == ("ink wash",)  # "monochrome" was there (any case), duplicates dropped
    assert inserted.change.full == "a cat, <lora:ink:0.8>, ink wash, Monochrome, sitting"
    removed = toggle_lora(inserted.change.full, 0, "ink", 0.8, words_to_remove=inserted.words_added)
    assert removed.change.full == text


def test_words_before_following_text_stay_phrases_of_their_own() -> None:
    inserted = toggle_lora("a cat sitting", len("a cat"), "ink", 1.0, ["ink wash"])
    assert "ink wash," in inserted.change.full
    removed = toggle_lora(inserted.change.full, 0, "ink", 1.0, words_to_remove=inserted.words_added)
    assert removed.change.full == "a cat, sitting"  # the words are gone; one joining comma stays


def test_removing_words_keeps_words_the_user_typed_around_them() -> None:
    assert remove_words("ink wash, red ink washes, blue", ["ink wash"]) == "red ink washes, blue"
    assert remove_words("a, b", ["c"]) == "a, b"


def test_setting_a_weight_changes_only_the_weight() -> None:
    text = "x <lora:a:1:lbw=OUTD> y <lora:b:0.5>"
    change = set_tag_weight(text, 1, 1.25)
    assert change.full == "x <lora:a:1:lbw=OUTD> y <lora:b:1.25>"
    weight_at = text.index("0.5")
    assert weight_at <= change.start and change.end <= weight_at + 3  # only inside the old weight
    assert apply(text, change) == change.full
    split = set_tag_weight(text, 0, 0.3, 1.5)
    assert split.full == "x <lora:a:0.3:1.5:lbw=OUTD> y <lora:b:0.5>" or "unet=1.5" in split.full
    assert split.full.endswith(" y <lora:b:0.5>")


def test_a_stale_index_is_an_index_error() -> None:
    with pytest.raises(IndexError):
        set_tag_weight("no tags", 0, 1.0)


def test_remove_button_removes_the_tag_its_separator_and_its_words() -> None:
    text = "x, <lora:a:1>, ink wash, y"
    assert remove_tag_at(text, 0, ["ink wash"]).full == "x, y"
