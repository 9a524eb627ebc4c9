"""A set's size is counted once per write generation (`SqlResourceTransaction.size`), on SQLite and PostgreSQL.

What a search sizes chooses only its shape (`gateway.store.search_plan`); these tests check that a kept size is
used while nothing was written, counted again after any write, never taken from a transaction's own uncommitted
writes, and never kept for a set narrowed by the caller or the time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from gateway.clock import FixedClock
from gateway.store.dates import format_instant
from gateway.store.ports import Viewer
from gateway.store.search_filters import criterion_ids
from gateway.store.search_query import Criterion, SearchQuery
from gateway.store.sql import SqlResourceStore
from tests.support.engines import empty_engine

CLOCK = FixedClock(datetime(2026, 6, 1, tzinfo=UTC))
ACTIVE = Criterion("status", "token", "", ("active",))
AUTHOR = "11111111111"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with empty_engine(request, tmp_path) as engine:
        yield engine


def _plan(number: int, status: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "status": status,
        "intent": "plan",
        "subject": {"reference": f"Patient/p{number}"},
    }


def _write(store: SqlResourceStore, numbers: range) -> None:
    with store.writing() as tx:
        for number in numbers:
            tx.create(_plan(number), resource_id=f"plan-{number}", author=AUTHOR)


def _active_size(store: SqlResourceStore) -> int:
    ids = criterion_ids("CarePlan", ACTIVE)
    assert ids is not None and ids.memo_key is not None
    with store.reading() as tx:
        return tx.size(ids.ids, ids.memo_key)


class _Counts:
    """The capped counts (`search_plan.capped_size`: a count over a limited subquery) the engine runs."""

    def __init__(self, engine: Engine) -> None:
        self.statements: list[str] = []
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if re.match(r"SELECT count\(\*\) AS \w+\s+FROM \(SELECT", statement):
            self.statements.append(statement)


def test_a_size_is_counted_once_while_nothing_is_written(engine: Engine) -> None:
    store = SqlResourceStore(engine, CLOCK, drive_limit=4)
    _write(store, range(3))
    counts = _Counts(engine)
    assert _active_size(store) == 3
    assert _active_size(store) == 3
    assert len(counts.statements) == 1
    # a search reads it the same way: no count of the status set at all
    with store.reading() as tx:
        page = tx.search(SearchQuery("CarePlan", (ACTIVE,), count=10))
    assert len(page.matches) == 3
    assert len(counts.statements) == 1


def test_a_write_moves_the_generation_and_the_size_is_counted_again(engine: Engine) -> None:
    store = SqlResourceStore(engine, CLOCK, drive_limit=4)
    _write(store, range(3))
    assert _active_size(store) == 3
    _write(store, range(3, 5))
    assert _active_size(store) == 5  # capped at drive_limit + 1
    other = SqlResourceStore(engine, CLOCK, drive_limit=4)  # another instance on the same database writes
    with other.writing() as tx:
        tx.delete("CarePlan", "plan-0")
        tx.delete("CarePlan", "plan-1")
    assert _active_size(store) == 3


def test_a_transaction_that_wrote_counts_what_it_sees_and_keeps_nothing(engine: Engine) -> None:
    store = SqlResourceStore(engine, CLOCK, drive_limit=4)
    _write(store, range(2))
    assert _active_size(store) == 2
    ids = criterion_ids("CarePlan", ACTIVE)
    assert ids is not None
    with pytest.raises(RuntimeError), store.writing() as tx:
        tx.create(_plan(9), resource_id="plan-9", author=AUTHOR)
        assert tx.size(ids.ids, ids.memo_key) == 3  # its own write counted
        raise RuntimeError("rolled back")
    assert _active_size(store) == 2  # neither the rolled-back write nor its count kept


def test_sets_narrowed_by_the_caller_or_the_time_are_counted_every_time(engine: Engine) -> None:
    """A chain's set and the grants' part of the access rule depend on who asks and when: no memo key. What an
    organisation wrote depends on the store alone: kept."""
    viewer = Viewer(AUTHOR, format_instant(CLOCK.now()))
    chain = criterion_ids("CarePlan", Criterion("patient", "reference", "", ("x",), "Patient", chain=ACTIVE), viewer)
    assert chain is not None and chain.memo_key is None
    store = SqlResourceStore(engine, CLOCK, drive_limit=4)
    _write(store, range(6))
    counts = _Counts(engine)
    descending = SearchQuery("CarePlan", count=10, sort="-_lastUpdated")  # no criterion, not walked by access rows
    for _ in range(2):
        with store.reading() as tx:
            assert len(tx.search(descending, viewer).matches) == 6
    grants = [statement for statement in counts.statements if "plan_grant" in statement]
    own = [statement for statement in counts.statements if "plan_grant" not in statement]
    assert (len(grants), len(own)) == (2, 1)
