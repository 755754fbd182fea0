"""A bounded LRU cache of loaded networks, keyed by path and invalidated by size/mtime.

Bounded by count and by bytes (the file size plus its converted tensors), so a host keeps
recently used LoRAs without letting memory grow with every one ever used.
"""

from __future__ import annotations

import os
from collections import OrderedDict

from ..networks.network import Network, load_network


class NetworkCache:
    def __init__(self, max_count: int = 8, max_bytes: int = 2 * 1024**3, *, allow_pickle: bool = False) -> None:
        self.max_count = max_count
        self.max_bytes = max_bytes
        self.allow_pickle = allow_pickle
        self._entries: OrderedDict[str, tuple[tuple[int, int], Network]] = OrderedDict()

    def get(self, path: str) -> Network:
        """The network for ``path``, loading it (and evicting old ones) when needed."""
        stat = os.stat(path)
        stamp = (stat.st_size, stat.st_mtime_ns)
        entry = self._entries.get(path)
        if entry is not None and entry[0] == stamp:
            self._entries.move_to_end(path)
            return entry[1]
        network = load_network(path, allow_pickle=self.allow_pickle)
        self._entries[path] = (stamp, network)
        self._entries.move_to_end(path)
        self.trim(keep=path)
        return network

    def nbytes(self) -> int:
        return sum(stamp[0] + network.converted_bytes for stamp, network in self._entries.values())

    def trim(self, keep: str | None = None) -> None:
        """Evict least recently used networks until both bounds hold (never ``keep``)."""
        while self._entries and (len(self._entries) > self.max_count or self.nbytes() > self.max_bytes):
            oldest = next(iter(self._entries))
            if oldest == keep:
                if len(self._entries) == 1:
                    return
                self._entries.move_to_end(oldest)
                oldest = next(iter(self._entries))
            _, network = self._entries.pop(oldest)
            network.drop_converted()

    def clear(self) -> None:
        for _, network in self._entries.values():
            network.drop_converted()
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, path: str) -> bool:
        return path in self._entries
