"""Failed authentications per source address: counted without a write, limited per minute, audited once a minute
with the count (in this process, or in Redis shared by every instance)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from gateway.clock import FixedClock
from gateway.security.failed_logins import FailedLogins, MemoryFailedLogins, RedisFailedLogins, flush
from gateway.store.database import make_engine, upgrade
from gateway.store.search_query import SearchQuery
from gateway.store.sql import SqlResourceStore

T0 = datetime(2026, 3, 1, 9, 0, 10, tzinfo=UTC)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def counts(request: pytest.FixtureRequest) -> Iterator[FailedLogins]:
    if request.param == "memory":
        yield MemoryFailedLogins(limit=3)
        return
    client = redis.Redis.from_url(request.getfixturevalue("redis_server"))
    yield RedisFailedLogins(client, limit=3, prefix=request.getfixturevalue("redis_prefix"))
    client.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlResourceStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    upgrade(engine)
    yield SqlResourceStore(engine, FixedClock(T0))
    engine.dispose()


def audited(store: SqlResourceStore) -> list[dict[str, object]]:
    with store.reading() as tx:
        return [m.resource for m in tx.search(SearchQuery("AuditEvent", count=100)).matches if m.resource]


def test_a_source_is_blocked_for_the_rest_of_the_minute_after_its_limit(counts: FailedLogins) -> None:
    for _ in range(3):
        assert counts.blocked("10.0.0.7", T0) is None
        counts.record("10.0.0.7", T0)
    assert counts.blocked("10.0.0.7", T0) == pytest.approx(50.0), "until the minute ends"
    assert counts.blocked("10.0.0.8", T0) is None, "another source is not blocked"
    assert counts.blocked("10.0.0.7", T0 + timedelta(minutes=1)) is None, "a new minute, a new count"


def test_one_audit_event_per_source_and_minute_with_the_count(counts: FailedLogins, store: SqlResourceStore) -> None:
    for _ in range(5):
        counts.record("10.0.0.7", T0)
    counts.record("10.0.0.8", T0)
    counts.record("10.0.0.7", T0 + timedelta(minutes=1))
    assert audited(store) == [], "counting writes nothing"
    assert flush(counts, store, T0, "http://gateway.test/") == 0, "the minute is not over"
    assert flush(counts, store, T0 + timedelta(minutes=1), "http://gateway.test/") == 2
    events = audited(store)
    assert sorted(e["outcomeDesc"] for e in events) == [  # type: ignore[type-var]
        "1 failed authentication attempt(s) from 10.0.0.8 in the minute from 2026-03-01T09:00Z",
        "5 failed authentication attempt(s) from 10.0.0.7 in the minute from 2026-03-01T09:00Z",
    ]
    event = events[0]
    login = {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110122", "display": "Login"}
    assert event["subtype"] == [login]
    assert event["outcome"] == "4"
    assert flush(counts, store, T0 + timedelta(minutes=1), "x") == 0
    assert flush(counts, store, T0 + timedelta(minutes=1), "x", everything=True) == 1, "at shutdown: this minute too"
    assert len(audited(store)) == 3


def test_a_count_flushed_twice_is_audited_once(store: SqlResourceStore) -> None:
    counts = MemoryFailedLogins(limit=3)
    counts.record("10.0.0.7", T0)
    remembered = counts.closed("9999")
    flush(counts, store, T0 + timedelta(minutes=1), "x")
    for minute, source, _count in remembered:  # another instance read the same count before it was forgotten
        counts.record(source, datetime.fromisoformat(f"{minute}:30+00:00"))
    flush(counts, store, T0 + timedelta(minutes=1), "x")
    assert len(audited(store)) == 1
