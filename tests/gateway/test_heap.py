"""`heap.settle`: start-up's objects leave the collector's passes; garbage made afterwards is still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from gateway import heap


@pytest.fixture
def settled() -> Iterator[int]:
    try:
        yield heap.settle()
    finally:
        gc.unfreeze()  # the rest of the suite runs with the collector as it was


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_settle_freezes_what_is_alive(settled: int) -> None:
    assert settled > 1000  # the interpreter and the imported modules at least
    assert gc.get_freeze_count() > 1000


def test_cycles_made_after_settling_are_still_collected(settled: int) -> None:
    node = _Node()
    gone = weakref.ref(node)
    del node
    gc.collect()
    assert gone() is None
