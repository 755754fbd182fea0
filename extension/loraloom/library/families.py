"""Which model a file targets, from key names and tensor shapes first and metadata second.

Metadata is often missing or wrong (merged, resized or converted files keep their old
``ss_*`` keys), so the keys decide and a disagreement is reported as a problem.

Evidence, strongest first:
- another architecture's block names (Flux ``double_blocks``, SD3 ``joint_blocks``, Cascade
  ``lora_prior_``) → unknown, with that name;
- a second text encoder, or blocks only SDXL has (attention in ``input_blocks.4`` with
  ``transformer_blocks.1+``, ``up_blocks.0.attentions``, no attention at the first level) → SDXL;
- cross-attention key/value input width: 768 SD1.x, 1024 SD2.x, 2048 SDXL; text-encoder width
  768 (CLIP-L) or 1024 (OpenCLIP-H, SD2.x);
- ``ss_base_model_version`` / ``modelspec.architecture`` / ``ss_v2`` when the keys are silent.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from .kinds import ModuleKeys, module_input_width, module_is_conv

FAMILIES = ("sd1", "sd2", "sdxl", "unknown")

_OTHER_ARCHITECTURES = [
    (re.compile(r"double_blocks|single_blocks|single_transformer_blocks|img_attn|txt_mlp"), "Flux"),
    (re.compile(r"joint_blocks|context_block|lora_transformer_transformer_blocks"), "SD3"),
    (re.compile(r"^lora_prior_|prior_unet"), "Stable Cascade"),
    (re.compile(r"lora_te3_|text_encoder_3"), "SD3"),
]
_CROSS_ATTENTION = re.compile(r"attn2[._]to_[kv]$")
_SDXL_ONLY_BLOCKS = re.compile(
    r"transformer_blocks[._][1-9]"  # SD1.x/SD2.x transformers have depth 1
    r"|up_blocks[._]0[._]attentions"
    r"|output_blocks[._][0-2][._]1[._](transformer|proj|norm)"
)
_SD1_SD2_ONLY_BLOCKS = re.compile(
    r"(input_blocks[._][12][._]1[._]|down_blocks[._]0[._]attentions|up_blocks[._]3[._]attentions"
    r"|output_blocks[._](9|10|11)[._]1[._])"
)
_SD1_OR_SD2 = "it names UNet blocks SDXL does not have (SD1.x and SD2.x share them; SD1.x assumed)"
_PROJECTION = re.compile(r"proj_(in|out)$")
_TE_LAYER = re.compile(r"(?:encoder[._]layers|resblocks)[._]([0-9]{1,4})[._]")


_TE2 = re.compile(r"lora_te2_|text_encoder_2\.")
_TE1 = re.compile(r"lora_te1?_|text_encoder\.")
_UNET = re.compile(r"lora_unet_|oft_unet_|lycoris_|unet\.|down_blocks|mid_block|up_blocks|conv_|time_embedding")


def module_part(stem: str) -> str | None:
    """``te1``, ``te2`` or ``unet`` for a module stem (kohya or diffusers naming).

    Cached: the same stems recur in every file of an architecture (only real-sized stems, so a
    hostile header's megabyte-long keys never stay in memory).
    """
    return _module_part(stem) if len(stem) <= CACHED_STEM else _find_part(stem)


CACHED_STEM = 256


@functools.lru_cache(maxsize=65536)
def _module_part(stem: str) -> str | None:
    return _find_part(stem)


def _find_part(stem: str) -> str | None:
    if _TE2.match(stem):
        return "te2"
    if _TE1.match(stem):
        return "te1"
    if _UNET.match(stem):
        return "unet"
    return None


@dataclass(frozen=True)
class FamilyVerdict:
    family: str
    reason: str
    problems: tuple[str, ...] = ()


def identify_family(
    modules: list[ModuleKeys],
    shapes: Mapping[str, tuple[int, ...]],
    metadata: Mapping[str, str],
) -> FamilyVerdict:
    stems = [m.stem for m in modules] or list(shapes)
    for pattern, name in _OTHER_ARCHITECTURES:
        if any(pattern.search(stem) for stem in stems):
            return FamilyVerdict("unknown", f"unknown — likely {name} (its block names are in the keys)")
    from_keys, reason = _family_from_keys(modules, shapes)
    from_metadata = family_from_metadata(metadata)
    if from_keys == "sd1" and reason == _SD1_OR_SD2 and from_metadata == "sd2":
        return FamilyVerdict("sd2", "from the file's metadata (the keys fit SD1.x and SD2.x alike)")
    if from_keys is None:
        if from_metadata is None:
            return FamilyVerdict("unknown", "unknown — neither the keys nor the metadata tell the model")
        return FamilyVerdict(from_metadata, "from the file's metadata (the keys do not tell)")
    problems = ()
    if from_metadata is not None and from_metadata != from_keys:
        problems = (f"metadata says {from_metadata} but the keys are {from_keys} ({reason}); trusting the keys",)
    return FamilyVerdict(from_keys, reason, problems)


def _family_from_keys(modules: list[ModuleKeys], shapes: Mapping[str, tuple[int, ...]]) -> tuple[str | None, str]:
    parts = Counter(module_part(m.stem) for m in modules)
    if parts["te2"]:
        return "sdxl", "it has a second text encoder"
    unet_stems = [m.stem for m in modules if module_part(m.stem) == "unet"]
    widths = Counter(
        width
        for m in modules
        if _CROSS_ATTENTION.search(m.stem) and (width := module_input_width(m, shapes)) is not None
    )
    if widths:
        width = widths.most_common(1)[0][0]
        family = {768: "sd1", 1024: "sd2", 2048: "sdxl"}.get(width)
        if family:
            return family, f"cross-attention inputs are {width} wide"
    if any(_SDXL_ONLY_BLOCKS.search(stem) for stem in unet_stems):
        return "sdxl", "it names UNet blocks only SDXL has"
    te_widths = Counter(
        width for m in modules if module_part(m.stem) == "te1" and (width := module_input_width(m, shapes)) is not None
    )
    te_layers = [int(match[1]) for m in modules if module_part(m.stem) == "te1" and (match := _TE_LAYER.search(m.stem))]
    if 1024 in te_widths or (te_layers and max(te_layers) >= 12):
        return "sd2", "its text encoder is OpenCLIP-H (1024 wide or more than 12 layers)"
    projections = {module_is_conv(m, shapes) for m in modules if _PROJECTION.search(m.stem)} - {None}
    if any(_SD1_SD2_ONLY_BLOCKS.search(stem) for stem in unet_stems):
        if projections == {False}:
            return "sd2", "its UNet has linear proj_in/proj_out at SD1.x/SD2.x block positions"
        return "sd1", _SD1_OR_SD2
    if projections == {True}:
        return "sd1", "its proj_in/proj_out are convolutions"
    if any(m.stem.startswith("lora_te1_") for m in modules):
        return "sdxl", "kohya names its text encoder te1, as for SDXL"
    if parts["te1"] and any(m.stem.startswith("lora_te_") for m in modules):
        return "sd1", "its only text encoder is CLIP-L"
    return None, ""


def family_from_metadata(metadata: Mapping[str, str]) -> str | None:
    version = metadata.get("ss_base_model_version", "").lower()
    architecture = metadata.get("modelspec.architecture", "").lower()
    if version.startswith("sdxl") or architecture.startswith("stable-diffusion-xl"):
        return "sdxl"
    if version.startswith("sd_v2") or architecture.startswith("stable-diffusion-v2") or metadata.get("ss_v2") == "True":
        return "sd2"
    if version.startswith("sd_v1") or architecture.startswith("stable-diffusion-v1"):
        return "sd1"
    if version or architecture:
        return None
    return "sd1" if metadata.get("ss_v2") == "False" else None
