"""The tag language: parse prompts, interpret ``<lora:…>`` tags and edit them in place.

Pure Python on top of lark; never imports torch, gradio or a host.
"""

from .blocks import BUILTIN_PRESETS, SD1_BLOCKS, SDXL_BLOCKS, block_values
from .editor import Edit, find_tags, insert_tag, remove_tag, rename_tag, set_weight, tag_at
from .formatting import can_be_tagged, format_number, format_tag, format_weight, new_tag_text
from .model import (
    LORA_TYPES,
    Arg,
    Diagnostic,
    ForeignTag,
    Keyframe,
    ParseResult,
    PromptParse,
    Tag,
    is_schedule,
)
from .parser import parse, parse_prompt
from .schedule import bound_step, is_active, weight_at, within_bounds

__all__ = [
    "BUILTIN_PRESETS",
    "LORA_TYPES",
    "SD1_BLOCKS",
    "SDXL_BLOCKS",
    "Arg",
    "Diagnostic",
    "Edit",
    "ForeignTag",
    "Keyframe",
    "ParseResult",
    "PromptParse",
    "Tag",
    "block_values",
    "bound_step",
    "can_be_tagged",
    "find_tags",
    "format_number",
    "format_tag",
    "format_weight",
    "insert_tag",
    "is_active",
    "is_schedule",
    "new_tag_text",
    "parse",
    "parse_prompt",
    "remove_tag",
    "rename_tag",
    "set_weight",
    "tag_at",
    "weight_at",
    "within_bounds",
]
