"""An independent model of A1111 v1.10.1's tag handling, written from its documented contract.

``modules/extra_networks.py``: tags are ``<(\\w+):([^>]+)>``, removed with ``re.sub``; the body
is split on ':' and each item is named iff ``item.split('=', 2)`` has exactly two parts.
``extensions-builtin/Lora/extra_networks_lora.py``: name = positional[0]; te = positional[1] or
1.0, overridden by te=; unet = positional[2] or te, overridden by unet=; dyn = positional[3],
overridden by dyn=; values cast with ``float``/``int``.
"""

from __future__ import annotations

import re

A1111_TAG = re.compile(r"<(\w+):([^>]+)>")


def strip(prompt: str) -> str:
    return A1111_TAG.sub("", prompt)


def tags(prompt: str) -> list[tuple[str, str, tuple[int, int]]]:
    return [(m.group(1), m.group(2), m.span()) for m in A1111_TAG.finditer(prompt)]


def split(body: str) -> tuple[list[str], dict[str, str]]:
    positional: list[str] = []
    named: dict[str, str] = {}
    for item in body.split(":"):
        parts = item.split("=", 2)
        if len(parts) == 2:
            named[parts[0]] = parts[1]
        else:
            positional.append(item)
    return positional, named


def lora_values(body: str) -> tuple[str, float, float, int | None]:
    """(name, te, unet, dyn) as A1111 computes them; raises where A1111 raises."""
    positional, named = split(body)
    name = positional[0]
    te = float(positional[1]) if len(positional) > 1 else 1.0
    te = float(named.get("te", te))
    unet = float(positional[2]) if len(positional) > 2 else te
    unet = float(named.get("unet", unet))
    dyn = int(positional[3]) if len(positional) > 3 else None
    dyn = int(named["dyn"]) if "dyn" in named else dyn
    return name, te, unet, dyn
