"""An authenticated read writes its AuditEvent (and a search its stored first pass), on SQLite and PostgreSQL.

On SQLite a write transaction takes the database's one write lock, so a read runs in a read transaction and what it
writes follows in a short write transaction (`FhirService._read_audited`). On PostgreSQL writers lock rows only, so
the read and its writes share one transaction: one pooled connection and one commit per read (issue 18). Either
way the same rows are written, a refused read's AuditEvent included, and nothing of a read that failed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func, select

from gateway.api import create_app
from gateway.clock import SequenceIds
from gateway.config import Settings
from gateway.store import tables as t
from tests.support import cast, scenario
from tests.support.engines import empty_engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with empty_engine(request, tmp_path) as engine:
        yield engine


@pytest.fixture
def app(engine: Engine, tmp_path: Path, clock: Any) -> FastAPI:
    cast.write_clients(tmp_path / "clients.yaml")  # the region writes, Slagelse is named, X never is
    scenario.write_directory(tmp_path / "directory.yaml", "http://127.0.0.1:9/gp", "http://127.0.0.1:9/kommune")
    return create_app(Settings(data_dir=tmp_path), engine=engine, clock=clock, ids=SequenceIds())


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield client


def _bearer(app: FastAPI, clock: Any, name: str) -> dict[str, str]:
    return cast.bearer(app.state.settings, name, clock.now())


class _Transactions:
    """Which of the store's transactions a request opens, in order."""

    def __init__(self, app: FastAPI) -> None:
        self.store = app.state.fhir.store
        self.opened: list[str] = []

    def __enter__(self) -> list[str]:
        reading, writing = self.store.reading, self.store.writing

        def read() -> Any:
            self.opened.append("read")
            return reading()

        def write() -> Any:
            self.opened.append("write")
            return writing()

        self.store.reading, self.store.writing = read, write
        return self.opened

    def __exit__(self, *_exc: object) -> None:
        del self.store.reading, self.store.writing


def _rows(engine: Engine, table: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


async def test_a_read_and_a_refused_read_each_write_one_audit_row(
    app: FastAPI, client: httpx.AsyncClient, engine: Engine, clock: Any
) -> None:
    posted = await client.post("/plans", json=cast.plan_document(), headers=_bearer(app, clock, "region"))
    assert posted.status_code == 201, posted.text
    plan_id = posted.json()["planId"]
    expected = ["read", "write"] if engine.dialect.name == "sqlite" else ["write"]
    versions = _rows(engine, t.resource_version)
    for name, status in (("slagelse", 200), ("x", 404)):
        before = _rows(engine, t.audit_event)
        with _Transactions(app) as opened:
            response = await client.get(f"/fhir/CarePlan/{plan_id}", headers=_bearer(app, clock, name))
        assert response.status_code == status, (name, response.text)
        assert opened == expected, name
        assert _rows(engine, t.audit_event) == before + 1, name
    assert _rows(engine, t.resource_version) == versions  # an AuditEvent is a row of its own, not a resource


async def test_a_search_of_several_pages_stores_its_first_pass_with_its_audit(
    app: FastAPI, client: httpx.AsyncClient, engine: Engine, clock: Any
) -> None:
    posted = await client.post("/plans", json=cast.plan_document(), headers=_bearer(app, clock, "region"))
    assert posted.status_code == 201, posted.text
    slagelse = _bearer(app, clock, "slagelse")
    results, events = _rows(engine, t.search_result), _rows(engine, t.audit_event)
    first = await client.get("/fhir/Goal?_count=1", headers=slagelse)
    assert first.status_code == 200, first.text
    assert len(first.json()["entry"]) == 1
    assert (_rows(engine, t.search_result), _rows(engine, t.audit_event)) == (results + 1, events + 1)
    following = next(link["url"] for link in first.json()["link"] if link["relation"] == "next")
    second = await client.get(following.removeprefix("http://gateway.test"), headers=slagelse)
    assert second.status_code == 200, second.text
    assert second.json()["entry"][0]["resource"]["id"] != first.json()["entry"][0]["resource"]["id"]
    # an organisation the citizen did not name reads nothing through the stored result either
    x_answer = await client.get(following.removeprefix("http://gateway.test"), headers=_bearer(app, clock, "x"))
    assert x_answer.status_code in (404, 410), x_answer.text


async def test_a_read_that_fails_leaves_no_audit_row(
    app: FastAPI, client: httpx.AsyncClient, engine: Engine, clock: Any
) -> None:
    before = _rows(engine, t.audit_event)
    response = await client.get("/fhir/CarePlan/not%20an%20id", headers=_bearer(app, clock, "slagelse"))
    assert response.status_code == 400, response.text
    assert _rows(engine, t.audit_event) == before
