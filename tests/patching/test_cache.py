"""The network cache: LRU by count and bytes, reloaded when the file changes."""

from __future__ import annotations

import os
import time

from loraloom.patching import NetworkCache
from tests.fixtures.lora_files import lora_state_dict, write_file
from tests.fixtures.sd_catalogue import catalogue

MODULES = [m for m in catalogue("sd1") if m.group == "attn"][:6]


def test_lru_by_count_and_bytes_and_reload_on_change(tmp_path) -> None:
    paths = [write_file(tmp_path / f"{i}.safetensors", lora_state_dict(MODULES, seed=i)) for i in range(4)]
    cache = NetworkCache(max_count=2)
    first = cache.get(paths[0])
    assert cache.get(paths[0]) is first
    cache.get(paths[1])
    cache.get(paths[0])  # 0 is now the most recent
    cache.get(paths[2])
    assert paths[0] in cache and paths[2] in cache and paths[1] not in cache and len(cache) == 2
    size = os.path.getsize(paths[0])
    small = NetworkCache(max_count=10, max_bytes=int(size * 2.5))
    for path in paths:
        small.get(path)
    assert len(small) == 2 and small.nbytes() <= size * 2.5
    write_file(paths[3], lora_state_dict(MODULES[:2], seed=9))
    os.utime(paths[3], ns=(time.time_ns(), time.time_ns() + 10**9))
    assert len(small.get(paths[3]).modules) == 2
