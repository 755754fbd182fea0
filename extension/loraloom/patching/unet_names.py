"""UNet module paths in diffusers spelling ↔ LDM/sgm spelling (CompVis, A1111, kohya SDXL).

The rules are the fixed layout both codebases share (two resnets per level, attention after
each resnet, one down/upsampler per level but the last): block indices are arithmetic, resnet
parts are renamed, attention internals are identical. ``up_has_attention`` tells, for a
diffusers up level, whether its upsampler sits after an attention (slot 2) or not (slot 1).
"""

from __future__ import annotations

import re
from collections.abc import Callable

_RESNET_TO_LDM = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_RESNET_FROM_LDM = {v: k for k, v in _RESNET_TO_LDM.items()}
_TOP_TO_LDM = {
    "conv_in": "input_blocks.0.0",
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
_TOP_FROM_LDM = {v: k for k, v in _TOP_TO_LDM.items()}

_D_ATTN = re.compile(r"^(down|up)_blocks\.(\d+)\.attentions\.(\d+)\.(.+)$")
_D_RESNET = re.compile(r"^(down|up)_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$")
_D_SAMPLER = re.compile(r"^(down|up)_blocks\.(\d+)\.(downsamplers|upsamplers)\.0\.conv$")
_D_MID = re.compile(r"^mid_block\.(attentions|resnets)\.(\d+)\.(.+)$")
_L_BLOCK = re.compile(r"^(input_blocks|output_blocks)\.(\d+)\.(\d+)\.(.+)$")
_L_MID = re.compile(r"^middle_block\.(\d+)\.(.+)$")


def _resnet_part(rest: str, table: dict[str, str]) -> str | None:
    for old, new in table.items():
        if rest == old or rest.startswith(old + "."):
            return new + rest[len(old) :]
    return None


def diffusers_to_ldm(path: str, up_has_attention: Callable[[int], bool]) -> str | None:
    """The LDM spelling of a diffusers UNet module path (``None`` when there is none)."""
    for top, ldm in _TOP_TO_LDM.items():
        if path == top or path.startswith(top + "."):
            return ldm + path[len(top) :]
    if match := _D_ATTN.match(path):
        side, level, index, rest = match[1], int(match[2]), int(match[3]), match[4]
        block = 1 + 3 * level + index if side == "down" else 3 * level + index
        return f"{'input' if side == 'down' else 'output'}_blocks.{block}.1.{rest}"
    if match := _D_RESNET.match(path):
        side, level, index = match[1], int(match[2]), int(match[3])
        rest = _resnet_part(match[4], _RESNET_TO_LDM)
        block = 1 + 3 * level + index if side == "down" else 3 * level + index
        return f"{'input' if side == 'down' else 'output'}_blocks.{block}.0.{rest}" if rest else None
    if match := _D_SAMPLER.match(path):
        level = int(match[2])
        if match[1] == "down":
            return f"input_blocks.{3 + 3 * level}.0.op"
        return f"output_blocks.{3 * level + 2}.{2 if up_has_attention(level) else 1}.conv"
    if match := _D_MID.match(path):
        index, rest = int(match[2]), match[3]
        if match[1] == "attentions":
            return f"middle_block.1.{rest}"
        rest = _resnet_part(rest, _RESNET_TO_LDM)  # type: ignore[assignment]
        return f"middle_block.{2 * index}.{rest}" if rest else None
    return None


def ldm_to_diffusers(path: str) -> str | None:
    """The diffusers spelling of an LDM UNet module path (``None`` when there is none)."""
    for ldm, top in _TOP_FROM_LDM.items():
        if path == ldm or path.startswith(ldm + "."):
            return top + path[len(ldm) :]
    if match := _L_BLOCK.match(path):
        side, block, slot, rest = match[1], int(match[2]), int(match[3]), match[4]
        if side == "input_blocks":
            level, index = divmod(block - 1, 3)
            if index == 2 and slot == 0 and rest == "op":
                return f"down_blocks.{level}.downsamplers.0.conv"
            prefix = f"down_blocks.{level}"
        else:
            level, index = divmod(block, 3)
            if slot >= 1 and rest == "conv":
                return f"up_blocks.{level}.upsamplers.0.conv"
            prefix = f"up_blocks.{level}"
        if slot == 0:
            renamed = _resnet_part(rest, _RESNET_FROM_LDM)
            return f"{prefix}.resnets.{index}.{renamed}" if renamed else None
        if slot == 1:
            return f"{prefix}.attentions.{index}.{rest}"
        return None
    if match := _L_MID.match(path):
        slot, rest = int(match[1]), match[2]
        if slot == 1:
            return f"mid_block.attentions.0.{rest}"
        renamed = _resnet_part(rest, _RESNET_FROM_LDM)
        return f"mid_block.resnets.{slot // 2}.{renamed}" if renamed else None
    return None
