"""GalleryService over the sample library: cards, background reading, sidecar writes, rows."""

from __future__ import annotations

import json
import os

import pytest

from loraloom.library import Library
from loraloom.ui.service import GalleryError, GalleryOptions, GalleryService
from loraloom.ui.user_state import UserState


def by_name(service: GalleryService) -> dict:
    return {card["name"]: card for card in service.cards()}


def test_cards_use_the_name_a_tag_writes_and_carry_badges(service) -> None:
    cards = by_name(service)
    assert set(cards) == {"ink-style", "detail-slider", "pixel-art", "watercolour", "forest-spirit", "robot-pilot"}
    ink = cards["ink-style"]
    assert (ink["family"], ink["kinds"], ink["rank"], ink["preferred_weight"]) == ("sd1", ["LoRA"], 4, 0.8)
    assert ink["trigger_words"] == ["ink wash", "monochrome"]
    assert cards["robot-pilot"]["kinds"] == ["LoKr"] and not cards["robot-pilot"]["preview"]
    assert cards["pixel-art"]["folder"] == "styles" and cards["pixel-art"]["file"] == "styles/pixel-art"
    assert cards["detail-slider"]["range"] == [-8.0, 8.0]
    assert "fantasy" in cards["forest-spirit"]["search"]  # Civitai tags are searchable


def test_cards_are_pending_until_the_background_read_them(sample_dir, tmp_path) -> None:
    library = Library([str(sample_dir)])
    library.refresh()
    gallery = GalleryService(library, UserState(None))
    assert all(card["pending"] and card["family"] is None for card in gallery.cards())
    gallery.start_background()
    assert gallery.wait(30)
    assert not any(card["pending"] for card in gallery.cards())
    assert gallery.progress_json()["phase"] == "idle"
    assert all(library.cached_hashes(entry) for entry in library.entries)  # hashed in the background too


def test_refresh_finds_new_files_without_a_restart(service, sample_dir) -> None:
    (sample_dir / "styles" / "copy.safetensors").write_bytes((sample_dir / "ink-style.safetensors").read_bytes())
    service.refresh()
    assert service.wait(30)
    assert by_name(service)["copy"]["family"] == "sd1"


def test_sidecar_edit_is_written_in_a1111_format_and_shows_on_the_card(service, sample_dir) -> None:
    card = service.save_user_metadata(
        "robot-pilot", {"activation text": "robot pilot, chrome", "preferred weight": "0.7", "sd version": "SDXL"}
    )
    written = json.loads((sample_dir / "characters" / "robot-pilot.json").read_text())
    assert written == {"activation text": "robot pilot, chrome", "preferred weight": 0.7, "sd version": "SDXL"}
    assert card["preferred_weight"] == 0.7 and card["trigger_words"][:2] == ["robot pilot", "chrome"]
    service.refresh()
    assert service.wait(30)
    assert by_name(service)["robot-pilot"]["preferred_weight"] == 0.7


def test_sidecar_edit_keeps_unknown_keys_and_never_loses_the_old_file(service, sample_dir, monkeypatch) -> None:
    path = sample_dir / "ink-style.json"
    before = json.loads(path.read_text()) | {"custom": "kept"}
    path.write_text(json.dumps(before))

    def failing_replace(source: str, target: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(GalleryError, match="old file is unchanged"):
        service.save_user_metadata("ink-style", {"notes": "new"})
    assert json.loads(path.read_text()) == before
    assert not [name for name in os.listdir(sample_dir) if name.startswith(".loraloom-")]  # no temp left
    monkeypatch.undo()
    service.save_user_metadata("ink-style", {"notes": "new"})
    assert json.loads(path.read_text()) == before | {"notes": "new"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"owner": "x"}, "unknown fields owner"),
        ({"preferred weight": "heavy"}, "must be a number"),
        ({"weight min": 3, "weight max": 1}, "below"),
        ({"sd version": "SD9"}, "must be one of"),
    ],
)
def test_bad_sidecar_values_are_refused_with_a_reason(service, values, message) -> None:
    with pytest.raises(GalleryError, match=message):
        service.save_user_metadata("ink-style", values)


def test_unknown_names_are_one_clear_error(service) -> None:
    with pytest.raises(GalleryError, match="no LoRA named 'ink-styel'; did you mean ink-style"):
        service.detail("ink-styel")


def test_detail_has_the_inspect_summary_and_training_tags(service) -> None:
    detail = service.detail("ink-style")
    assert detail["tag_frequency"]["ink wash"] == 40
    assert detail["sha256"] and detail["card"]["name"] == "ink-style"


def test_favourites_and_last_used_persist(service, tmp_path) -> None:
    service.set_favourite("watercolour", True)
    service.toggle("", 0, "ink-style", with_words=False, added_words=[])
    again = UserState(str(tmp_path / "state.json"))
    assert again.favourites == {"watercolour"} and again.last_used("ink-style")
    assert by_name(service)["watercolour"]["favourite"]


def test_toggle_uses_the_preferred_weight_then_the_default(service) -> None:
    assert service.toggle("", 0, "ink-style", with_words=False, added_words=[]).change.full == "<lora:ink-style:0.8>"
    service.options.default_weight = lambda: 0.65
    assert service.toggle("", 0, "pixel-art", with_words=False, added_words=[]).change.full == "<lora:pixel-art:0.65>"


def test_rows_warn_about_unknown_names_and_other_families(service) -> None:
    rows = service.rows("<lora:ink-style:0.5> <lora:nope:1> <lora:forest-spirit:9>", "positive", "sd1")
    ink, nope, spirit = rows
    assert (ink["te"], ink["warning"], ink["known"]) == (0.5, None, True)
    assert "no LoRA named 'nope'" in nope["warning"] and not nope["known"]
    assert "SDXL LoRA but the model is SD1" in spirit["warning"]
    assert spirit["max"] == 9  # the range grows to show a weight outside it
    slider = service.rows("<lora:detail-slider:-3:unet=2>", "negative", None)[0]
    assert (slider["min"], slider["max"], slider["split"], slider["source"]) == (-8, 8, True, "negative")


def test_a1111_options_follow_settings_without_a_restart(sample_dir) -> None:
    library = Library([str(sample_dir)])
    library.refresh()
    family = ["sd1"]
    gallery = GalleryService(library, UserState(None), GalleryOptions(model_family=lambda: family[0]))
    assert gallery.settings_json()["model_family"] == "sd1"
    family[0] = "sdxl"
    assert gallery.settings_json()["model_family"] == "sdxl"
    gallery.start_background()
    assert gallery.wait(30)
    row = gallery.rows("<lora:ink-style:1>", "positive", "sd1")[0]  # the browser cannot override the host
    assert "SD1 LoRA but the model is SDXL" in row["warning"]


def test_refresh_rereads_sidecars_changed_by_other_tools(service, sample_dir) -> None:
    """A1111's own editor or Civitai Helper change a sidecar, not the LoRA file: refresh shows it."""
    (sample_dir / "styles" / "pixel-art.json").write_text(json.dumps({"activation text": "8-bit sprite"}))
    service.refresh()
    assert service.wait(30)
    assert by_name(service)["pixel-art"]["trigger_words"] == ["8-bit sprite"]
