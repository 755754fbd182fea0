"""The UNet block a module belongs to, in lora-block-weight's ids (BASE, IN00…, M00, OUT00…).

In LDM naming the id is the ``input_blocks.N`` / ``output_blocks.N`` index; diffusers naming
maps onto it (``down_blocks.i.{attentions,resnets}.j`` → IN 1+3i+j, ``downsamplers`` → IN 3+3i,
``up_blocks.i.*.j`` → OUT 3i+j, ``upsamplers`` → OUT 3i+2). Text-encoder modules are BASE.
"""

from __future__ import annotations

import functools
import re

from .families import CACHED_STEM, module_part

_LDM = re.compile(r"(input_blocks|output_blocks)[._]([0-9]{1,4})[._]|middle_block[._]")
_OUTPUT_LAYER = re.compile(r"conv_out|norm_out|out_2")
_DIFFUSERS = re.compile(
    r"(down_blocks|up_blocks)[._]([0-9]{1,4})[._](attentions|resnets|downsamplers|upsamplers)[._]([0-9]{1,4})|mid_block[._]"
)


def block_id(stem: str) -> str | None:
    """The block of a module stem (cached for real-sized stems only, as :func:`module_part`)."""
    return _block_id(stem) if len(stem) <= CACHED_STEM else _find_block(stem)


@functools.lru_cache(maxsize=65536)
def _block_id(stem: str) -> str | None:
    return _find_block(stem)


def _find_block(stem: str) -> str | None:
    part = module_part(stem)
    if part in ("te1", "te2"):
        return "BASE"
    match = _LDM.search(stem)
    if match:
        if match[1] is None:
            return "M00"
        return f"{'IN' if match[1] == 'input_blocks' else 'OUT'}{int(match[2]):02d}"
    match = _DIFFUSERS.search(stem)
    if match:
        if match[1] is None:
            return "M00"
        level, kind, index = int(match[2]), match[3], int(match[4])
        if match[1] == "down_blocks":
            return f"IN{3 + 3 * level:02d}" if kind == "downsamplers" else f"IN{1 + 3 * level + index:02d}"
        return f"OUT{3 * level + 2:02d}" if kind == "upsamplers" else f"OUT{3 * level + index:02d}"
    if "conv_in" in stem:
        return "IN00"
    if _OUTPUT_LAYER.search(stem):
        return "OUT11"
    return None


def block_sort_key(block: str) -> tuple[int, int]:
    order = {"BASE": 0, "IN": 1, "M": 2, "OUT": 3}
    prefix = block.rstrip("0123456789")
    return order.get(prefix, 4), int(block[len(prefix) :] or 0)
