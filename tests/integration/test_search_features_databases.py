"""`_sort`, chains, `_has` and `_include:iterate` give the same answers on SQLite and PostgreSQL (their SQL: scalar
subqueries in ORDER BY and in a window's ORDER BY, nested IN subqueries over an alias of the resource table), on the
empty migrated database of `outbox_engine` (tests/integration/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from gateway.api import create_app
from gateway.clock import SequenceIds, SystemClock
from gateway.config import Settings


@pytest.fixture
async def client(outbox_engine: Engine, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(data_dir=tmp_path, insecure_no_auth=True, enforce_referential_integrity=False)
    app = create_app(settings, engine=outbox_engine, clock=SystemClock(), ids=SequenceIds())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        yield http


async def post(client: httpx.AsyncClient, resource: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"/fhir/{resource['resourceType']}", json=resource)
    assert response.status_code == 201, response.text
    return response.json()


async def walk(client: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        response = await client.get(next_url)
        assert response.status_code == 200, response.text
        bundle = response.json()
        entries += bundle.get("entry", [])
        next_url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    return entries


async def test_sorted_chained_and_reverse_chained_searches(client: httpx.AsyncClient) -> None:
    patients = []
    for family, born in [
        ("Østergård", "1947-09-25"),
        ("Andersen", "1990-01-01"),
        ("Berg", "1947-09-25"),
        (None, "1980"),
    ]:
        patient: dict[str, Any] = {"resourceType": "Patient", "birthDate": born}
        if family:
            patient["name"] = [{"family": family}]
            patient["identifier"] = [{"system": "urn:cpr", "value": family}]
        patients.append(await post(client, patient))
    sorted_ids = [e["resource"]["id"] for e in await walk(client, "/fhir/Patient?_sort=birthdate,-family&_count=1")]
    assert sorted_ids == [patients[i]["id"] for i in (0, 2, 3, 1)]
    team = await post(
        client,
        {
            "resourceType": "CareTeam",
            "status": "active",
            "subject": {"reference": f"Patient/{patients[1]['id']}"},
            "participant": [{"member": {"reference": f"Patient/{patients[2]['id']}"}}],
        },
    )
    plan = await post(
        client,
        {
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "plan",
            "subject": {"reference": f"Patient/{patients[1]['id']}"},
            "careTeam": [{"reference": f"CareTeam/{team['id']}"}],
        },
    )
    chained = await walk(client, "/fhir/CarePlan?patient.identifier=urn:cpr|Andersen")
    assert [e["resource"]["id"] for e in chained] == [plan["id"]]
    has = await walk(client, "/fhir/Patient?_has:CarePlan:patient:status=active")
    assert [e["resource"]["id"] for e in has] == [patients[1]["id"]]
    iterated = await walk(
        client, f"/fhir/CarePlan?_id={plan['id']}&_include=CarePlan:care-team&_include:iterate=CareTeam:participant"
    )
    assert {e["resource"]["id"] for e in iterated if e["search"]["mode"] == "include"} == {
        team["id"],
        patients[2]["id"],
    }
