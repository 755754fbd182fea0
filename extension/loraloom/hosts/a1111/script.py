"""The always-visible A1111 script: strips loraloom tags from negative prompts before CLIP.

Imported only inside A1111 (it subclasses ``modules.scripts.Script``).
"""

from __future__ import annotations

from typing import Any

from modules import scripts, shared  # type: ignore[import-not-found]

from .negative import strip_negative_prompts


class LoraloomScript(scripts.Script):  # type: ignore[misc,name-defined]
    def title(self) -> str:
        return "loraloom"

    def show(self, is_img2img: bool) -> Any:
        return scripts.AlwaysVisible

    def ui(self, is_img2img: bool) -> list:
        return []

    def process(self, p: Any, *args: Any) -> None:
        if not getattr(shared.opts, "loraloom_negative_tags", True):
            return
        tags = strip_negative_prompts(p)
        if tags:
            names = ", ".join(tag.name for tag in tags)
            p.comment(
                f"loraloom: negative-prompt LoRAs ({names}) were removed from the negative prompt; "
                "applying them to the unconditional pass only is not available yet"
            )
