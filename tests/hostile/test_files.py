"""Hostile files and folders: each gives its own problem; nothing crashes, hangs or lies."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from loraloom.activation.plan import plan
from loraloom.library import Library, read_header, summarize_file
from loraloom.library.discovery import _natural_key, scan_roots
from loraloom.library.info import LoraInfo
from loraloom.patching.cache import NetworkCache
from loraloom.syntax import parse_prompt

from .builders import (
    bytes_name,
    fifo,
    good_lora,
    lora_header,
    nested,
    raw_safetensors,
    release_fifo,
    tensor_entry,
    zip_bomb,
)
from .conftest import HOSTILE

KEY = "lora_unet_down_blocks_0_attentions_0_proj_in"


def activate(tags, library: Library, cache: NetworkCache | None = None) -> tuple[list[str], list[str]]:
    """The activation core's plan for one image: (names applied, problems)."""
    result = plan([list(tags)], library=library, cache=cache if cache is not None else NetworkCache(), hash_of=None)
    return [network.spec.name for network in result.networks], result.problems


def inspect(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "loraloom", "inspect", *args], capture_output=True, timeout=timeout)


def only_problem(path: str, **kwargs: object) -> str:
    summary = summarize_file(path, **kwargs)  # type: ignore[arg-type]
    assert summary.modules == 0 and len(summary.problems) == 1, summary.problems
    return summary.problems[0]


# -- 6. hostile metadata ---------------------------------------------------------------------------


def test_deeply_nested_header_is_one_problem(tmp_path) -> None:
    path = raw_safetensors(tmp_path / "deep.safetensors", nested(200_000))
    assert "nested too deeply" in only_problem(path)


@pytest.mark.parametrize(
    "frequency",
    [
        nested(100_000),
        '{"10_x": {"ink": NaN, "wash": 3}}',
        '{"10_x": {"ink": Infinity, "wash": 3}}',
        '{"10_x": {"ink": 1e400, "wash": 3}}',
        '{"10_x": {"ink": -5, "wash": 3, "big": 1' + "0" * 5000 + "}}",
        '{"10_x": {"ink": true, "wash": 3, "x": "7", "y": [1]}}',
        '{"10_x": ["wash"]}',
        "[1, 2]",
        '"text"',
    ],
)
def test_hostile_tag_frequency_is_a_problem_not_a_crash(tmp_path, frequency: str) -> None:
    path = good_lora(tmp_path / "x.safetensors", metadata={"ss_tag_frequency": frequency, "ss_datasets": nested(5000)})
    library = Library([str(tmp_path)])
    library.refresh()
    record = library.describe(library.get("x")).to_json()  # type: ignore[arg-type]
    assert record["modules"] == 3
    json.dumps(record, allow_nan=False).encode("utf-8")  # what an HTTP response needs
    assert all(isinstance(count, int) and count >= 0 for count in record["tag_frequency"].values())
    assert record["suggested_words"] in ([], ["wash"]) and Path(path).exists()


def test_hostile_sidecars_are_problems_and_the_file_still_works(tmp_path) -> None:
    good_lora(tmp_path / "x.safetensors")
    (tmp_path / "x.json").write_text(nested(100_000))
    (tmp_path / "x.civitai.info").write_text('{"trainedWords": ["a"], "stats": {"rating": NaN}}')
    library = Library([str(tmp_path)])
    library.refresh()
    info = library.describe(library.get("x"))  # type: ignore[arg-type]
    assert info.summary.modules == 3 and info.sidecars.user == {} and info.sidecars.civitai == {}
    problems = " ".join(info.problems)
    assert "user metadata cannot be read (it is nested too deeply)" in problems
    assert "Civitai info cannot be read (it holds NaN" in problems


def test_a_folder_of_hostile_files_is_inspected_whole(tmp_path) -> None:
    """Every file of the folder gets its record; one bad file never ends the run."""
    root = tmp_path / "Lora"
    root.mkdir()
    good_lora(root / "good.safetensors")
    raw_safetensors(root / "deep.safetensors", nested(100_000))
    good_lora(root / "freq.safetensors", metadata={"ss_tag_frequency": '{"a": {"x": 1e400, "y": NaN}}'})
    good_lora(root / "numbers.safetensors", metadata={"lora_adapter_metadata": nested(50_000)})
    (root / "good.json").write_text('{"preferred weight": NaN, "activation text": 5}')
    (root / "freq.civitai.info").write_text('{"trainedWords": 7, "model": "x"}')
    done = inspect(str(root), "--json")
    assert done.returncode == 0, done.stderr
    records = {r["name"]: r for r in json.loads(done.stdout.decode("utf-8"))}
    assert set(records) == {"good", "deep", "freq", "numbers"}
    assert records["good"]["modules"] == 3 and records["good"]["preferred_weight"] is None
    assert records["freq"]["trigger_words"] == [] and records["freq"]["civitai"]["model"] is None


# -- 7. "valid" files that break activation ----------------------------------------------------------

BAD_LAYOUTS = {
    "overlapping offsets": (
        [(f"{KEY}.lora_down.weight", tensor_entry(0, 8)), (f"{KEY}.lora_up.weight", tensor_entry(0, 8))],
        None,
        8,
        "overlaps",
    ),
    "uncovered trailing bytes": ([(f"{KEY}.lora_down.weight", tensor_entry(0, 8))], None, 12, "no tensor covers"),
    "a gap between tensors": ([(f"{KEY}.lora_down.weight", tensor_entry(4, 12))], None, 12, "unused"),
    "a duplicate key": (
        [(f"{KEY}.lora_down.weight", tensor_entry(0, 8)), (f"{KEY}.lora_down.weight", tensor_entry(8, 16))],
        None,
        16,
        "twice",
    ),
    "non-string metadata": ([(f"{KEY}.lora_down.weight", tensor_entry(0, 8))], {"ss_network_dim": 4}, 8, "not text"),
}


@pytest.mark.parametrize("case", sorted(BAD_LAYOUTS))
def test_files_safetensors_refuses_are_refused_with_one_problem(tmp_path, case: str) -> None:
    entries, metadata, data, message = BAD_LAYOUTS[case]
    path = raw_safetensors(tmp_path / "bad.safetensors", lora_header(entries, metadata), b"\0" * data)
    assert message in only_problem(path)


@pytest.mark.parametrize("case", sorted(BAD_LAYOUTS))
def test_a_file_that_cannot_load_costs_only_its_own_tag(tmp_path, case: str) -> None:
    entries, metadata, data, _ = BAD_LAYOUTS[case]
    raw_safetensors(tmp_path / "bad.safetensors", lora_header(entries, metadata), b"\0" * data)
    good_lora(tmp_path / "good.safetensors")
    library = Library([str(tmp_path)])
    library.refresh()
    names, problems = activate(parse_prompt("<lora:bad:1> <lora:good:0.5>").tags, library)
    assert names == ["good"]
    assert len(problems) == 1 and "<lora:bad:1>" in problems[0]


def test_any_load_failure_is_the_files_problem(tmp_path, monkeypatch) -> None:
    good_lora(tmp_path / "good.safetensors")
    good_lora(tmp_path / "other.safetensors")
    library = Library([str(tmp_path)])
    library.refresh()
    cache = NetworkCache()
    real = cache.get

    def failing(path: str):  # type: ignore[no-untyped-def]
        if "other" in path:
            raise RuntimeError("safetensors: something unexpected")
        return real(path)

    monkeypatch.setattr(cache, "get", failing)
    names, problems = activate(parse_prompt("<lora:other:1> <lora:good:1>").tags, library, cache)
    assert names == ["good"] and "something unexpected" in problems[0]


layouts = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 3)),  # (begin in 2-byte units, length in elements)
    min_size=1,
    max_size=4,
)


@HOSTILE
@given(layouts, st.integers(0, 4), st.sampled_from([None, {"a": "b"}, {"a": 1}, {"a": None}, {}]))
def test_what_inspect_accepts_is_what_safetensors_loads(tmp_path_factory, layout, trailing, metadata) -> None:
    """Random tensor layouts: read_header accepts exactly the files safetensors itself loads."""
    from safetensors import safe_open

    folder = tmp_path_factory.mktemp("layout")
    entries = [
        (f"k{index}", tensor_entry(2 * begin, 2 * (begin + count))) for index, (begin, count) in enumerate(layout)
    ]
    size = max(entry["data_offsets"][1] for _, entry in entries) + trailing
    path = raw_safetensors(folder / "x.safetensors", lora_header(entries, metadata), b"\0" * size)
    try:
        read_header(path)
        ours = True
    except Exception:
        ours = False
    try:
        with safe_open(path, framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 - safe_open has no __iter__
                handle.get_tensor(key)
        theirs = True
    except Exception:
        theirs = False
    assert ours == theirs, (entries, size, metadata)


# -- 8. FIFOs never block -------------------------------------------------------------------------


@pytest.fixture
def fifo_library(tmp_path):
    root = tmp_path / "Lora"
    root.mkdir()
    good_lora(root / "good.safetensors")
    good_lora(root / "sided.safetensors")
    made = [
        fifo(root / "pipe.safetensors"),
        fifo(root / "sided.json"),
        fifo(root / "sided.civitai.info"),
        fifo(root / "sided.txt"),
        fifo(root / "sided.png"),
        fifo(root / "legacy.ckpt"),
    ]
    yield root
    for path in made:
        release_fifo(path)


def _in_thread(function, timeout: float = 20):  # type: ignore[no-untyped-def]
    """Run ``function`` on a thread (code that blocks on a FIFO would hang the test run)."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = function()
        except BaseException as error:  # re-raised below, in the test's thread
            outcome["error"] = error

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), "blocked on a FIFO"
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]


def test_fifos_are_reported_and_never_opened(fifo_library) -> None:
    library = Library([str(fifo_library)], allow_pickle=True)
    library.refresh()
    infos = _in_thread(lambda: {e.name: library.describe(e) for e in library.entries})
    assert "is a FIFO (named pipe), not a LoRA file" in infos["pipe"].problems[0]
    assert infos["legacy"].problems and "FIFO" in infos["legacy"].problems[0]
    sided = infos["sided"]
    assert sided.summary.modules == 3 and sided.hashes is not None
    assert sum("FIFO" in problem for problem in sided.problems) == 3  # .json, .civitai.info, .txt
    assert infos["good"].problems == []


def test_inspect_finishes_on_a_folder_with_fifos(fifo_library) -> None:
    done = inspect(str(fifo_library), "--json", "--allow-pickle", timeout=60)
    assert done.returncode == 0
    assert {r["name"] for r in json.loads(done.stdout)} == {"good", "sided", "pipe", "legacy"}
    assert inspect(str(fifo_library / "pipe.safetensors"), timeout=60).returncode == 1


def test_the_gallery_worker_and_thumbnails_do_not_block_on_fifos(fifo_library, tmp_path) -> None:
    from loraloom.ui.service import GalleryError, GalleryService
    from loraloom.ui.user_state import UserState

    library = Library([str(fifo_library)], cache_path=str(tmp_path / "cache.json"))
    library.refresh()
    service = GalleryService(library, UserState(None))
    service.start_background()
    assert service.wait(30), "the background reader blocked"
    assert (tmp_path / "cache.json").exists()
    with pytest.raises((GalleryError, OSError, ValueError)):
        _in_thread(lambda: service.thumbnail("sided"))


# -- 9. names that are not UTF-8 -------------------------------------------------------------------


@pytest.fixture
def latin1_library(tmp_path):
    root = tmp_path / "Lora"
    (root / "sub").mkdir(parents=True)
    good_lora(bytes_name(root, b"caf\xe9.safetensors"))
    good_lora(bytes_name(root / "sub", b"\xff\xfe.safetensors"))
    bytes_name(root, b"caf\xe9.json").write_text('{"activation text": "coffee"}')
    good_lora(root / "plain.safetensors")
    return root


def test_undecodable_names_get_a_display_form_and_still_resolve(latin1_library) -> None:
    library = Library([str(latin1_library)])
    library.refresh()
    assert sorted(e.name for e in library.entries) == ["caf\\xe9", "plain", "sub/\\xff\\xfe"]
    resolution = library.resolve("caf\\xe9")
    assert resolution.entry is not None and os.path.exists(resolution.entry.path)
    record = library.describe(resolution.entry).to_json()
    assert record["trigger_words"] == ["coffee"] and record["modules"] == 3
    assert any("not valid UTF-8" in problem and "rename it" in problem for problem in record["problems"])
    json.dumps(record, ensure_ascii=False).encode("utf-8")
    tags = parse_prompt("<lora:caf\\xe9:0.5> <lora:plain:1>").tags
    names, problems = activate(tags, library)  # safetensors refuses such paths
    assert names == ["plain"] and len(problems) == 1


def test_inspect_prints_valid_utf8_and_keeps_a_cache(latin1_library, tmp_path) -> None:
    cache = tmp_path / "cache.json"
    for _ in range(2):  # the second run reads the cache written by the first
        done = inspect(str(latin1_library), "--json", "--cache", str(cache))
        assert done.returncode == 0, done.stderr
        records = json.loads(done.stdout.decode("utf-8"))  # strict UTF-8
        assert {r["name"] for r in records} == {"caf\\xe9", "plain", "sub/\\xff\\xfe"}
        assert all(r["sha256"] for r in records)
    assert cache.exists() and json.loads(cache.read_text("utf-8"))["files"]


def test_the_gallery_lists_undecodable_names(latin1_library, tmp_path) -> None:
    from fastapi.testclient import TestClient

    from loraloom.ui.routes import PREFIX
    from loraloom.ui.service import GalleryService
    from loraloom.ui.standalone import make_app
    from loraloom.ui.user_state import UserState

    library = Library([str(latin1_library)], cache_path=str(tmp_path / "cache.json"))
    library.refresh()
    service = GalleryService(library, UserState(str(tmp_path / "state.json")))
    service.start_background()
    assert service.wait(30)
    assert (tmp_path / "cache.json").exists(), "the worker died before writing its cache"
    client = TestClient(make_app(service), base_url="http://127.0.0.1")
    cards = client.get(PREFIX + "/cards")
    assert cards.status_code == 200
    assert {card["name"] for card in cards.json()["cards"]} == {"caf\\xe9", "plain", "\\xff\\xfe"}
    assert client.get(PREFIX + "/detail", params={"name": "caf\\xe9"}).status_code == 200


# -- 10. unicode digits in names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "names", [["①", "10²", "²1", "①2", "v²5", "٣", "x1", "x10", "x2"], ["1" * 240, "0" * 200 + "1", "a"]]
)
def test_unicode_digits_and_long_numbers_never_abort_a_scan(tmp_path, names: list[str]) -> None:
    root = tmp_path / "Lora"
    (root / "①").mkdir(parents=True)  # a folder name is split without an extension
    good_lora(root / "①" / "inner.safetensors")
    for name in names:
        good_lora(root / f"{name}.safetensors")
    scan = scan_roots([str(root)])
    assert sorted(e.name for e in scan.entries) == sorted([*names, "①/inner"]) and scan.problems == []
    assert inspect(str(root)).returncode == 0


def test_natural_order() -> None:
    assert sorted(["x10", "x2", "x1", "X3", "x02"], key=_natural_key) == ["x1", "x2", "x02", "X3", "x10"]


@HOSTILE
@given(st.lists(st.text(st.sampled_from("①²³٣߁0123456789a.") | st.characters(), min_size=1, max_size=30), max_size=20))
def test_natural_keys_sort_any_names(names: list[str]) -> None:
    ordered = sorted(names, key=_natural_key)
    assert sorted(ordered, key=_natural_key) == ordered


# -- 11. zip bombs ---------------------------------------------------------------------------------


def test_a_zip_bomb_is_refused_before_torch_loads_it(tmp_path, monkeypatch) -> None:
    path = zip_bomb(tmp_path / "bomb.ckpt")
    assert os.path.getsize(path) < 1_000_000
    calls = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(a))
    problem = only_problem(path, allow_pickle=True)
    assert "would inflate" in problem and calls == []


def test_the_pre_zip_torch_format_is_refused(tmp_path) -> None:
    path = tmp_path / "old.pt"
    torch.save({f"{KEY}.lora_down.weight": torch.zeros(4, 4)}, path, _use_new_zipfile_serialization=False)
    assert "pre-1.6 torch format" in only_problem(str(path), allow_pickle=True)


def test_an_ordinary_torch_archive_still_opens(tmp_path) -> None:
    from tests.fixtures.lora_files import lora_state_dict

    from .builders import MODULES

    path = tmp_path / "fine.pt"
    torch.save(lora_state_dict(MODULES), path)
    assert summarize_file(str(path), allow_pickle=True).modules == 3


# -- 12. torn hashes ----------------------------------------------------------------------------------


def test_a_file_rewritten_while_hashed_never_caches_a_mixed_hash(tmp_path, monkeypatch) -> None:
    import loraloom.library.hashes as hashes_module

    path = Path(good_lora(tmp_path / "x.safetensors"))
    library = Library([str(tmp_path)], cache_path=str(tmp_path / "cache.json"))
    library.refresh()
    entry = library.get("x")
    real_sha256 = hashlib.sha256

    class Rewriting:
        """A sha256 whose first update rewrites the file being hashed (a download finishing)."""

        rewritten = False

        def __init__(self) -> None:
            self._hash = real_sha256()

        def update(self, data: bytes) -> None:
            if not Rewriting.rewritten:
                Rewriting.rewritten = True
                good_lora(path, seed=7)
                os.utime(path, ns=(entry.mtime_ns + 10**9, entry.mtime_ns + 10**9))  # type: ignore[union-attr]
            self._hash.update(data)

        def hexdigest(self) -> str:
            return self._hash.hexdigest()

    monkeypatch.setattr(hashes_module.hashlib, "sha256", Rewriting)
    try:
        library.hashes(entry)  # type: ignore[arg-type]
    except OSError as error:
        assert "changed while it was being hashed" in str(error)
    monkeypatch.undo()
    library.save()
    fresh = Library([str(tmp_path)], cache_path=str(tmp_path / "cache.json"))
    fresh.refresh()
    assert fresh.hashes(fresh.get("x")).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()  # type: ignore[arg-type]
    stale = library.cached_hashes(entry)  # type: ignore[arg-type]
    assert stale is None, "a hash was cached under the stamp of the version that was listed"


# -- 13. Civitai trainedWords and other sidecar values of the wrong type ------------------------------


@pytest.mark.parametrize(
    ("civitai", "user", "expected"),
    [
        ({"trainedWords": "ink wash, monochrome"}, {}, ["ink wash", "monochrome"]),
        ({"trainedWords": 5}, {}, []),
        ({"trainedWords": {"a": 1}}, {}, []),
        ({"trainedWords": ["ink", 3, None, ["x"], "wash, sepia"]}, {}, ["ink", "wash", "sepia"]),
        ({"trainedWords": None, "model": "m"}, {"activation text": ["a", "b"]}, []),
        ({}, {"activation text": 12, "preferred weight": "nan"}, []),
    ],
)
def test_sidecar_values_are_used_only_in_their_type(tmp_path, civitai, user, expected) -> None:
    good_lora(tmp_path / "x.safetensors")
    (tmp_path / "x.civitai.info").write_text(json.dumps(civitai))
    (tmp_path / "x.json").write_text(json.dumps(user))
    library = Library([str(tmp_path)])
    library.refresh()
    info: LoraInfo = library.describe(library.get("x"))  # type: ignore[arg-type]
    assert info.trigger_words == expected
    record = info.to_json()
    json.dumps(record, allow_nan=False)
    assert record["preferred_weight"] is None
