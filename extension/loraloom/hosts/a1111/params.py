"""A1111's ``ExtraNetworkParams`` back into loraloom tags, through the grammar.

A1111 found ``<lora:BODY>`` with its regex and split BODY on ':' into ``items``; joining them
gives BODY back exactly, which the grammar then reads like any tag (so one malformed tag only
disables itself, with a message that says where and why).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...syntax import Diagnostic, Tag, parse_prompt


def tag_from_params(params: Any, tag_type: str = "lora") -> tuple[Tag, list[Diagnostic]]:
    body = ":".join(str(item) for item in params.items)
    parsed = parse_prompt(f"<{tag_type}:{body}>")
    (tag,) = parsed.tags
    return tag, list(parsed.diagnostics)


def tags_from_params(params_list: Iterable[Any]) -> tuple[list[Tag], list[str]]:
    """Valid tags and one readable line per problem (invalid tags are dropped, with a line)."""
    tags, problems = [], []
    for params in params_list:
        tag, diagnostics = tag_from_params(params)
        problems += [f"{tag.raw}: {d.message} ({d.hint})" for d in diagnostics if d.severity == "error"]
        if tag.valid:
            tags.append(tag)
    return tags, problems
