"""Group a file's keys into target modules and tell each module's network kind.

Pure key-name and shape logic (no tensors are read): a key is split into the *stem* naming the
target module and the *suffix* naming the tensor's role; the set of suffixes of a stem decides
its kind, as ComfyUI, A1111 and InvokeAI all do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

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

KINDS = ("lora", "dora", "loha", "lokr", "ia3", "oft", "boft", "glora", "full", "norm")


@dataclass(frozen=True)
class ModuleKeys:
    """All keys of one target module: ``suffix → key`` and the kind they make up."""

    stem: str
    kind: str | None
    """One of :data:`KINDS`, or ``None`` when the suffixes match no known kind."""
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
        modules.append(ModuleKeys(stem=stem, kind=kind, keys=keys, dora="dora_scale" in keys))
    return modules, stray


def classify(keys: Mapping[str, str], shapes: Mapping[str, tuple[int, ...]]) -> str | None:
    """The kind a stem's suffixes make up (``None``: not a module we know)."""
    present = set(keys)
    base: str | None = None
    if "hada_w1_a" in present and "hada_w2_a" in present:
        base = "loha"
    elif present & {"lokr_w1", "lokr_w1_a"} and present & {"lokr_w2", "lokr_w2_a"}:
        base = "lokr"
    elif {"a1.weight", "a2.weight", "b1.weight", "b2.weight"} <= present:
        base = "glora"
    elif "oft_blocks" in present:
        base = "boft" if len(shapes[keys["oft_blocks"]]) == 4 else "oft"
    elif "oft_diag" in present:
        base = "oft"
    elif "w_norm" in present:
        base = "norm"
    elif "diff" in present:
        base = "full"
    elif {"weight", "on_input"} <= present:
        base = "ia3"
    elif {"lora_up.weight", "lora_down.weight"} <= present:
        base = "lora"
    if base == "lora" and "dora_scale" in present:
        return "dora"
    return base


def module_rank(module: ModuleKeys, shapes: Mapping[str, tuple[int, ...]]) -> int | None:
    """The rank a module's alpha is divided by (``None`` for kinds without a rank)."""
    keys = module.keys
    if module.kind in ("lora", "dora"):
        return shapes[keys["lora_down.weight"]][0]
    if module.kind == "loha":
        return shapes[keys["hada_w1_b"]][0]
    if module.kind == "lokr":
        for suffix in ("lokr_w1_b", "lokr_w2_b"):
            if suffix in keys:
                return shapes[keys[suffix]][0]
        return None
    if module.kind == "glora":
        return shapes[keys["a2.weight"]][0]
    return None


def module_input_width(module: ModuleKeys, shapes: Mapping[str, tuple[int, ...]]) -> int | None:
    """The target's input width, for kinds whose tensors show it (``None`` otherwise)."""
    keys = module.keys

    def shape(suffix: str) -> tuple[int, ...]:
        return shapes[keys[suffix]]

    if module.kind in ("lora", "dora"):
        down = shape("lora_down.weight")
        return down[1] if len(down) == 2 or down[2:] == (1, 1) else None
    if module.kind == "loha":
        return shape("hada_w1_b")[1] if "hada_t1" not in keys else None
    if module.kind == "full":
        return shape("diff")[1] if len(shape("diff")) >= 2 else None
    if module.kind == "glora":
        return shape("a1.weight")[0]
    if module.kind == "lokr" and "lokr_w1" in keys and "lokr_w2" in keys and len(shape("lokr_w2")) == 2:
        return shape("lokr_w1")[1] * shape("lokr_w2")[1]
    return None


def module_is_conv(module: ModuleKeys, shapes: Mapping[str, tuple[int, ...]]) -> bool | None:
    """Whether the target is a Conv2d (4-D tensors) or a Linear (2-D), when the kind shows it."""
    dims = {
        len(shapes[key]) for suffix, key in module.keys.items() if suffix not in ("alpha", "dora_scale", "on_input")
    }
    if module.kind in ("lora", "dora", "full", "glora") or (module.kind == "lokr" and "lokr_w2" in module.keys):
        return 4 in dims
    return None
