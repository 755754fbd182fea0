"""The kinds table: torch-free, every row names a real adapter, and each adapter reads only the
suffixes its row lists (so the library's view of a kind and the patcher's cannot drift apart)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from loraloom.kinds import DORA_SUFFIX, KIND_NAMES, KINDS, detect, kind_named, label
from loraloom.networks.adapter import Adapter, TargetInfo
from tests.fixtures.lora_files import kind_tensors
from tests.fixtures.sd_catalogue import Module

# fixture layouts (tests/fixtures/lora_files.py) per table row
FIXTURE_KINDS = {
    "lora": ["lora", "lora_tucker"],
    "dora": ["dora"],
    "loha": ["loha", "loha_tucker"],
    "lokr": ["lokr", "lokr_lowrank"],
    "ia3": ["ia3"],
    "oft": ["oft"],
    "boft": ["boft"],
    "glora": ["glora"],
    "full": ["full"],
    "norm": ["norm"],
}


def test_the_table_and_its_readers_import_without_torch() -> None:
    code = (
        "import sys, json\n"
        "import loraloom.kinds, loraloom.library.kinds, loraloom.ui.cards\n"
        "from loraloom.kinds import detect\n"
        "kind = detect({'lokr_w1': (8, 8), 'lokr_w2_a': (4, 2), 'lokr_w2_b': (2, 8)})\n"
        "print(json.dumps([kind.name, 'torch' in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["lokr", False]


def test_every_kind_has_a_row_a_label_and_fixtures() -> None:
    assert set(KIND_NAMES) == set(FIXTURE_KINDS)
    assert len(set(KIND_NAMES)) == len(KINDS)
    assert label("lokr") == "LoKr" and label("made-up") == "made-up"
    with pytest.raises(KeyError):
        kind_named("made-up")


@pytest.mark.parametrize("conv", [False, True], ids=["linear", "conv"])
@pytest.mark.parametrize("name", KIND_NAMES)
def test_each_row_detects_its_fixtures_and_its_adapter_reads_only_its_suffixes(name: str, conv: bool) -> None:
    kind = kind_named(name)
    adapter_class = kind.adapter_class()
    assert issubclass(adapter_class, Adapter)
    if name == "norm":
        module, host = Module("unet", "x", None, "norm", 32, 32), torch.nn.GroupNorm(4, 32)
    elif conv:
        module, host = Module("unet", "x", None, "conv", 32, 64, 3), torch.nn.Conv2d(32, 64, 3, padding=1)
    else:
        module, host = Module("unet", "x", None, "linear", 32, 64), torch.nn.Linear(32, 64)
    for fixture in FIXTURE_KINDS[name]:
        tensors = kind_tensors(fixture, module, 4, 2.0, torch.Generator().manual_seed(0))
        shapes = {suffix: tuple(tensor.shape) for suffix, tensor in tensors.items()}
        assert detect(shapes) is kind, fixture
        read: list[str] = []

        def get(suffix: str, tensors=tensors, read=read) -> torch.Tensor | None:
            read.append(suffix)
            tensor = tensors.get(suffix)
            return None if tensor is None else tensor.float()

        adapter = adapter_class.build(TargetInfo.of(host), get, host)
        assert set(read) <= set(kind.suffixes) - {DORA_SUFFIX}, fixture
        assert set(tensors) <= set(kind.suffixes), fixture
        assert adapter.delta_shape() == tuple(host.weight.shape), fixture
        if kind.forward_without_delta:
            assert adapter.kind == name
