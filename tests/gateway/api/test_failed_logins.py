"""Failed authentication through the API: limited per source address before anything is written, audited once
per source and minute with the count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from gateway.api import create_app
from gateway.clock import FixedClock, SequenceIds
from gateway.config import Settings
from gateway.store import tables as t

T0 = datetime(2026, 3, 1, 9, 0, 5, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:  # type: ignore[override]
    return FixedClock(T0)


@pytest.fixture
def app(tmp_path: Path, clock: FixedClock) -> FastAPI:
    return create_app(Settings(data_dir=tmp_path, auth_failures_per_minute=3), clock=clock, ids=SequenceIds())


def audit_rows(app: FastAPI) -> int:
    with app.state.engine.connect() as connection:
        return len(connection.execute(t.audit_event.select()).all())


async def test_a_source_over_its_limit_gets_429_and_nothing_is_written(
    client: httpx.AsyncClient, app: FastAPI, clock: FixedClock
) -> None:
    forged = {"Authorization": "Bearer not-a-token"}
    statuses = [(await client.get("/fhir/Patient", headers=forged)).status_code for _ in range(6)]
    assert statuses == [401, 401, 401, 429, 429, 429]
    refused = await client.get("/fhir/Patient", headers=forged)
    assert refused.json()["issue"][0]["details"]["coding"][0]["code"] == "auth.too-many-failures"
    assert int(refused.headers["retry-after"]) == 55, "until the minute is over"
    assert audit_rows(app) == 0, "no write for any of them"
    clock.advance(timedelta(minutes=1))
    assert (await client.get("/fhir/Patient", headers=forged)).status_code == 401, "a new minute"
    assert app.state.authorities.flush_failed_logins("http://gateway.test/") == 1
    assert audit_rows(app) == 1, "one AuditEvent for the source and the minute"
    with app.state.engine.connect() as connection:
        (content,) = connection.execute(t.audit_event.select()).one()[-1:]
    assert "3 failed authentication attempt(s)" in content, "the refused ones were not even verified"
