"""``load_network``: modules with kinds and parts, tensors read lazily and converted once."""

from __future__ import annotations

import pytest
import torch

import loraloom
from loraloom.library.problems import FileProblem
from tests.fixtures.lora_files import lora_state_dict, write_file
from tests.fixtures.sd_catalogue import catalogue


def test_network_modules_and_lazy_tensors(tmp_path) -> None:
    modules = [m for m in catalogue("sdxl") if m.group in ("attn", "te")][::50]
    tensors = lora_state_dict(modules, naming="kohya_ldm")
    tensors["unknown.key"] = torch.zeros(1)
    network = loraloom.load_network(write_file(tmp_path / "x.safetensors", tensors))
    assert len(network.modules) == len(modules) and network.unmatched_keys == ["unknown.key"]
    stem = modules[0].kohya_stem(ldm=True)
    module = network.modules[stem]
    assert (module.kind, module.part) == ("lora", modules[0].part)
    key = module.keys["lora_down.weight"]
    as_float = network.tensor(key, torch.float32)
    assert as_float.dtype == torch.float32 and torch.equal(as_float, tensors[key].float())
    assert network.tensor(key, torch.float32) is as_float  # converted once, then cached


def test_pickles_are_refused_unless_allowed(tmp_path) -> None:
    path = tmp_path / "x.pt"
    torch.save(lora_state_dict([m for m in catalogue("sd1") if m.group == "attn"][:2]), path)
    with pytest.raises(FileProblem, match="refused"):
        loraloom.load_network(str(path))
    assert len(loraloom.load_network(str(path), allow_pickle=True).modules) == 2
