"""Reusable tensors for merged weights.

Writing into freshly allocated memory is dominated by page faults (for an SD1.5 UNet, writing
1 GB of new memory costs more than the merge's arithmetic), so merged weights go into buffers
that a host keeps per model and reuses from one generation to the next. A pool may be shared by
threads (its own lock); a buffer is in it only while no merge uses it.
"""

from __future__ import annotations

import threading

import torch

Key = tuple[tuple[int, ...], torch.dtype, torch.device]


class BufferPool:
    def __init__(self) -> None:
        self._free: dict[Key, list[torch.Tensor]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(tensor: torch.Tensor, dtype: torch.dtype | None = None) -> Key:
        return tuple(tensor.shape), dtype or tensor.dtype, tensor.device

    def take(self, like: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """A tensor shaped like ``like``, of ``dtype`` if given (contents undefined)."""
        dtype = dtype or like.dtype
        with self._lock:
            free = self._free.get(self._key(like, dtype))
            if free:
                return free.pop()
        return torch.empty(like.shape, dtype=dtype, device=like.device)

    def give(self, tensor: torch.Tensor) -> None:
        with self._lock:
            self._free.setdefault(self._key(tensor), []).append(tensor)

    def nbytes(self) -> int:
        with self._lock:
            return sum(t.numel() * t.element_size() for tensors in self._free.values() for t in tensors)

    def clear(self) -> None:
        with self._lock:
            self._free.clear()
