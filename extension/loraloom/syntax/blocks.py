"""Block-weight (``lbw=``) layouts and presets, compatible with the lora-block-weight extension.

Values are multipliers per UNet block in that extension's order (BASE is the text encoder).
Presets are defined once for SD1.x's 17 blocks; SDXL's 12-block form is derived by block id,
so a preset means the same groups of blocks on both families.
"""

from __future__ import annotations

from collections.abc import Mapping

SD1_BLOCKS: tuple[str, ...] = (
    "BASE",
    "IN01",
    "IN02",
    "IN04",
    "IN05",
    "IN07",
    "IN08",
    "M00",
    "OUT03",
    "OUT04",
    "OUT05",
    "OUT06",
    "OUT07",
    "OUT08",
    "OUT09",
    "OUT10",
    "OUT11",
)
SDXL_BLOCKS: tuple[str, ...] = (
    "BASE",
    "IN04",
    "IN05",
    "IN07",
    "IN08",
    "M00",
    "OUT00",
    "OUT01",
    "OUT02",
    "OUT03",
    "OUT04",
    "OUT05",
)
BLOCK_COUNTS = {len(SD1_BLOCKS): "SD1.x", len(SDXL_BLOCKS): "SDXL"}


def _sd1(groups: str) -> tuple[float, ...]:
    """A preset from a compact row: BASE | IN shallow | IN deep | MID | OUT deep | OUT shallow."""
    base, in_shallow, in_deep, mid, out_deep, out_shallow = (float(g) for g in groups.split())
    return (base,) + (in_shallow,) * 3 + (in_deep,) * 3 + (mid,) + (out_deep,) * 4 + (out_shallow,) * 5


BUILTIN_PRESETS: dict[str, tuple[float, ...]] = {
    "NONE": _sd1("0 0 0 0 0 0"),
    "ALL": _sd1("1 1 1 1 1 1"),
    "INS": _sd1("1 1 0 0 0 0"),
    "IND": _sd1("1 0 1 0 0 0"),
    "INALL": _sd1("1 1 1 0 0 0"),
    "MIDD": _sd1("1 0 1 1 1 0"),
    "OUTD": _sd1("1 0 0 0 1 0"),
    "OUTS": _sd1("1 0 0 0 0 1"),
    "OUTALL": _sd1("1 0 0 0 1 1"),
    "ALL0.5": _sd1("0.5 0.5 0.5 0.5 0.5 0.5"),
}
"""The presets lora-block-weight ships, by the same names and with the same SD1.x values."""

# The SD1.x block at the same depth of the UNet for each SDXL block: input blocks keep their
# index; SDXL's output blocks 0-5 sit where SD1.x's output blocks 3-8 sit (the first attention
# level after the middle), because SDXL has no attention at its shallowest level.
_SDXL_FROM_SD1 = {
    "BASE": "BASE",
    "IN04": "IN04",
    "IN05": "IN05",
    "IN07": "IN07",
    "IN08": "IN08",
    "M00": "M00",
    "OUT00": "OUT03",
    "OUT01": "OUT04",
    "OUT02": "OUT05",
    "OUT03": "OUT06",
    "OUT04": "OUT07",
    "OUT05": "OUT08",
}


def find_preset(name: str, user_presets: Mapping[str, tuple[float, ...]] | None = None) -> str | None:
    """The canonical name of a preset (user presets first, then built-in; exact, then any case)."""
    catalogues = [user_presets or {}, BUILTIN_PRESETS]
    for catalogue in catalogues:
        if name in catalogue:
            return name
    folded = name.casefold()
    for catalogue in catalogues:
        for known in catalogue:
            if known.casefold() == folded:
                return known
    return None


def preset_names(user_presets: Mapping[str, tuple[float, ...]] | None = None) -> list[str]:
    return list(user_presets or {}) + [n for n in BUILTIN_PRESETS if n not in (user_presets or {})]


def block_values(
    lbw: str | tuple[float, ...],
    blocks: int,
    user_presets: Mapping[str, tuple[float, ...]] | None = None,
) -> tuple[float, ...] | None:
    """Per-block multipliers for a model with ``blocks`` blocks (17 SD1.x, 12 SDXL).

    Returns ``None`` when a list has another length or a preset is unknown: the caller reports it.
    """
    if isinstance(lbw, tuple):
        return lbw if len(lbw) == blocks else None
    name = find_preset(lbw, user_presets)
    if name is None:
        return None
    values = (user_presets or {}).get(name) or BUILTIN_PRESETS[name]
    if len(values) == blocks:
        return tuple(values)
    if len(values) == len(SD1_BLOCKS) and blocks == len(SDXL_BLOCKS):
        by_id = dict(zip(SD1_BLOCKS, values, strict=True))
        return tuple(by_id[_SDXL_FROM_SD1[block]] for block in SDXL_BLOCKS)
    return None
