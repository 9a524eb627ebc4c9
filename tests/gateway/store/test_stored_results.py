"""Expired stored search results are dropped by the first passes stored after them, at most once a minute per
connection (issue 18: the two DELETEs ran with every first page of several pages)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

from gateway.clock import FixedClock
from gateway.store import tables as t
from gateway.store.ports import FirstPass
from gateway.store.sql import SqlResourceStore
from tests.support.engines import empty_engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with empty_engine(request, tmp_path) as engine:
        yield engine


def _keep(store: SqlResourceStore, search_id: str) -> None:
    with store.writing() as tx:
        tx.keep_result(FirstPass(search_id, "CarePlan", "sor:1:all", "status=active", ("a", "b", "c")))


def _stored(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(select(t.search_result.c.search_id)).scalars())


def _entries(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(t.search_result_entry)).scalar_one())


def test_expired_results_go_at_the_next_sweep_and_sweeps_are_a_minute_apart(engine: Engine) -> None:
    clock = FixedClock(datetime(2026, 6, 1, tzinfo=UTC))
    store = SqlResourceStore(engine, clock)
    deletes: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE") and "fhir_search_result" in statement:
            deletes.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    _keep(store, "first")
    assert len(deletes) == 2  # the first store of a connection sweeps
    clock.advance(timedelta(seconds=30))
    _keep(store, "second")
    assert len(deletes) == 2, "half a minute later: no sweep"
    clock.advance(timedelta(minutes=59, seconds=50))  # "first" expired (an hour), "second" not yet
    _keep(store, "third")
    assert len(deletes) == 4
    assert _stored(engine) == {"second", "third"}
    assert _entries(engine) == 6
    event.remove(engine, "before_cursor_execute", seen)
