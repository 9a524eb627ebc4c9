"""Keeps what a started process holds for its lifetime out of the cyclic garbage collector's full passes.

A started `gateway serve` tracks about 240,000 objects (the app's routes and models, SQLAlchemy's tables, the
validator's compiled profiles), nearly all of them alive until it stops. CPython's full collection (generation 2)
walks every one of them: measured at 100-140 ms a pass under the read load of `bench/http_load.py`, five passes in
20 s, and every request in flight waits for it. `gc.freeze()` moves the objects alive now into a permanent
generation that collections skip (https://docs.python.org/3/library/gc.html#gc.freeze); garbage made later is
collected as before.
"""

from __future__ import annotations

import gc

from gateway.validation import default_validator, warm_for_messages


def settle() -> int:
    """Collects what start-up left behind, then freezes the rest; returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def settle_gateway() -> int:
    """`settle` for `gateway serve`, which validates every notice it builds and every message it is sent: the
    check plans of the MedCom messages compiled first (`gateway.validation.warmup`), so that they are frozen with
    the rest and the first notice does not wait for them."""
    warm_for_messages(default_validator())
    return settle()
