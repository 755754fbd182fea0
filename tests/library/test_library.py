"""Discovery, names, sidecars and their precedence, hashes and the cache."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
from pathlib import Path

import pytest

from loraloom.library import Library, hash_file, write_user_metadata
from tests.fixtures.lora_files import kohya_metadata, lora_state_dict, write_file
from tests.fixtures.sd_catalogue import catalogue

MODULES = [m for m in catalogue("sd1") if m.group in ("attn", "te")][::20]


def make(root, name: str, metadata: dict | None = None, seed: int = 0) -> str:
    path = root / f"{name}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_file(path, lora_state_dict(MODULES, seed=seed), metadata)


@pytest.fixture
def library_root(tmp_path):
    root = tmp_path / "Lora"
    make(root, "ink v2", kohya_metadata(output_name="InkStyle"))
    make(root, "styles/watercolor", seed=1)
    make(root, "chars/alice", seed=2)
    make(root, "old/alice", seed=3)
    (root / "styles" / "notes.txt").write_text("not a lora")
    return root


def test_names_are_relative_paths_with_slashes(library_root) -> None:
    library = Library([str(library_root)])
    library.refresh()
    assert sorted(e.name for e in library.entries) == ["chars/alice", "ink v2", "old/alice", "styles/watercolor"]


def test_resolution_by_name_stem_alias_case_and_suggestions(library_root) -> None:
    library = Library([str(library_root)])
    library.refresh()
    assert library.resolve("styles/watercolor").how == "name"
    found = library.resolve("watercolor")
    assert (found.how, found.entry.name) == ("stem", "styles/watercolor")  # type: ignore[union-attr]
    alias = library.resolve("InkStyle")
    assert (alias.how, alias.entry.name) == ("alias", "ink v2")  # type: ignore[union-attr]
    assert library.resolve("INK V2").how == "case"
    missing = library.resolve("watercolour")
    assert missing.entry is None and "watercolor" in missing.suggestions and "did you mean" in missing.note
    ambiguous = library.resolve("alice")
    assert ambiguous.entry.name == "old/alice" and "matches 2 files" in ambiguous.note  # type: ignore[union-attr]
    assert any("<lora:alice> is ambiguous" in p for p in library.problems)


def test_resolution_by_hash(library_root) -> None:
    library = Library([str(library_root)])
    library.refresh()
    entry = library.get("styles/watercolor")
    hashes = library.hashes(entry)  # type: ignore[arg-type]
    assert library.resolve(hashes.addnet[:12]).entry == entry  # type: ignore[index]
    assert library.resolve(hashes.shorthash).entry == entry


def test_same_name_in_two_roots_is_reported(tmp_path) -> None:
    make(tmp_path / "Lora", "x")
    make(tmp_path / "LyCORIS", "x", seed=5)
    library = Library([str(tmp_path / "Lora"), str(tmp_path / "LyCORIS")])
    library.refresh()
    assert len(library.entries) == 1 and str(tmp_path / "Lora") in library.get("x").path  # type: ignore[union-attr]
    assert any("using the first" in p for p in library.problems)


def independent_hashes(path: str) -> tuple[str, str]:
    data = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    return hashlib.sha256(data).hexdigest(), hashlib.sha256(data[8 + length :]).hexdigest()


def test_hashes_match_an_independent_computation(library_root) -> None:
    path = str(library_root / "ink v2.safetensors")
    whole, addnet = independent_hashes(path)
    hashes = hash_file(path, safetensors=True)
    assert (hashes.sha256, hashes.addnet) == (whole, addnet)
    assert hashes.shorthash == whole[:10] and hashes.infotext_hash == addnet[:12]
    pickle_hashes = hash_file(path, safetensors=False)
    assert (pickle_hashes.sha256, pickle_hashes.addnet, pickle_hashes.infotext_hash) == (whole, None, whole[:12])


def test_hash_cache_survives_a_restart_and_notices_changes(library_root, tmp_path, monkeypatch) -> None:
    cache = str(tmp_path / "cache" / "loraloom.json")
    library = Library([str(library_root)], cache_path=cache)
    library.refresh()
    entry = library.get("ink v2")
    first = library.hashes(entry)  # type: ignore[arg-type]
    library.save()
    calls = []
    import loraloom.library.library as library_module

    real = library_module.hash_file_stamped
    monkeypatch.setattr(library_module, "hash_file_stamped", lambda *a, **k: calls.append(a) or real(*a, **k))
    again = Library([str(library_root)], cache_path=cache)
    again.refresh()
    assert again.hashes(again.get("ink v2")) == first and calls == []  # type: ignore[arg-type]
    path = library_root / "ink v2.safetensors"
    make(library_root, "ink v2", seed=9)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    again.refresh()
    changed = again.hashes(again.get("ink v2"))  # type: ignore[arg-type]
    assert len(calls) == 1 and changed.sha256 == independent_hashes(str(path))[0] != first.sha256


def test_background_hashing_reports_progress(library_root) -> None:
    library = Library([str(library_root)])
    library.refresh()
    hasher = library.hash_in_background()
    assert hasher.wait(60)
    assert hasher.progress == (4, 4)
    assert all(library.cached_hashes(e) is not None for e in library.entries)


def test_sidecars_and_their_precedence(library_root) -> None:
    base = library_root / "ink v2"
    (library_root / "ink v2.preview.png").write_bytes(b"\x89PNG")
    write_user_metadata(
        str(base) + ".json",
        {
            "activation text": "ink style, bold lines",
            "preferred weight": 0.7,
            "description": "from the user",
            "sd version": "SD1",
        },
    )
    civitai = {
        "trainedWords": ["inkstyle", "ink style"],
        "baseModel": "SD 1.5",
        "description": "from civitai",
        "id": 42,
        "modelId": 7,
        "model": {"name": "Ink"},
    }
    (library_root / "ink v2.civitai.info").write_text(json.dumps(civitai))
    library = Library([str(library_root)])
    library.refresh()
    record = library.describe(library.get("ink v2")).to_json()  # type: ignore[arg-type]
    assert record["trigger_words"] == ["ink style", "bold lines", "inkstyle"]
    assert record["suggested_words"][:3] == ["ink style", "sketch", "monochrome"]
    assert record["preferred_weight"] == 0.7
    assert record["description"] == "from the user"
    assert record["preview"] == str(library_root / "ink v2.preview.png")
    assert record["civitai"] == {"model": "Ink", "model_id": 7, "version_id": 42, "base_model": "SD 1.5"}
    assert record["training"]["epochs"] == "10" and record["alias"] == "InkStyle"
    os.remove(str(base) + ".json")
    record = library.describe(library.get("ink v2")).to_json()  # type: ignore[arg-type]
    assert record["description"] == "from civitai" and record["trigger_words"] == ["inkstyle", "ink style"]


def test_short_txt_is_trigger_words_long_txt_is_description(library_root) -> None:
    (library_root / "styles" / "watercolor.txt").write_text("wtrclr, soft edges\n")
    (library_root / "chars" / "alice.txt").write_text("Alice is a character from a long story. " * 20)
    library = Library([str(library_root)])
    library.refresh()
    assert library.describe(library.get("styles/watercolor")).trigger_words == ["wtrclr", "soft edges"]  # type: ignore[arg-type]
    alice = library.describe(library.get("chars/alice"))  # type: ignore[arg-type]
    assert alice.trigger_words == [] and alice.description.startswith("Alice is")


def test_broken_sidecar_is_a_problem_not_a_crash(library_root) -> None:
    (library_root / "ink v2.json").write_text("{not json")
    library = Library([str(library_root)])
    library.refresh()
    info = library.describe(library.get("ink v2"))  # type: ignore[arg-type]
    assert any("user metadata cannot be read" in p for p in info.problems) and info.summary.modules > 0


def test_user_metadata_write_keeps_unknown_keys_and_is_atomic(tmp_path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"custom key": [1, 2], "notes": "old"}))
    write_user_metadata(str(path), {"notes": "new", "preferred weight": 0.5})
    assert json.loads(path.read_text()) == {"custom key": [1, 2], "notes": "new", "preferred weight": 0.5}
    with pytest.raises(TypeError):
        write_user_metadata(str(path), {"notes": object()})
    assert json.loads(path.read_text())["notes"] == "new"
    assert sorted(os.listdir(tmp_path)) == ["x.json"]


def test_incremental_refresh_sees_new_and_changed_files(library_root) -> None:
    library = Library([str(library_root)])
    library.refresh()
    before = library.summary(library.get("styles/watercolor"))  # type: ignore[arg-type]
    make(library_root, "new one")
    path = write_file(
        library_root / "styles" / "watercolor.safetensors", lora_state_dict(MODULES[:3], rank=16, alpha=16)
    )
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    library.refresh()
    assert library.get("new one") is not None
    after = library.summary(library.get("styles/watercolor"))  # type: ignore[arg-type]
    assert (before.rank, after.rank, after.modules) == (4, 16, 3)


def test_cache_is_bounded(tmp_path, library_root) -> None:
    library = Library([str(library_root)], cache_path=str(tmp_path / "c.json"), max_cache_entries=2)
    library.refresh()
    for entry in library.entries:
        library.summary(entry)
    library.save()
    assert len(json.loads((tmp_path / "c.json").read_text())["files"]) == 2
