"""The gallery in A1111: a "LoRA" tab, a slider panel under each prompt pair, and their routes.

The UI itself is the core's (:mod:`loraloom.ui`); this file only reads A1111's settings and
loaded model for it and places it on the page.
"""

from __future__ import annotations

import os
from typing import Any

from ...ui.service import GalleryOptions, GalleryService
from ...ui.user_state import STATE_FILE_NAME, UserState
from .session import Session

PROMPT_IDS = {False: ("txt2img_prompt", "txt2img_neg_prompt"), True: ("img2img_prompt", "img2img_neg_prompt")}


def model_family(sd_model: Any) -> str | None:
    """A1111's model flags as a family name (``None`` before a checkpoint is loaded)."""
    if sd_model is None:
        return None
    for flag, family in (("is_sdxl", "sdxl"), ("is_sd2", "sd2"), ("is_sd1", "sd1")):
        if getattr(sd_model, flag, False):
            return family
    return None


def gallery_service(session: Session) -> GalleryService:
    """The session's gallery (made on first use; the session is the host's one registry)."""
    if session.gallery is None:
        from modules import shared  # type: ignore[import-not-found]

        opts = shared.opts
        options = GalleryOptions(
            default_weight=lambda: float(getattr(opts, "loraloom_default_weight", 1.0)),
            model_family=lambda: model_family(getattr(shared, "sd_model", None)),
            hide_other_families=lambda: bool(getattr(opts, "loraloom_hide_other_families", False)),
            trigger_words=lambda: bool(getattr(opts, "loraloom_trigger_words", True)),
            separator=lambda: str(getattr(opts, "extra_networks_add_text_separator", " ") or " "),
        )
        roots = session.library.roots
        state = UserState(os.path.join(roots[0], STATE_FILE_NAME) if roots else None)
        session.gallery = GalleryService(session.library, state, options)
        session.gallery.start_background()
    return session.gallery


def gallery_tabs() -> list[tuple[Any, str, str]]:
    """``on_ui_tabs``: the gallery as a top-level tab (its container is ``#loraloom-tab``)."""
    import gradio as gr

    from ...ui.blocks import gallery_tab

    with gr.Blocks(analytics_enabled=False) as tab:
        gallery_tab()
    return [(tab, "LoRA", "loraloom")]


def slider_panel_for(is_img2img: bool) -> None:
    """The script's UI: the weight sliders of this tab's prompt pair."""
    from ...ui.blocks import slider_panel

    prompt, negative = PROMPT_IDS[is_img2img]
    name = "img2img" if is_img2img else "txt2img"
    slider_panel(f"#{prompt} textarea", f"#{negative} textarea", f"loraloom-sliders-{name}")
