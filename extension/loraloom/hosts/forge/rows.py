"""A UNet call's rows in Forge and reForge (ComfyUI's sampling): the call's
``transformer_options["cond_or_uncond"]`` lists its chunks (0 conditional, 1 unconditional; at
CFG 1 there is no unconditional chunk), each chunk holding every image of the batch in order."""

from __future__ import annotations

from typing import Any

from ...activation import Row


def rows_from_options(batch: int, kwargs: dict[str, Any]) -> list[Row] | None:
    """The rows of a call whose ``transformer_options`` say them (``None``: they do not)."""
    options = kwargs.get("transformer_options")
    chunks = options.get("cond_or_uncond") if isinstance(options, dict) else None
    if not chunks or batch % len(chunks):
        return None
    images = batch // len(chunks)
    return [Row(image, bool(chunk == 1)) for chunk in chunks for image in range(images)]
