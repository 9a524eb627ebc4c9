"""A bounded, thread-safe map that drops the least recently used entry first: the one LRU of the gateway's kept
values (verified tokens, the plan lookups and consent decisions, the inbound summaries the consent gate reads).
Routes and the delivery worker run on several threads, so every operation holds the lock."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Lru(Generic[K, V]):
    """Up to `size` entries; `size` 0 keeps none (`put` is then a no-op)."""

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError("an LRU cannot hold fewer than no entries")
        self.size = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The entry of `key` (now the most recently used), or None."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def forget(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)
