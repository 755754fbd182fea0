"""The gallery and the sliders in a real browser against a real server."""

from __future__ import annotations

import json

from .conftest import ARTIFACTS, gradio_major

PROMPT = "#loraloom-prompt textarea"
NEGATIVE = "#loraloom-negative textarea"


def card_names(page) -> list[str]:
    return page.eval_on_selector_all(".loraloom-card", "cards => cards.map(c => c.dataset.name)")


def set_prompt(page, selector: str, text: str, cursor: int | None = None) -> None:
    page.fill(selector, text)
    position = len(text) if cursor is None else cursor
    page.eval_on_selector(selector, "(t, p) => { t.focus(); t.setSelectionRange(p, p); }", position)


def slider(page, name: str):
    return page.locator(f'.loraloom-slider[data-name="{name}"]')


def test_search_filters_cards_by_name_trigger_words_and_tags(page) -> None:
    assert len(card_names(page)) == 6
    page.fill("#loraloom-search", "forest")
    page.wait_for_function("document.querySelectorAll('.loraloom-card').length === 1")
    assert card_names(page) == ["forest-spirit"]
    page.fill("#loraloom-search", "mecha")  # a trigger word from robot-pilot.txt
    page.wait_for_function("document.querySelectorAll('.loraloom-card').length === 1")
    assert card_names(page) == ["robot-pilot"]
    page.fill("#loraloom-search", "fantasy")  # a Civitai tag
    page.wait_for_function("document.querySelectorAll('.loraloom-card').length === 1")
    page.fill("#loraloom-search", "")
    page.wait_for_function("document.querySelectorAll('.loraloom-card').length === 6")
    page.click('.loraloom-breadcrumb [data-folder="styles"]')
    assert sorted(card_names(page)) == ["pixel-art", "watercolour"]


def test_click_inserts_at_the_cursor_and_a_second_click_removes_it(page) -> None:
    assert page.is_checked(".loraloom-with-words")  # on by default; off = only the tag
    page.uncheck(".loraloom-with-words")
    set_prompt(page, PROMPT, "a cat, sitting", cursor=len("a cat,"))
    page.click('.loraloom-card[data-name="ink-style"]')
    page.wait_for_function(f"document.querySelector('{PROMPT}').value.includes('<lora:ink-style')")
    assert page.input_value(PROMPT) == "a cat, <lora:ink-style:0.8> sitting"
    page.click('.loraloom-card[data-name="ink-style"]')
    page.wait_for_function(f"!document.querySelector('{PROMPT}').value.includes('<lora:')")
    assert page.input_value(PROMPT) == "a cat, sitting"


def test_insert_goes_to_the_prompt_focused_last_with_trigger_words(page) -> None:
    page.uncheck(".loraloom-with-words")
    set_prompt(page, NEGATIVE, "lowres")
    page.click('.loraloom-card[data-name="ink-style"] .loraloom-add-words')  # the button adds the words
    page.wait_for_function(f"document.querySelector('{NEGATIVE}').value.includes('<lora:')")
    assert page.input_value(NEGATIVE) == "lowres <lora:ink-style:0.8>, ink wash, monochrome"
    assert page.input_value(PROMPT) == ""
    page.click('.loraloom-card[data-name="ink-style"]')  # removes the tag and the words it added
    page.wait_for_function(f"!document.querySelector('{NEGATIVE}').value.includes('<lora:')")
    assert page.input_value(NEGATIVE) == "lowres"


def test_slider_and_prompt_stay_in_sync_both_ways_and_undo_works(page) -> None:
    set_prompt(page, PROMPT, "masterpiece, <lora:detail-slider:3>, blue sky")
    page.keyboard.type(" ")  # typing updates the sliders (debounced)
    row = slider(page, "detail-slider")
    row.wait_for()
    number = row.locator('input[type="number"][data-part="te"]')
    assert number.input_value() == "3"
    assert row.locator('input[type="range"]').first.get_attribute("max") == "8"  # the sidecar's range
    number.fill("-1.5")
    number.press("Enter")
    page.wait_for_function(f"document.querySelector('{PROMPT}').value.includes(':-1.5>')")
    assert page.input_value(PROMPT) == "masterpiece, <lora:detail-slider:-1.5>, blue sky "
    row.locator('input[type="range"]').first.evaluate(
        "r => { r.value = '2.25'; r.dispatchEvent(new Event('input', {bubbles: true})); }"
    )
    page.wait_for_function(f"document.querySelector('{PROMPT}').value.includes(':2.25>')")
    assert number.input_value() == "2.25"
    page.focus(PROMPT)
    page.keyboard.press("Control+z")  # the textarea's own undo steps back through slider edits
    page.wait_for_function(f"document.querySelector('{PROMPT}').value.includes(':-1.5>')")
    page.eval_on_selector(PROMPT, "t => { t.setSelectionRange(0, 0); }")
    page.keyboard.type("best, ")
    page.wait_for_function(
        "document.querySelector('.loraloom-slider[data-name=\"detail-slider\"] input[type=number]').value === '-1.5'"
    )
    assert page.input_value(PROMPT) == "best, masterpiece, <lora:detail-slider:-1.5>, blue sky "


def test_split_weights_and_remove_button(page) -> None:
    set_prompt(page, PROMPT, "<lora:ink-style:1>, cat")
    page.keyboard.type(" ")
    row = slider(page, "ink-style")
    row.wait_for()
    row.locator(".loraloom-split").check()
    unet = row.locator('input[type="number"][data-part="unet"]')
    unet.fill("0.4")
    unet.press("Enter")
    page.wait_for_function(f"document.querySelector('{PROMPT}').value.includes('unet=0.4')")
    assert page.input_value(PROMPT) == "<lora:ink-style:1:unet=0.4>, cat "
    row.locator(".loraloom-remove").click()
    page.wait_for_function(f"!document.querySelector('{PROMPT}').value.includes('<lora')")
    assert page.input_value(PROMPT) == "cat "
    page.wait_for_selector('.loraloom-slider[data-name="ink-style"]', state="detached")


def test_unknown_names_and_other_families_show_their_warning(page) -> None:
    set_prompt(page, PROMPT, "<lora:nope:1> <lora:forest-spirit:1>")
    page.keyboard.type(" ")
    warning = slider(page, "nope").locator(".loraloom-warning")
    warning.wait_for()
    assert "no LoRA named 'nope'" in warning.get_attribute("title")
    assert slider(page, "forest-spirit").locator(".loraloom-warning").is_hidden()
    page.select_option(".loraloom-family", "sd1")  # standalone: the user says which model to check
    page.wait_for_function(
        "!document.querySelector('.loraloom-slider[data-name=\"forest-spirit\"] .loraloom-warning').hidden"
    )
    title = slider(page, "forest-spirit").locator(".loraloom-warning").get_attribute("title")
    assert "SDXL LoRA but the model is SD1" in title
    assert "loraloom-dim" in page.get_attribute('.loraloom-card[data-name="forest-spirit"]', "class")
    assert len(card_names(page)) == 6  # dimmed, not hidden
    page.check(".loraloom-hide-other")
    assert "forest-spirit" not in card_names(page) and "ink-style" in card_names(page)


def test_sidecar_edit_persists_to_disk_and_survives_a_refresh(page, library) -> None:
    page.click('.loraloom-card[data-name="robot-pilot"] .loraloom-info')
    page.wait_for_selector(".loraloom-detail [data-field='activation text']")
    assert "robot pilot" in page.inner_text(".loraloom-detail")
    page.fill(".loraloom-detail [data-field='activation text']", "robot pilot, chrome armour")
    page.fill(".loraloom-detail [data-field='preferred weight']", "0.7")
    page.click(".loraloom-detail .loraloom-save")
    page.wait_for_function("document.querySelector('.loraloom-save-status').textContent.includes('saved')")
    written = json.loads((library / "characters" / "robot-pilot.json").read_text())
    assert written["activation text"] == "robot pilot, chrome armour" and written["preferred weight"] == 0.7
    page.click(".loraloom-detail .loraloom-close")
    page.click(".loraloom-refresh")
    page.wait_for_function(
        "[...document.querySelectorAll('.loraloom-card[data-name=\"robot-pilot\"] .loraloom-chip')]"
        ".some(c => c.textContent === 'chrome armour')"
    )
    page.reload()
    page.wait_for_selector('.loraloom-card[data-name="robot-pilot"]')
    page.click('.loraloom-card[data-name="robot-pilot"] .loraloom-info')
    field = page.locator(".loraloom-detail [data-field='activation text']")
    field.wait_for()
    assert field.input_value() == "robot pilot, chrome armour"
    set_prompt(page, PROMPT, "")
    page.click(".loraloom-detail .loraloom-close")
    page.click('.loraloom-card[data-name="robot-pilot"]')
    page.wait_for_function(f"document.querySelector('{PROMPT}').value.includes('robot-pilot')")
    assert page.input_value(PROMPT).startswith("<lora:robot-pilot:0.7>")  # the new preferred weight


def test_new_files_appear_after_refresh_and_favourites_persist(page, library) -> None:
    (library / "styles" / "new-one.safetensors").write_bytes((library / "ink-style.safetensors").read_bytes())
    page.click('.loraloom-card[data-name="watercolour"] .loraloom-star')
    page.wait_for_selector('.loraloom-card[data-name="watercolour"] .loraloom-star.loraloom-on')
    page.click(".loraloom-refresh")
    page.wait_for_selector('.loraloom-card[data-name="new-one"]')
    page.reload()
    page.wait_for_selector(".loraloom-card")
    assert card_names(page)[0] == "watercolour"  # favourites first
    state = json.loads((library / "loraloom-gallery.json").read_text())
    assert state["favourites"] == ["watercolour"]


def test_screenshots_of_the_tab_and_the_sliders(page) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    set_prompt(page, PROMPT, "a watercolour fox, <lora:ink-style:0.8>, <lora:detail-slider:2.5>, <lora:nope:1>")
    set_prompt(page, NEGATIVE, "lowres, <lora:pixel-art:-0.5:unet=0.2>")
    page.keyboard.type(" ")
    slider(page, "nope").wait_for()
    slider(page, "pixel-art").wait_for()
    page.wait_for_function("[...document.querySelectorAll('.loraloom-card img')].every(i => i.complete)")
    suffix = f"gradio{gradio_major()}"
    page.locator("#loraloom-sliders").screenshot(path=str(ARTIFACTS / f"sliders-{suffix}.png"))
    page.locator("#loraloom-tab").screenshot(path=str(ARTIFACTS / f"gallery-{suffix}.png"))
    page.screenshot(path=str(ARTIFACTS / f"standalone-{suffix}.png"), full_page=True)
    assert (ARTIFACTS / f"gallery-{suffix}.png").stat().st_size > 10_000
