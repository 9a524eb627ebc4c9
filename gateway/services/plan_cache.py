"""The citizen's current plan, kept between discharges while nothing it was read from has changed.

Every ADT event and XDIS01 letter looks up the citizen's plan (`PlanService.current_plan_for`): the citizen's
active plans by CPR number, the one the caller may use (`plans.citizens_plan`) and everything it references,
mapped back to a plan document. Issue 18 measured it at 29 % of an A03's intake (24 SELECTs) for data that
changes far less often than stays do. What is kept, per (CPR number, who is looking), is the lookup's result with:
- the store's write generation read in the same read transaction (`gateway.store.generation`): any committed
  write of resources or plan access data, by any process on the database, makes it stale;
- for a caller judged by the access rule, the span of instants around the lookup's in which none of its
  organisation's grants starts or ends (`ResourceTransaction.grant_window`): what it may see is the same
  throughout, so a consent that ends (or starts) at midnight is honoured at midnight.
A kept result is used only when both still hold; checking costs one SELECT of one row. Viewers of other kinds (a
citizen signed in to the pages, a conditional write's own-only matches) are not kept. The result is shared
between callers, so it is never modified (`StoredPlan` is frozen; the mappings read it only).

What it buys is the events after the first of a stay (A01, A21/A22, A03, A13, the XDIS01 letter: one lookup of
five reads the store); the first event of a citizen pays the whole lookup (`bench/README.md` has both figures).
The demo plan kept takes about 80 KiB, so the default 512 citizens hold some 40 MB at most.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from gateway.lru import Lru
from gateway.store.dates import MAX_INSTANT, MIN_INSTANT
from gateway.store.ports import ResourceStore, ResourceTransaction, Viewer

#: (CPR number, the viewer's organisation or None for "everything")
Key = tuple[str, str | None]
K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Kept(Generic[T]):
    generation: int
    since: str
    until: str
    value: T


class KeptWhileCurrent(Generic[K, T]):
    """Values derived from the store, kept per key while the write generation and the grant window hold; up to
    `size` keys, least recently used dropped first; `size` 0 keeps none. Also the consent gate's decisions
    (`gateway.services.withdrawals`)."""

    def __init__(self, store: ResourceStore, size: int = 512) -> None:
        self.store = store
        self.size = size
        self._kept: Lru[K, _Kept[T]] = Lru(size)
        self._counting = threading.Lock()
        #: lookups answered from what was kept / read from the store (for tests and the benchmark)
        self.hits = 0
        self.misses = 0

    def kept(self, key: K | None, at: str, sor: str | None, lookup: Callable[[ResourceTransaction], T]) -> T:
        """`lookup`'s value for `key` at instant `at` (stored form); `sor`: the organisation whose grants the value
        depends on (kept only while none of them starts or ends), None if it depends on none. `key` None: never
        kept (read every time)."""
        with self.store.reading() as tx:
            if key is None or self.size == 0:
                return lookup(tx)
            generation = tx.generation()  # first, in the same read transaction as the lookup
            kept = self._kept.get(key)
            if kept is not None and kept.generation == generation and kept.since <= at < kept.until:
                with self._counting:
                    self.hits += 1
                return kept.value
            value = lookup(tx)
            since, until = tx.grant_window(sor, at) if sor else _ALWAYS
        self._kept.put(key, _Kept(generation, since, until, value))
        with self._counting:
            self.misses += 1
        return value


class PlanLookupCache(KeptWhileCurrent[Key, T]):
    """The citizen's plan lookup, kept per (CPR number, who is looking)."""

    def get(self, cpr: str, viewer: Viewer | None, lookup: Callable[[ResourceTransaction], T]) -> T:
        at = viewer.at if viewer is not None else MIN_INSTANT
        return self.kept(_key(cpr, viewer), at, viewer.sor if viewer is not None else None, lookup)


_ALWAYS = (MIN_INSTANT, MAX_INSTANT)


def _key(cpr: str, viewer: Viewer | None) -> Key | None:
    if viewer is None:
        return (cpr, None)
    if viewer.own_only or viewer.cpr is not None or viewer.sor is None:
        return None
    return (cpr, viewer.sor)
