"""The same store behaviour on SQLite (embedded default) and PostgreSQL (production), through the API.

PostgreSQL is the server on 127.0.0.1:5432; in CI it is required (see `postgres_url` in conftest).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from gateway.api import create_app
from gateway.clock import SequenceIds, SystemClock
from gateway.config import Settings
from gateway.store.database import upgrade
from gateway.store.tables import metadata
from tests.support.engines import empty_engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with empty_engine(request, tmp_path) as engine:  # each test starts empty
        yield engine


@pytest.fixture
async def db_client(engine: Engine, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        Settings(data_dir=tmp_path, insecure_no_auth=True), engine=engine, clock=SystemClock(), ids=SequenceIds()
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield client


def test_migrations_match_the_table_definitions(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_upgrade_is_idempotent(engine: Engine) -> None:
    upgrade(engine)
    upgrade(engine)


async def test_full_interaction_set(db_client: httpx.AsyncClient) -> None:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:11111111-1111-4111-8111-111111111111",
                "resource": {
                    "resourceType": "Patient",
                    "name": [{"family": "Ærøskøbing"}],
                    "identifier": [{"system": "urn:oid:1.2.208.176.1.2", "value": "0101709998"}],
                },
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {
                    "resourceType": "CarePlan",
                    "status": "active",
                    "intent": "plan",
                    "period": {"start": "2026-01-01", "end": "2026-03-31"},
                    "subject": {"reference": "urn:uuid:11111111-1111-4111-8111-111111111111"},
                },
                "request": {"method": "POST", "url": "CarePlan"},
            },
        ],
    }
    reply = (await db_client.post("/fhir", json=bundle)).json()
    patient_id = reply["entry"][0]["resource"]["id"]
    plan = reply["entry"][1]["resource"]
    assert plan["subject"]["reference"] == f"Patient/{patient_id}"
    search = (await db_client.get(f"/fhir/CarePlan?patient={patient_id}&date=ge2026-02")).json()
    assert search["total"] == 1
    names = (await db_client.get("/fhir/Patient?name=aeroskobing")).json()
    assert names["total"] == 0  # æ and ø are letters, not accented a/o
    assert (await db_client.get("/fhir/Patient?name=ærø")).json()["total"] == 1
    await db_client.put(f"/fhir/CarePlan/{plan['id']}", json={**plan, "status": "completed"})
    await db_client.delete(f"/fhir/CarePlan/{plan['id']}")
    assert (await db_client.get(f"/fhir/CarePlan/{plan['id']}")).status_code == 410
    history = (await db_client.get(f"/fhir/CarePlan/{plan['id']}/_history")).json()
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "PUT", "POST"]


async def test_concurrent_updates_with_the_same_if_match_let_exactly_one_win(
    db_client: httpx.AsyncClient,
) -> None:
    created = (await db_client.post("/fhir/Patient", json={"resourceType": "Patient"})).json()

    async def update(n: int) -> int:
        response = await db_client.put(
            f"/fhir/Patient/{created['id']}",
            json={**created, "gender": "other" if n % 2 else "unknown"},
            headers={"If-Match": 'W/"1"'},
        )
        return response.status_code

    statuses = await asyncio.gather(*(update(n) for n in range(8)))
    assert sorted(statuses) == [200] + [412] * 7
    history = (await db_client.get(f"/fhir/Patient/{created['id']}/_history")).json()
    assert history["total"] == 2
