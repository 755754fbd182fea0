"""Consecutive card clicks in a real browser: the prompt holds exactly the clicked tags, no word is split."""

from __future__ import annotations

import pytest

from loraloom.syntax import parse_prompt

from .test_gallery import NEGATIVE, PROMPT, set_prompt

WORDS = {
    "ink-style": ["ink wash", "monochrome"],
    "forest-spirit": ["forest spirit", "glowing eyes"],
    "robot-pilot": ["robot pilot", "mecha cockpit"],
    "watercolour": ["watercolour painting"],
    "pixel-art": [],
    "detail-slider": [],
}


def click(page, selector: str, name: str, *, expect: str) -> None:
    before = page.input_value(selector)
    page.click(f'.loraloom-card[data-name="{name}"]')
    page.wait_for_function(
        "([s, before]) => document.querySelector(s).value !== before", arg=[selector, before], timeout=10_000
    )
    assert (f"<lora:{name}:" in page.input_value(selector)) == (expect == "inserted")


def phrases(text: str) -> list[str]:
    """The comma-separated phrases outside tags, as A1111 would send them to CLIP."""
    return [phrase.strip() for phrase in parse_prompt(text).clean.split(",") if phrase.strip()]


def check_prompt(text: str, start: str, clicked: list[str], with_words: bool) -> None:
    tags = parse_prompt(text).tags
    assert sorted(tag.name for tag in tags) == sorted(clicked), text
    assert all(tag.valid for tag in tags), text
    expected = [p for p in phrases(start)] + [w for name in clicked for w in (WORDS[name] if with_words else [])]
    assert sorted(phrases(text)) == sorted(expected), text  # every word whole, none split or merged
    assert ",," not in text.replace(" ", ""), text


@pytest.mark.parametrize("with_words", [True, False])
@pytest.mark.parametrize(("selector", "start"), [(PROMPT, "a cat"), (NEGATIVE, "lowres, blurry")])
def test_several_clicks_in_a_row(page, selector: str, start: str, with_words: bool) -> None:
    if not with_words:
        page.uncheck(".loraloom-with-words")
    set_prompt(page, selector, start)
    clicked: list[str] = []
    for name in ["ink-style", "forest-spirit", "pixel-art", "robot-pilot", "watercolour"]:
        click(page, selector, name, expect="inserted")
        clicked.append(name)
        check_prompt(page.input_value(selector), start, clicked, with_words)
    for name in ["forest-spirit", "ink-style"]:  # a second click removes a tag and the words it added
        click(page, selector, name, expect="removed")
        clicked.remove(name)
        check_prompt(page.input_value(selector), start, clicked, with_words)
    other = NEGATIVE if selector == PROMPT else PROMPT
    assert page.input_value(other) == ""


def test_clicks_in_the_middle_of_a_prompt_and_both_prompts(page) -> None:
    set_prompt(page, PROMPT, "a cat, sitting", cursor=len("a cat,"))
    for name in ["ink-style", "detail-slider", "watercolour"]:
        click(page, PROMPT, name, expect="inserted")
    text = page.input_value(PROMPT)
    check_prompt(text, "a cat, sitting", ["ink-style", "detail-slider", "watercolour"], True)
    assert text.startswith("a cat, <lora:ink-style:0.8>") and text.rstrip().endswith("sitting")
    set_prompt(page, NEGATIVE, "lowres")
    for name in ["pixel-art", "robot-pilot"]:
        click(page, NEGATIVE, name, expect="inserted")
    check_prompt(page.input_value(NEGATIVE), "lowres", ["pixel-art", "robot-pilot"], True)
    assert page.input_value(PROMPT) == text
