"""The always-visible A1111 script: takes loraloom tags out of negative prompts before CLIP.

The tags of the first image's negative prompt are kept on ``p`` for the extra network, which
applies them to the unconditional side only. Imported only inside A1111 (it subclasses
``modules.scripts.Script``).
"""

from __future__ import annotations

from typing import Any

from modules import scripts  # type: ignore[import-not-found]

from .negative import NEGATIVE_FIELD, strip_negative_prompts


class LoraloomScript(scripts.Script):  # type: ignore[misc,name-defined]
    def title(self) -> str:
        return "loraloom"

    def show(self, is_img2img: bool) -> Any:
        return scripts.AlwaysVisible

    def ui(self, is_img2img: bool) -> list:
        from .gallery import slider_panel_for

        slider_panel_for(is_img2img)
        return []  # the sliders edit the prompt text itself: nothing reaches process()

    def process(self, p: Any, *args: Any) -> None:
        from modules import shared  # type: ignore[import-not-found]

        if getattr(shared.opts, "loraloom_negative_tags", True):
            p.loraloom_negative_tags = strip_negative_prompts(p)
            if p.loraloom_negative_tags:  # kept in the infotext so that pasting brings them back
                p.extra_generation_params[NEGATIVE_FIELD] = " ".join(tag.raw for tag in p.loraloom_negative_tags)
