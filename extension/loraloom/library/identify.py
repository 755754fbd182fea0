"""Describe a LoRA file from its key/shape table: format, family, kinds, rank, parts, size.

Works on any source of keys and shapes (a safetensors header, or a weights-only pickle), so
identification never needs the tensors themselves, only a few scalars (``alpha``).
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .families import identify_family, module_part
from .kinds import group_modules, key_naming, module_rank
from .training import slim_metadata
from .unet_blocks import block_id, block_sort_key
from .untrusted import UntrustedJSON, finite_number, loads

DTYPE_NAMES = {
    "F16": "float16",
    "BF16": "bfloat16",
    "F32": "float32",
    "F64": "float64",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
}
BUNDLED_EMBEDDING_PREFIX = "bundle_emb."


@dataclass(frozen=True)
class FileSummary:
    """What a file's header says, computed once per (path, size, mtime) and cached."""

    format: str | None
    family: str
    family_reason: str
    kinds: dict[str, int]
    rank: int | None
    alpha: float | None
    modules: int
    parts: list[str]
    blocks: list[str]
    dtype: str | None
    params: int
    metadata: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FileSummary:
        return cls(**data)

    @classmethod
    def broken(cls, problem: str) -> FileSummary:
        return cls(None, "unknown", "", {}, None, None, 0, [], [], None, 0, {}, [problem])


def summarize(
    shapes: Mapping[str, tuple[int, ...]],
    dtypes: Mapping[str, str],
    metadata: Mapping[str, str],
    read_scalars: Callable[[list[str]], dict[str, float]],
) -> FileSummary:
    problems: list[str] = []
    if not shapes:
        return FileSummary.broken("the file holds no tensors")
    lora_shapes = {k: v for k, v in shapes.items() if not k.startswith(BUNDLED_EMBEDDING_PREFIX)}
    modules, stray = group_modules(lora_shapes)
    if stray:
        problems.append(
            f"{len(stray)} keys match no known LoRA kind (e.g. '{stray[0]}'); they will be reported unmatched"
        )
    if not modules:
        problems.append("no LoRA modules found: this is not a LoRA/LyCORIS file")
    verdict = identify_family(modules, lora_shapes, metadata)
    problems.extend(verdict.problems)
    if verdict.family == "unknown":
        problems.append(f"model family {verdict.reason}")
    rank, alpha = _rank_and_alpha(modules, lora_shapes, metadata, read_scalars)
    if alpha is not None and not math.isfinite(alpha):
        problems.append(f"its alpha is {alpha}, not a finite number: the file cannot be applied")
        alpha = None
    parts = sorted({p for m in modules if (p := module_part(m.stem))})
    blocks = sorted({b for m in modules if (b := block_id(m.stem))}, key=block_sort_key)
    weight_dtypes = Counter()
    for key, dtype in dtypes.items():
        weight_dtypes[dtype] += math.prod(shapes[key])
    dtype = weight_dtypes.most_common(1)[0][0] if weight_dtypes else None
    return FileSummary(
        format=key_naming(list(lora_shapes)) if lora_shapes else None,
        family=verdict.family,
        family_reason=verdict.reason,
        kinds=dict(Counter(m.kind for m in modules if m.kind)),
        rank=rank,
        alpha=alpha,
        modules=len(modules),
        parts=parts,
        blocks=blocks,
        dtype=DTYPE_NAMES.get(dtype, dtype.lower()) if dtype else None,
        params=sum(math.prod(shape) for shape in shapes.values()),
        metadata=slim_metadata(metadata),
        problems=problems,
    )


def _rank_and_alpha(modules, shapes, metadata, read_scalars) -> tuple[int | None, float | None]:  # type: ignore[no-untyped-def]
    ranked = [(rank, m) for m in modules if (rank := module_rank(m, shapes)) is not None]
    if not ranked:
        return None, None
    rank, module = max(ranked, key=lambda item: item[0])
    alpha_key = module.keys.get("alpha")
    if alpha_key is not None:
        return rank, read_scalars([alpha_key]).get(alpha_key)
    return rank, peft_alpha(metadata)


def peft_alpha(metadata: Mapping[str, str]) -> float | None:
    """``lora_alpha`` from diffusers' ``lora_adapter_metadata`` header entry, when present.

    diffusers has written it flat, prefixed (``unet.lora_alpha``) and nested per component;
    the first ``lora_alpha`` found is taken.
    """
    raw = metadata.get("lora_adapter_metadata")
    if not raw:
        return None
    try:
        config = loads(raw)
    except UntrustedJSON:
        return None
    pending = deque([config])
    while pending:
        item = pending.popleft()
        if not isinstance(item, dict):
            continue
        for key, value in item.items():
            if key.split(".")[-1] == "lora_alpha" and (alpha := finite_number(value)) is not None:
                return alpha
            pending.append(value)
    return None
