"""``Network``: one LoRA file as the patcher consumes it.

Per target module (stem) its kind and the keys of its tensors; tensors are read lazily
(memory-mapped from safetensors, or from a weights-only pickle) and converted to the compute
dtype/device on demand, each conversion cached once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..library.families import module_part
from ..library.kinds import ModuleKeys, group_modules
from ..library.problems import FileProblem
from ..library.reading import PICKLE_REFUSED, load_pickle_weights
from ..library.safetensors_header import read_header
from ..library.unet_blocks import block_id

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class NetworkModule:
    """One target module of a file: its stem, kind, tensor keys, part and UNet block."""

    stem: str
    kind: str
    keys: Mapping[str, str]
    part: str | None
    block: str | None
    dora: bool = False


@dataclass
class Network:
    path: str
    modules: dict[str, NetworkModule]
    metadata: dict[str, str]
    unmatched_keys: list[str]
    """Keys that belong to no known kind: reported by the patcher, never silently dropped."""
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    _source: Any = field(repr=False, default=None)
    _converted: dict[tuple[str, Any, Any], torch.Tensor] = field(repr=False, default_factory=dict)

    @property
    def name(self) -> str:
        return os.path.splitext(os.path.basename(self.path))[0]

    def tensor(
        self, key: str, dtype: torch.dtype | None = None, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """The tensor for ``key``, as ``dtype`` on ``device`` (converted once, then cached)."""
        cache_key = (key, dtype, str(device) if device is not None else None)
        if cache_key not in self._converted:
            tensor = self._source.get_tensor(key) if hasattr(self._source, "get_tensor") else self._source[key]
            self._converted[cache_key] = tensor.to(device=device, dtype=dtype) if (dtype or device) else tensor
        return self._converted[cache_key]

    def family(self) -> str:
        """``sd1``/``sd2``/``sdxl``/``unknown`` from keys and shapes (metadata second)."""
        from ..library.families import identify_family
        from ..library.kinds import ModuleKeys

        modules = [ModuleKeys(m.stem, m.kind, dict(m.keys), m.dora) for m in self.modules.values()]
        return identify_family(modules, self.shapes, self.metadata).family

    @property
    def converted_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self._converted.values())

    def drop_converted(self) -> None:
        """Free converted copies (the file stays mapped)."""
        self._converted.clear()


def load_network(path: str, *, allow_pickle: bool = False) -> Network:
    """Open a LoRA file lazily; raises :class:`FileProblem` for a file that cannot be used."""
    if path.lower().endswith((".pt", ".ckpt", ".bin")):
        if not allow_pickle:
            raise FileProblem(path, PICKLE_REFUSED)
        tensors = load_pickle_weights(path)
        shapes = {key: tuple(t.shape) for key, t in tensors.items()}
        source: Any = tensors
        metadata: dict[str, str] = {}
    else:
        from safetensors import safe_open

        header = read_header(path)
        shapes = {key: info.shape for key, info in header.tensors.items()}
        metadata = dict(header.metadata)
        source = safe_open(path, framework="pt", device="cpu")
    modules, stray = group_modules(shapes)
    return Network(
        path=path,
        modules={m.stem: _network_module(m) for m in modules},
        metadata=metadata,
        unmatched_keys=stray,
        shapes=shapes,
        _source=source,
    )


def _network_module(module: ModuleKeys) -> NetworkModule:
    return NetworkModule(
        stem=module.stem,
        kind=module.kind or "",
        keys=dict(module.keys),
        part=module_part(module.stem),
        block=block_id(module.stem),
        dora=module.dora,
    )
