from __future__ import annotations

import pytest

from loraloom.library import Library
from loraloom.samples import write_samples
from loraloom.ui.service import GalleryOptions, GalleryService
from loraloom.ui.user_state import UserState


@pytest.fixture
def sample_dir(tmp_path):
    folder = tmp_path / "loras"
    write_samples(str(folder))
    return folder


@pytest.fixture
def service(sample_dir, tmp_path) -> GalleryService:
    library = Library([str(sample_dir)], cache_path=str(tmp_path / "cache.json"))
    library.refresh()
    gallery = GalleryService(library, UserState(str(tmp_path / "state.json")), GalleryOptions(family_choice=True))
    gallery.start_background()
    assert gallery.wait(30)
    return gallery
