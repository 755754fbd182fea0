"""`loraloom inspect` through a real subprocess: the JSON contract and exit statuses."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys

import torch

from tests.fixtures.lora_files import kohya_metadata, lora_state_dict, write_file
from tests.fixtures.sd_catalogue import catalogue

CONTRACT = {
    "path",
    "name",
    "format",
    "family",
    "kinds",
    "rank",
    "alpha",
    "modules",
    "parts",
    "dtype",
    "params",
    "size",
    "sha256",
    "shorthash",
    "addnet_hash",
    "trigger_words",
    "suggested_words",
    "preferred_weight",
    "preview",
    "metadata",
    "problems",
}


def inspect(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loraloom", "inspect", *args], capture_output=True, text=True, timeout=120
    )


def test_folder_json_contract(tmp_path) -> None:
    root = tmp_path / "Lora"
    (root / "styles").mkdir(parents=True)
    sd1 = [m for m in catalogue("sd1") if m.group in ("attn", "te")]
    xl = [m for m in catalogue("sdxl") if m.group in ("attn", "te")][::10]
    write_file(root / "styles" / "ink.safetensors", lora_state_dict(sd1, rank=8, alpha=4), kohya_metadata())
    write_file(root / "xl.safetensors", lora_state_dict(xl, "loha", naming="kohya_ldm", dtype=torch.bfloat16))
    (root / "broken.safetensors").write_bytes(b"\x10\x00")
    (root / "styles" / "ink.png").write_bytes(b"\x89PNG")
    done = inspect(str(root), "--json")
    assert done.returncode == 0, done.stderr
    records = {r["name"]: r for r in json.loads(done.stdout)}
    assert set(records) == {"styles/ink", "xl", "broken"}
    assert all(set(r) >= CONTRACT for r in records.values())
    ink = records["styles/ink"]
    assert (ink["format"], ink["family"], ink["kinds"], ink["rank"], ink["alpha"]) == (
        "kohya",
        "sd1",
        {"lora": 264},
        8,
        4.0,
    )
    assert (ink["modules"], ink["parts"], ink["dtype"]) == (264, ["te1", "unet"], "float16")
    data = (root / "styles" / "ink.safetensors").read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    assert ink["sha256"] == hashlib.sha256(data).hexdigest() and ink["shorthash"] == ink["sha256"][:10]
    assert ink["addnet_hash"] == hashlib.sha256(data[8 + length :]).hexdigest()
    assert ink["size"] == len(data) and ink["preview"].endswith("ink.png")
    assert ink["suggested_words"][0] == "ink style" and ink["metadata"]["ss_num_epochs"] == "10"
    xl_record = records["xl"]
    assert (xl_record["family"], xl_record["kinds"], xl_record["dtype"]) == ("sdxl", {"loha": len(xl)}, "bfloat16")
    assert set(xl_record["parts"]) == {"te1", "te2", "unet"}
    assert records["broken"]["problems"] and records["broken"]["modules"] == 0


def test_single_broken_file_exits_1_with_one_line(tmp_path) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", 99) + b"{")
    done = inspect(str(path), "--json")
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and "bad.safetensors" in done.stderr
    assert json.loads(done.stdout)[0]["problems"]


def test_single_good_file_and_table_output(tmp_path) -> None:
    path = write_file(
        tmp_path / "good.safetensors", lora_state_dict([m for m in catalogue("sd1") if m.group == "attn"])
    )
    done = inspect(path)
    assert done.returncode == 0, done.stderr
    assert "good  [sd1, kohya, lora×192, r4/a2" in done.stdout


def test_missing_path_exits_1(tmp_path) -> None:
    done = inspect(str(tmp_path / "nope.safetensors"))
    assert done.returncode == 1 and "does not exist" in done.stderr
