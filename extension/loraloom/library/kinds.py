"""Group a file's keys into target modules and tell each module's network kind.

Pure key-name and shape logic (no tensors are read): a key is split into the *stem* naming the
target module and the *suffix* naming the tensor's role; the set of suffixes of a stem decides
its kind, as ComfyUI, A1111 and InvokeAI all do. Which suffixes make which kind, and how a
kind's rank, width and conv-ness are read, is the kinds table's (:mod:`loraloom.kinds`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..kinds import DORA_SUFFIX, detect, kind_named

# diffusers/PEFT spellings of a LoRA pair and what they mean in kohya terms
_DIFFUSERS_SUFFIXES = [
    (
        re.compile(r"^(?P<stem>.+)\.lora_(?P<ab>[AB])(?:\.default)?\.weight$"),
        {"A": "lora_down.weight", "B": "lora_up.weight"},
    ),
    (
        re.compile(r"^(?P<stem>.+?)[._]lora\.(?P<ab>down|up)\.weight$"),
        {"down": "lora_down.weight", "up": "lora_up.weight"},
    ),
    (
        re.compile(r"^(?P<stem>.+)\.lora_linear_layer\.(?P<ab>down|up)\.weight$"),
        {"down": "lora_down.weight", "up": "lora_up.weight"},
    ),
    (re.compile(r"^(?P<stem>.+)\.lora_magnitude_vector(?:\.default)?(?:\.weight)?$"), {None: "dora_scale"}),
]
_OLD_PROCESSOR = re.compile(r"^(?P<path>.+)\.processor\.(?P<proj>to_q|to_k|to_v|to_out)_lora\.(?P<ab>down|up)\.weight$")
_KOHYA_PREFIX = re.compile(r"^(lora_(unet|te\d?|prior_unet|prior_te|transformer)|oft_unet|lycoris)_")

@dataclass(frozen=True)
class ModuleKeys:
    """All keys of one target module: ``suffix → key`` and the kind they make up."""

    stem: str
    kind: str | None
    """A name of :data:`loraloom.kinds.KINDS`, or ``None`` when the suffixes match no known kind."""
    keys: dict[str, str]
    dora: bool = False


def split_key(key: str) -> tuple[str, str]:
    """``(stem, suffix)`` of a key, with diffusers/PEFT suffixes renamed to kohya's."""
    if _KOHYA_PREFIX.match(key):
        stem, _, suffix = key.partition(".")
        return stem, suffix
    old = _OLD_PROCESSOR.match(key)
    if old:
        proj = "to_out.0" if old["proj"] == "to_out" else old["proj"]
        return f"{old['path']}.{proj}", "lora_down.weight" if old["ab"] == "down" else "lora_up.weight"
    for pattern, names in _DIFFUSERS_SUFFIXES:
        match = pattern.match(key)
        if match:
            return match["stem"], names[match.groupdict().get("ab")]
    stem, dot, last = key.rpartition(".")
    if dot and last == "alpha":
        return stem, "alpha"
    return key, ""


def key_naming(keys: list[str]) -> str:
    """``"kohya"`` when keys carry kohya/LyCORIS prefixes, else ``"diffusers"`` (PEFT included)."""
    kohya = sum(1 for key in keys if _KOHYA_PREFIX.match(key))
    return "kohya" if kohya * 2 >= len(keys) and kohya else "diffusers"


def group_modules(shapes: Mapping[str, tuple[int, ...]]) -> tuple[list[ModuleKeys], list[str]]:
    """Modules of a file from its key → shape table, and the keys that belong to none."""
    stems: dict[str, dict[str, str]] = {}
    for key in shapes:
        stem, suffix = split_key(key)
        stems.setdefault(stem, {})[suffix] = key
    modules, stray = [], []
    for stem, keys in stems.items():
        kind = classify(keys, shapes)
        if kind is None:
            stray.extend(keys.values())
            continue
        modules.append(ModuleKeys(stem=stem, kind=kind, keys=keys, dora=DORA_SUFFIX in keys))
    return modules, stray


def suffix_shapes(keys: Mapping[str, str], shapes: Mapping[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """``suffix → shape`` of one module (what the kinds table's rules read)."""
    return {suffix: shapes[key] for suffix, key in keys.items()}


def classify(keys: Mapping[str, str], shapes: Mapping[str, tuple[int, ...]]) -> str | None:
    """The kind a stem's suffixes make up (``None``: not a module we know)."""
    kind = detect(suffix_shapes(keys, shapes))
    return kind.name if kind else None


def module_rank(module: ModuleKeys, shapes: Mapping[str, tuple[int, ...]]) -> int | None:
    """The rank a module's alpha is divided by (``None`` for kinds without a rank)."""
    return kind_named(module.kind).rank(suffix_shapes(module.keys, shapes)) if module.kind else None


def module_input_width(module: ModuleKeys, shapes: Mapping[str, tuple[int, ...]]) -> int | None:
    """The target's input width, for kinds whose tensors show it (``None`` otherwise)."""
    return kind_named(module.kind).input_width(suffix_shapes(module.keys, shapes)) if module.kind else None


def module_is_conv(module: ModuleKeys, shapes: Mapping[str, tuple[int, ...]]) -> bool | None:
    """Whether the target is a Conv2d (4-D tensors) or a Linear (2-D), when the kind shows it."""
    return kind_named(module.kind).is_conv(suffix_shapes(module.keys, shapes)) if module.kind else None
