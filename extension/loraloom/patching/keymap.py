"""An exact table "file key stem → model weight", built once per model (ComfyUI's idea).

Every patchable module of every part passed (``unet``, ``te1``, ``te2``) is listed under every
stem a file may use for it: kohya (diffusers and LDM spellings), diffusers/PEFT, LyCORIS.
The model's own naming is detected, not passed: diffusers/transformers (CLIP text models with or
without transformers 4's ``text_model.`` level), CompVis/sgm LDM UNets, A1111's wrapped HF CLIP,
and open_clip text encoders whose ``MultiheadAttention`` keeps q/k/v in one ``in_proj_weight``
(each gets its own slot, a slice of that matrix). Unmatched keys are then a set difference.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from .binding import TORCH, TORCH_TYPES, Binding
from .unet_names import diffusers_to_ldm, ldm_to_diffusers

PATCHABLE = TORCH_TYPES
_UNET_PREFIXES = ("model.diffusion_model.", "diffusion_model.")
_HF_TEXT_PARTS = re.compile(r"^(?P<root>(?:.+\.)?)(?:encoder\.layers\.\d+(?:\.|$)|final_layer_norm$|embeddings$)")
_OPEN_CLIP_LAYER = re.compile(r"(?:^|\.)resblocks\.(\d+)\.(.+)$")
_OPEN_CLIP_PARTS = {"mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2", "ln_1": "layer_norm1", "ln_2": "layer_norm2"}
MHA_SLICES = ("q_proj", "k_proj", "v_proj")


@dataclass(frozen=True)
class Slot:
    """One weight a file module can change: a whole module's weight, or one slice of an MHA."""

    part: str
    path: str
    """The module's path inside its part's target (what ``report()`` shows)."""
    module: nn.Module
    mha_slice: str | None = None
    """``q_proj``/``k_proj``/``v_proj``: a third of ``in_proj_weight``; ``out_proj``: the MHA's out_proj."""
    problem: str | None = None
    """Why this module cannot be patched (the host's binding says; reported per key)."""
    shape: tuple[int, ...] | None = None
    """The module's logical weight shape when its stored weight has another (packed storage)."""

    @property
    def weight(self) -> torch.Tensor:
        if self.mha_slice is None:
            return self.module.weight
        if self.mha_slice == "out_proj":
            return self.module.out_proj.weight
        return self.module.in_proj_weight

    @property
    def rows(self) -> slice:
        """The rows of :attr:`weight` this slot owns (all, or one third of in_proj)."""
        if self.mha_slice in MHA_SLICES:
            size = self.module.embed_dim
            start = MHA_SLICES.index(self.mha_slice) * size
            return slice(start, start + size)
        return slice(None)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        if self.shape is not None:
            return self.shape
        return tuple(self.weight[self.rows].shape)

    @property
    def bias(self) -> torch.Tensor | None:
        if self.mha_slice is None:
            return getattr(self.module, "bias", None)
        if self.mha_slice == "out_proj":
            return self.module.out_proj.bias
        return self.module.in_proj_bias


def bound_slot(part: str, name: str, module: nn.Module, binding: Binding) -> Slot:
    """The slot of a whole module, with the binding's verdict (and its logical shape when the
    stored weight is packed into another)."""
    problem = binding.unpatchable(module)
    shape = tuple(binding.target_info(module).weight_shape) if not problem and binding.packed(module) else None
    return Slot(part, name, module, problem=problem, shape=shape)


def _te_prefixes(part: str) -> tuple[tuple[str, ...], str]:
    """kohya prefixes and the PEFT prefix of a text-encoder part."""
    if part == "te2":
        return ("lora_te2",), "text_encoder_2"
    return ("lora_te", "lora_te1"), "text_encoder"


def _stems_for_text_path(part: str, hf_path: str) -> list[str]:
    kohya, peft = _te_prefixes(part)
    flat = hf_path.replace(".", "_")
    return [f"{prefix}_{flat}" for prefix in kohya] + [f"{peft}.{hf_path}", f"lycoris_{peft}_{flat}"]


def _stems_for_unet_path(diffusers_path: str | None, ldm_path: str | None) -> list[str]:
    stems = []
    for path in (diffusers_path, ldm_path):
        if path:
            flat = path.replace(".", "_")
            stems += [f"lora_unet_{flat}", f"oft_unet_{flat}", f"lycoris_{flat}"]
    if diffusers_path:
        stems += [f"unet.{diffusers_path}", diffusers_path, f"base_model.model.{diffusers_path}"]
    return stems


def _unet_slots(target: nn.Module, binding: Binding = TORCH) -> Iterator[tuple[list[str], Slot]]:
    names = dict(target.named_modules())
    is_ldm = any(".input_blocks." in f".{name}." or name.startswith("input_blocks") for name in names)

    def up_has_attention(level: int) -> bool:
        return f"up_blocks.{level}.attentions" in names

    for name, module in names.items():
        if not binding.patchable(module):
            continue
        path = name
        for prefix in _UNET_PREFIXES:
            if path.startswith(prefix):
                path = path[len(prefix) :]
        if is_ldm:
            stems = _stems_for_unet_path(ldm_to_diffusers(path), path)
        else:
            stems = _stems_for_unet_path(path, diffusers_to_ldm(path, up_has_attention))
        yield stems, bound_slot("unet", name, module, binding)


def hf_text_root(names: Iterable[str]) -> str | None:
    """The prefix under which a part holds an HF CLIP text transformer, from its own names.

    transformers 4 nests it as ``text_model.`` (A1111 wraps that in ``transformer.``);
    transformers 5's ``CLIPTextModel`` dropped the level (``encoder.layers.0…`` at the top), while
    ``CLIPTextModelWithProjection`` keeps it. ``None``: not an HF CLIP (open_clip, say).
    """
    for name in names:
        match = _HF_TEXT_PARTS.match(name)
        if match:
            return match["root"]
    return None


def _text_slots(part: str, target: nn.Module, binding: Binding = TORCH) -> Iterator[tuple[list[str], Slot]]:
    modules = dict(target.named_modules())
    root = hf_text_root(modules)
    if root is not None:
        yield from _hf_text_slots(part, modules, root, binding)
        return
    for name, module in modules.items():
        match = _OPEN_CLIP_LAYER.search(name)
        if match is None:
            if isinstance(module, nn.LayerNorm) and name.endswith("ln_final"):
                yield _stems_for_text_path(part, "text_model.final_layer_norm"), Slot(part, name, module)
            continue
        layer, rest = match[1], match[2]
        base = f"text_model.encoder.layers.{layer}"
        if isinstance(module, nn.MultiheadAttention) and rest == "attn":
            for projection in (*MHA_SLICES, "out_proj"):
                stems = _stems_for_text_path(part, f"{base}.self_attn.{projection}")
                yield stems, Slot(part, name, module, mha_slice=projection)
        elif binding.patchable(module) and rest in _OPEN_CLIP_PARTS:
            yield _stems_for_text_path(part, f"{base}.{_OPEN_CLIP_PARTS[rest]}"), Slot(part, name, module)


def _hf_text_slots(
    part: str, modules: Mapping[str, nn.Module], root: str, binding: Binding = TORCH
) -> Iterator[tuple[list[str], Slot]]:
    """Every patchable module under ``root`` as files name it (``text_model.…``, whatever the
    model's own nesting), and ``text_projection`` — a sibling of ``text_model`` in
    ``CLIPTextModelWithProjection`` (SDXL's second encoder; ComfyUI maps it too)."""
    projection_parent = root.removesuffix("text_model.") if root.endswith("text_model.") else root
    for name, module in modules.items():
        if not binding.patchable(module):
            continue
        slot = bound_slot(part, name, module, binding)
        if name == f"{projection_parent}text_projection":
            yield _stems_for_text_path(part, "text_projection"), slot
        elif name.startswith(root):
            yield _stems_for_text_path(part, "text_model." + name[len(root) :]), slot


class KeyMap:
    """``stem → Slot`` for the parts of one model."""

    def __init__(self, targets: Mapping[str, nn.Module], binding: Binding = TORCH) -> None:
        self.parts = dict(targets)
        self.binding = binding
        self.slots: dict[str, Slot] = {}
        for part, target in targets.items():
            slots = _unet_slots(target, binding) if part == "unet" else _text_slots(part, target, binding)
            for stems, slot in slots:
                for stem in stems:
                    self.slots.setdefault(stem, slot)

    def find(self, stem: str) -> Slot | None:
        return self.slots.get(stem)

    def model_family(self) -> str | None:
        """The family of the model itself (to refuse LoRAs made for another one)."""
        if "te2" in self.parts:
            return "sdxl"
        for stem in (
            "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k",
            "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k",
        ):
            slot = self.slots.get(stem)
            if slot is not None:
                width = slot.weight_shape[1]
                return {768: "sd1", 1024: "sd2", 2048: "sdxl"}.get(width)
        return None
