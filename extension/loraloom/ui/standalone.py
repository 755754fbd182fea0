"""``loraloom ui``: the gallery and sliders served alone, on 127.0.0.1 by default.

The routes answer only to the loopback names (or the ``--host`` given), so a web page cannot
reach them through DNS rebinding; writes come only from the app's own page (see
:mod:`.requests`). Binding another address is the user's choice to let that network in.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..library.library import Library
from .requests import RequestPolicy, loopback_policy
from .service import GalleryOptions, GalleryService
from .user_state import STATE_FILE_NAME, UserState


def cache_folder() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "loraloom")


def make_service(lora_dirs: Sequence[str], state_dir: str | None = None) -> GalleryService:
    """A service over ``lora_dirs``; favourites live in the first folder (or ``state_dir``)."""
    library = Library(list(lora_dirs), cache_path=os.path.join(cache_folder(), "library-cache.json"))
    library.refresh()
    state = UserState(os.path.join(state_dir or lora_dirs[0], STATE_FILE_NAME))
    service = GalleryService(library, state, GalleryOptions(family_choice=True))
    service.start_background()
    return service


def make_app(service: GalleryService, policy: RequestPolicy | None = None) -> Any:
    """The app: gallery routes (``policy``: loopback only by default), assets, the gradio page."""
    import gradio as gr
    from fastapi import FastAPI

    from .assets import InjectAssets, add_asset_routes
    from .blocks import standalone_blocks
    from .routes import add_gallery_routes

    app = FastAPI(title="loraloom")
    add_gallery_routes(app, lambda: service, policy or loopback_policy())
    add_asset_routes(app)
    demo = standalone_blocks()
    if hasattr(demo, "queue"):
        demo.queue()
    app = gr.mount_gradio_app(app, demo, path="/")
    return InjectAssets(app)


def serve(lora_dirs: Sequence[str], host: str = "127.0.0.1", port: int = 7870) -> None:
    import uvicorn

    service = make_service(lora_dirs)
    print(f"loraloom: {len(service.library.entries)} LoRAs from {', '.join(service.library.roots)}")
    print(f"loraloom: open http://{host}:{port}/ (Ctrl+C stops)", flush=True)
    uvicorn.run(make_app(service, loopback_policy(host)), host=host, port=port, log_level="warning")
