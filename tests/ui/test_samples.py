"""The bundled sample library is real: every file is identified as the family and kind it claims."""

from __future__ import annotations

import json

from loraloom.library import Library
from loraloom.samples import SAMPLES


def test_samples_are_real_files_of_the_families_and_kinds_they_claim(sample_dir) -> None:
    library = Library([str(sample_dir)])
    library.refresh()
    families = {"sd_v1": "sd1", "sd_v2": "sd2", "sdxl_base_v1-0": "sdxl"}
    kinds = {"lora": "lora", "locon": "lora", "loha": "loha", "lokr": "lokr"}
    assert sorted(e.name for e in library.entries) == sorted(s.name for s in SAMPLES)
    for sample in SAMPLES:
        info = library.describe(library.get(sample.name))
        assert info.problems == [], sample.name
        assert info.summary.family == families[sample.base_model], sample.name
        assert set(info.summary.kinds) == {kinds[sample.kind]}, sample.name
        assert bool(info.entry.sidecars.preview) == sample.preview
    spirit = library.describe(library.get("characters/forest-spirit"))
    assert spirit.trigger_words == ["forest spirit", "glowing eyes"]  # from the .civitai.info
    slider = json.loads((sample_dir / "detail-slider.json").read_text())
    assert (slider["weight min"], slider["weight max"]) == (-8, 8)


def test_preview_images_are_valid_pngs(sample_dir) -> None:
    from PIL import Image

    with Image.open(sample_dir / "ink-style.preview.png") as image:
        image.verify()
        assert image.size == (384, 384)
