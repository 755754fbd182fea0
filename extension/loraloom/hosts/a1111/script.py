"""The always-visible A1111 script: the points of a generation the extra network cannot see.

- ``before_process``: check who owns the ``lora`` tag (and take it, or hand it back);
- ``process``: take the tags out of every negative prompt before CLIP sees them, kept per image
  on ``p`` for the activation;
- ``before_process_batch``: read every image's tags from ``p.prompts`` before A1111 strips them.

Imported only inside A1111 (it subclasses ``modules.scripts.Script``).
"""

from __future__ import annotations

from typing import Any

from modules import scripts  # type: ignore[import-not-found]

from .prompts import NEGATIVE_FIELD, strip_negative_prompts


class LoraloomScript(scripts.Script):  # type: ignore[misc,name-defined]
    def title(self) -> str:
        return "loraloom"

    def show(self, is_img2img: bool) -> Any:
        return scripts.AlwaysVisible

    def ui(self, is_img2img: bool) -> list:
        from .gallery import slider_panel_for

        slider_panel_for(is_img2img)
        return []  # the sliders edit the prompt text itself: nothing reaches process()

    def before_process(self, p: Any, *args: Any) -> None:
        from . import claim_tags

        claim_tags(p)

    def process(self, p: Any, *args: Any) -> None:
        from modules import shared  # type: ignore[import-not-found]

        from . import handles_tags

        if not handles_tags() or not getattr(shared.opts, "loraloom_negative_tags", True):
            return
        p.loraloom_negative_tags = found = strip_negative_prompts(p)
        first = found.first_tags()
        if first:  # kept in the infotext so that pasting brings them back
            p.extra_generation_params[NEGATIVE_FIELD] = " ".join(tag.raw for tag in first)

    def before_process_batch(self, p: Any, *args: Any, **kwargs: Any) -> None:
        from . import get_session, handles_tags

        if handles_tags():
            get_session().capture(p)
