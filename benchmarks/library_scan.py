"""Library scan: list and summarise 2,000 small LoRA files, first scan vs cached re-scan.

Each file is a real default kohya SD1.5 LoRA (264 modules, 792 keys, rank 4, fp16, ~4 MB) as
trainers write them, so headers have their real size. To keep the benchmark's disk use small,
20 distinct files are written and each appears under 100 paths as hard links; every path is
listed, read and summarised on its own. The re-scan is a fresh ``Library`` (as after a
restart) reading the on-disk cache, so it only lists and stats; target: at least 20x faster
than the first scan. Prints both figures.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "extension"), str(ROOT)]

from loraloom.library import Library  # noqa: E402  (after the path set-up above)
from tests.fixtures.sd_catalogue import default_targets  # noqa: E402

FILES = 2000
DISTINCT = 20
RANK = 4


def make_library(root: Path, count: int) -> None:
    rng = np.random.default_rng(0)
    modules = default_targets("sd1")
    for distinct in range(DISTINCT):
        tensors = {}
        for module in modules:
            stem = module.kohya_stem()
            down_shape = (RANK, module.inputs, 1, 1) if module.kind == "conv" else (RANK, module.inputs)
            up_shape = (module.outputs, RANK, 1, 1) if module.kind == "conv" else (module.outputs, RANK)
            tensors[f"{stem}.lora_down.weight"] = rng.standard_normal(down_shape, dtype=np.float32).astype(np.float16)
            tensors[f"{stem}.lora_up.weight"] = rng.standard_normal(up_shape, dtype=np.float32).astype(np.float16)
            tensors[f"{stem}.alpha"] = np.array(RANK / 2, dtype=np.float16)
        metadata = {
            "ss_output_name": f"style{distinct}",
            "ss_base_model_version": "sd_v1",
            "ss_tag_frequency": json.dumps({"1_x": {f"tag {i}": i for i in range(40)}}),
        }
        original = root / "originals" / f"style {distinct}.safetensors"
        original.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(original), metadata=metadata)
        for copy in range(count // DISTINCT):
            folder = root / f"group{copy % 20}"
            folder.mkdir(parents=True, exist_ok=True)
            os.link(original, folder / f"style {distinct}-{copy}.safetensors")
    shutil.rmtree(root / "originals")


def scan(root: Path, cache: Path) -> tuple[float, int]:
    start = time.perf_counter()
    library = Library([str(root)], cache_path=str(cache))
    library.refresh()
    infos = [library.describe(entry, with_hashes=False) for entry in library.entries]
    library.save()
    return time.perf_counter() - start, sum(info.summary.modules for info in infos)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root, cache = Path(folder) / "Lora", Path(folder) / "cache.json"
        make_library(root, FILES)
        first, modules = scan(root, cache)
        again, modules_again = scan(root, cache)
        assert modules == modules_again == FILES * len(default_targets("sd1"))
    print(f"{FILES} files: first scan {first * 1000:.0f} ms, cached re-scan {again * 1000:.0f} ms")
    print(f"re-scan speed-up: {first / again:.1f}x (target >= 20x)")


if __name__ == "__main__":
    main()
