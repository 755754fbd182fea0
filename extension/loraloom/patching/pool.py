"""Reusable tensors for merged weights.

Writing into freshly allocated memory is dominated by page faults (for an SD1.5 UNet, writing
1 GB of new memory costs more than the merge's arithmetic), so merged weights go into buffers
that a host keeps per model and reuses from one generation to the next.
"""

from __future__ import annotations

import torch

Key = tuple[tuple[int, ...], torch.dtype, torch.device]


class BufferPool:
    def __init__(self) -> None:
        self._free: dict[Key, list[torch.Tensor]] = {}

    @staticmethod
    def _key(tensor: torch.Tensor) -> Key:
        return tuple(tensor.shape), tensor.dtype, tensor.device

    def take(self, like: torch.Tensor) -> torch.Tensor:
        """A tensor shaped like ``like`` (contents undefined)."""
        free = self._free.get(self._key(like))
        return free.pop() if free else torch.empty_like(like, memory_format=torch.contiguous_format)

    def give(self, tensor: torch.Tensor) -> None:
        self._free.setdefault(self._key(tensor), []).append(tensor)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for tensors in self._free.values() for t in tensors)

    def clear(self) -> None:
        self._free.clear()
