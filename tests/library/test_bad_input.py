"""Bad files never crash a scan: each gives one clear problem, and pickled code never runs."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from loraloom.library import Library, load_pickle_weights, read_header, summarize_file
from loraloom.library.problems import FileProblem
from tests.fixtures.lora_files import lora_state_dict, write_file
from tests.fixtures.sd_catalogue import catalogue

MODULES = [m for m in catalogue("sd1") if m.group == "attn"][:4]


@pytest.fixture
def good_file(tmp_path) -> str:
    return write_file(tmp_path / "good.safetensors", lora_state_dict(MODULES))


def only_problem(path: str, **kwargs: object) -> str:
    summary = summarize_file(path, **kwargs)  # type: ignore[arg-type]
    assert summary.modules == 0 and len(summary.problems) == 1, summary.problems
    return summary.problems[0]


def test_truncated_file(tmp_path, good_file: str) -> None:
    data = Path(good_file).read_bytes()
    path = tmp_path / "cut.safetensors"
    path.write_bytes(data[: len(data) - 100])
    assert "truncated" in only_problem(str(path))


def test_header_length_past_end_of_file(tmp_path) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", 5000) + b"{}")
    assert "declares a 5,000-byte header" in only_problem(str(path))


def test_huge_header_length_is_refused_without_reading(tmp_path) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", 2**40) + b"{}")
    assert "limit is 100 MB" in only_problem(str(path))


@pytest.mark.parametrize("header", [b"not json at all", b"[1, 2, 3]", b"\xff\xfe\x00", b'{"__metadata__": 5}'])
def test_garbage_header(tmp_path, header: bytes) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    assert "header" in only_problem(str(path)) or "__metadata__" in only_problem(str(path))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"dtype": "F16", "shape": [4, 4], "data_offsets": [0, 16]}, "needs 32"),  # wrong byte length
        ({"dtype": "F99", "shape": [2], "data_offsets": [0, 4]}, "unknown dtype"),
        ({"dtype": "F16", "shape": [-1], "data_offsets": [0, 4]}, "invalid shape"),
        ({"dtype": "F16", "shape": [2], "data_offsets": [8, 4]}, "invalid data offsets"),
        ({"dtype": "F16", "shape": [1000], "data_offsets": [0, 2000]}, "truncated"),
    ],
)
def test_inconsistent_tensor_descriptions(tmp_path, entry: dict, message: str) -> None:
    header = json.dumps({"lora_unet_x.lora_down.weight": entry}).encode()
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 64)
    assert message in only_problem(str(path))


def test_empty_file(tmp_path) -> None:
    path = tmp_path / "empty.safetensors"
    path.write_bytes(b"")
    assert "0 bytes long" in only_problem(str(path))


def test_file_without_tensors(tmp_path) -> None:
    path = write_file(tmp_path / "x.safetensors", {})
    assert "holds no tensors" in only_problem(path)


def test_directory_named_like_a_lora(tmp_path) -> None:
    (tmp_path / "lib" / "x.safetensors").mkdir(parents=True)
    library = Library([str(tmp_path / "lib")])
    library.refresh()
    (entry,) = library.entries
    info = library.describe(entry)
    assert info.problems == ["is a directory, not a LoRA file; rename the folder"]
    assert "directory" in only_problem(str(tmp_path / "lib" / "x.safetensors"))


def test_symlink_loops(tmp_path, good_file: str) -> None:
    root = tmp_path / "lib"
    (root / "sub").mkdir(parents=True)
    shutil.copy(good_file, root / "sub" / "real.safetensors")
    os.symlink("loop.safetensors", root / "loop.safetensors")  # a link to itself
    os.symlink("..", root / "sub" / "back")  # a folder loop
    library = Library([str(root)])
    library.refresh()
    names = sorted(e.name for e in library.entries)
    assert names == ["loop", "sub/real"]
    loop = library.get("loop")
    assert loop is not None and "symlink loop" in library.describe(loop).problems[0]
    assert any("symlink loop" in p for p in library.problems)
    assert library.describe(library.get("sub/real")).summary.modules == 4  # type: ignore[arg-type]


class RunsCode:
    """Unpickling this would create the sentinel file."""

    def __init__(self, sentinel: str) -> None:
        self.sentinel = sentinel

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.sentinel}",))


def test_pickle_with_code_is_refused_and_never_runs(tmp_path) -> None:
    sentinel = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"lora_unet_x.lora_down.weight": torch.zeros(2, 2), "payload": RunsCode(str(sentinel))}, path)
    assert "legacy pickle file, refused" in only_problem(str(path))
    problem = only_problem(str(path), allow_pickle=True)
    assert "cannot be opened weights-only" in problem
    with pytest.raises(FileProblem):
        load_pickle_weights(str(path))
    assert not sentinel.exists()


def test_benign_pickle_opens_weights_only_when_allowed(tmp_path) -> None:
    path = tmp_path / "old.pt"
    torch.save(lora_state_dict(MODULES), path)
    assert "refused" in only_problem(str(path))
    summary = summarize_file(str(path), allow_pickle=True)
    assert (summary.family, summary.kinds, summary.rank, summary.alpha) == ("sd1", {"lora": 4}, 4, 2.0)


def test_read_header_reads_metadata_not_tensors(tmp_path) -> None:
    path = write_file(tmp_path / "x.safetensors", lora_state_dict(MODULES), {"ss_output_name": "ink"})
    header = read_header(path)
    assert header.metadata == {"ss_output_name": "ink"} and len(header.tensors) == 12


def _run_without_root_privileges(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI so that file permissions apply (root keeps them unless its capabilities go)."""
    command = [sys.executable, "-m", "loraloom", *args]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.fail("running as root needs util-linux setpriv to drop CAP_DAC_OVERRIDE")
        drop = "-dac_override,-dac_read_search"
        command = ["setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_permission_denied(tmp_path, good_file: str) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    locked = root / "locked.safetensors"
    shutil.copy(good_file, locked)
    shutil.copy(good_file, root / "fine.safetensors")
    locked.chmod(0)
    try:
        single = _run_without_root_privileges("inspect", str(locked), "--json")
        assert single.returncode == 1
        assert single.stderr.strip().count("\n") == 0 and "permission denied" in single.stderr
        folder = _run_without_root_privileges("inspect", str(root), "--json")
        assert folder.returncode == 0, folder.stderr
        by_name = {record["name"]: record for record in json.loads(folder.stdout)}
        assert by_name["fine"]["modules"] == 4 and by_name["fine"]["problems"] == []
        assert any("permission denied" in p for p in by_name["locked"]["problems"])
    finally:
        locked.chmod(0o644)
