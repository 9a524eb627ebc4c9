"""8 identical conditional creates (If-None-Exist) from 8 separate processes at the same moment: exactly one
resource, one 201 and seven 200s naming it (issue 14; HAPI FHIR issue 3141 is the race this closes). PostgreSQL
serialises them with a transaction-scoped advisory lock per criteria key; SQLite with its write lock."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.store import tables as t
from gateway.store.database import make_engine, upgrade
from tests.support.racing import race

PROCESSES = 8


def assert_one_patient(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            count = connection.execute(
                select(func.count()).select_from(t.resource).where(t.resource.c.resource_type == "Patient")
            ).scalar_one()
    finally:
        engine.dispose()
    assert count == 1


def check(said: list[tuple[int, str | None]]) -> None:
    statuses = sorted(status for status, _id in said)
    assert statuses == [200] * (PROCESSES - 1) + [201], said
    assert len({resource_id for _status, resource_id in said}) == 1, said


@pytest.mark.postgres
def test_concurrent_conditional_creates_on_postgresql_make_one_resource(fresh_postgres_url: str) -> None:
    engine = make_engine(fresh_postgres_url)
    upgrade(engine)
    engine.dispose()
    check(race(fresh_postgres_url, PROCESSES))
    assert_one_patient(fresh_postgres_url)


def test_concurrent_conditional_creates_on_sqlite_make_one_resource(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    check(race(url, PROCESSES))
    assert_one_patient(url)
