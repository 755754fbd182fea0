"""The table of network kinds: one row per kind, read by library, networks, patching and ui.

A row says how a module of that kind is recognised (its key suffixes), how its rank, its
target's input width and conv-ness are read from tensor shapes, what the gallery calls it and
which adapter class applies it — named as ``"module:Class"`` and imported only when an adapter
is built, so this table (and everything that reads only it) never imports torch.

A new kind is one row here and one module in :mod:`loraloom.networks`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

Shapes = Mapping[str, tuple[int, ...]]
"""``suffix → shape`` of one module's tensors (``lora_down.weight → (4, 768)``)."""

_NOT_A_FACTOR = ("alpha", "dora_scale", "on_input")


def _nothing(shapes: Shapes) -> Any:
    return None


def _always(shapes: Shapes) -> bool:
    return True


def _four_dimensional(shapes: Shapes) -> bool:
    """A Conv2d target: some factor tensor is 4-D (scalars and the DoRA scale say nothing)."""
    return any(len(shape) == 4 for suffix, shape in shapes.items() if suffix not in _NOT_A_FACTOR)


@dataclass(frozen=True)
class Kind:
    """One network kind: recognition, shape rules, label and adapter class."""

    name: str
    label: str
    adapter: str
    """``"module:Class"`` of its :class:`~loraloom.networks.adapter.Adapter`, imported lazily."""
    suffixes: tuple[str, ...]
    """Every key suffix the kind reads (``alpha`` included)."""
    requires: tuple[tuple[str, ...], ...]
    """Each group needs one of its suffixes present for a module to be of this kind."""
    accepts: Callable[[Shapes], bool] = _always
    """A further shape test (BOFT: 4-D blocks)."""
    rank: Callable[[Shapes], int | None] = _nothing
    """The rank alpha is divided by (``None``: the kind has none)."""
    input_width: Callable[[Shapes], int | None] = _nothing
    """The target's input features, when the tensors show it."""
    is_conv: Callable[[Shapes], bool | None] = _nothing
    """Whether the target is a Conv2d, when the tensors show it."""
    forward_without_delta: bool = False
    """Its on-the-fly output needs no ΔW (hooks mode never builds or caches one)."""

    def matches(self, shapes: Shapes) -> bool:
        return all(any(suffix in shapes for suffix in group) for group in self.requires) and self.accepts(shapes)

    def adapter_class(self) -> type:
        module, _, name = self.adapter.partition(":")
        return getattr(importlib.import_module(module), name)


# -- shape rules of the kinds that need more than one line ------------------------------------


def _lora_width(shapes: Shapes) -> int | None:
    down = shapes["lora_down.weight"]
    return down[1] if len(down) == 2 or down[2:] == (1, 1) else None


def _lokr_rank(shapes: Shapes) -> int | None:
    """The ``_b`` factor's first axis, ``w2_b`` before ``w1_b`` (A1111's and ComfyUI's order).

    Not ``w2_a``: in the Tucker layout (``lokr_t2``) it is [rank, out_k], so its second axis is
    an output size (LyCORIS ``modules/lokr.py``: ``lokr_w2_a`` = [lora_dim, out_k] with t2).
    Both factors full: no rank, scale 1 (LyCORIS stores alpha = dim then).
    """
    for suffix in ("lokr_w2_b", "lokr_w1_b"):
        if suffix in shapes:
            return shapes[suffix][0]
    return None


def _lokr_width(shapes: Shapes) -> int | None:
    if "lokr_w1" in shapes and "lokr_w2" in shapes and len(shapes["lokr_w2"]) == 2:
        return shapes["lokr_w1"][1] * shapes["lokr_w2"][1]
    return None


GLORA_CURRENT, GLORA_LYCORIS1 = "current", "lycoris1"


def glora_layout(shapes: Shapes, weight_shape: tuple[int, ...] | None = None) -> str:
    """Which GLoRA naming a module was saved with.

    ``current`` (LyCORIS ≥ 2, ``modules/glora.py``): a1 [in, r], a2 [r, in], b1 [out, r],
    b2 [r, in·k·k]; ΔW = (b1·b2 + W·a1·a2)·alpha/r. ``lycoris1`` (LyCORIS 1.x, commit 68b1957
    ``modules/glora.py``): a1 [r, in], a2 [in, r], b1 [r, in], b2 [out, r] (1×1 convs only);
    ΔW = (b2·b1 + W·a2·a1)·alpha/r. With the target's weight shape the layout that fits it wins;
    without it (the library reads headers only), a square module fits both and the reading with
    the smaller rank wins. A tie is the current layout.
    """
    a1, a2, b1, b2 = (shapes[f"{name}.weight"] for name in ("a1", "a2", "b1", "b2"))
    current = a1[1] == a2[0] == b1[1] == b2[0]
    old = a1[0] == a2[1] == b1[0] == b2[1]
    if weight_shape is not None:
        out, inputs = weight_shape[0], weight_shape[1] if len(weight_shape) > 1 else None
        if current and a1[0] == inputs and b1[0] == out:
            return GLORA_CURRENT
        if old and a2[0] == inputs and b2[0] == out:
            return GLORA_LYCORIS1
        return GLORA_CURRENT
    if old and (not current or a1[0] < a2[0]):
        return GLORA_LYCORIS1
    return GLORA_CURRENT


def _glora_rank(shapes: Shapes) -> int:
    return shapes["a1.weight"][0] if glora_layout(shapes) == GLORA_LYCORIS1 else shapes["a2.weight"][0]


def _glora_width(shapes: Shapes) -> int:
    return shapes["a1.weight"][1] if glora_layout(shapes) == GLORA_LYCORIS1 else shapes["a1.weight"][0]


def _blocks_are_4d(shapes: Shapes) -> bool:
    return len(shapes["oft_blocks"]) == 4 if "oft_blocks" in shapes else False


def _full_width(shapes: Shapes) -> int | None:
    return shapes["diff"][1] if len(shapes["diff"]) >= 2 else None


# -- the table: detection order is row order ---------------------------------------------------

_LORA_SUFFIXES = ("lora_down.weight", "lora_up.weight", "lora_mid.weight", "alpha")
_LORA_PAIR = (("lora_up.weight",), ("lora_down.weight",))

KINDS: tuple[Kind, ...] = (
    Kind(
        "loha",
        "LoHa",
        "loraloom.networks.loha:LoHa",
        ("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "hada_t1", "hada_t2", "alpha"),
        (("hada_w1_a",), ("hada_w2_a",)),
        rank=lambda s: s["hada_w1_b"][0],
        input_width=lambda s: s["hada_w1_b"][1] if "hada_t1" not in s else None,
    ),
    Kind(
        "lokr",
        "LoKr",
        "loraloom.networks.lokr:LoKr",
        ("lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b", "lokr_t2", "alpha"),
        (("lokr_w1", "lokr_w1_a"), ("lokr_w2", "lokr_w2_a")),
        rank=_lokr_rank,
        input_width=_lokr_width,
        is_conv=lambda s: _four_dimensional(s) if "lokr_w2" in s else None,
    ),
    Kind(
        "glora",
        "GLoRA",
        "loraloom.networks.glora:GLoRA",
        ("a1.weight", "a2.weight", "b1.weight", "b2.weight", "alpha"),
        (("a1.weight",), ("a2.weight",), ("b1.weight",), ("b2.weight",)),
        rank=_glora_rank,
        input_width=_glora_width,
        is_conv=_four_dimensional,
    ),
    Kind(
        "boft",
        "BOFT",
        "loraloom.networks.oft:BOFT",
        ("oft_blocks", "rescale", "alpha"),
        (("oft_blocks",),),
        accepts=_blocks_are_4d,
    ),
    Kind(
        "oft",
        "OFT",
        "loraloom.networks.oft:OFT",
        ("oft_blocks", "oft_diag", "rescale", "alpha"),
        (("oft_blocks", "oft_diag"),),
    ),
    Kind(
        "norm",
        "Norm",
        "loraloom.networks.full:Norm",
        ("w_norm", "b_norm"),
        (("w_norm",),),
        forward_without_delta=True,
    ),
    Kind(
        "full",
        "Full",
        "loraloom.networks.full:Full",
        ("diff", "diff_b"),
        (("diff",),),
        input_width=_full_width,
        is_conv=_four_dimensional,
    ),
    Kind(
        "ia3",
        "IA3",
        "loraloom.networks.ia3:IA3",
        ("weight", "on_input"),
        (("weight",), ("on_input",)),
        forward_without_delta=True,
    ),
    Kind(
        "dora",
        "DoRA",
        "loraloom.networks.lora:LoRA",  # wrapped in networks.dora.DoRA, as any kind with dora_scale
        (*_LORA_SUFFIXES, "dora_scale"),
        (*_LORA_PAIR, ("dora_scale",)),
        rank=lambda s: s["lora_down.weight"][0],
        input_width=_lora_width,
        is_conv=_four_dimensional,
    ),
    Kind(
        "lora",
        "LoRA",
        "loraloom.networks.lora:LoRA",
        _LORA_SUFFIXES,
        _LORA_PAIR,
        rank=lambda s: s["lora_down.weight"][0],
        input_width=_lora_width,
        is_conv=_four_dimensional,
        forward_without_delta=True,
    ),
)

KIND_NAMES: tuple[str, ...] = tuple(kind.name for kind in KINDS)
_BY_NAME: Mapping[str, Kind] = MappingProxyType({kind.name: kind for kind in KINDS})
DORA_SUFFIX = "dora_scale"
"""Any kind's module may carry it: its adapter is then wrapped in DoRA's weight decomposition."""


def kind_named(name: str) -> Kind:
    """The row of ``name`` (``KeyError`` for a name not in the table)."""
    return _BY_NAME[name]


def detect(shapes: Shapes) -> Kind | None:
    """The first row whose suffixes a module's tensors make up (``None``: no known kind)."""
    return next((kind for kind in KINDS if kind.matches(shapes)), None)


def label(name: str) -> str:
    """What the gallery shows for a kind (an unknown name is shown as it is)."""
    kind = _BY_NAME.get(name)
    return kind.label if kind else name
