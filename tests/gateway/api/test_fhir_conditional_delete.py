"""Conditional delete (FHIR R4 http.html#cdelete): none, one, several (412, or all with GATEWAY_MULTIPLE_DELETE)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.api import create_app
from gateway.clock import SequenceIds
from gateway.config import Settings
from tests.conftest import SteppingClock

SYSTEM = "urn:oid:1.2.208.176.1.2"


async def organisation(client: httpx.AsyncClient, value: str) -> str:
    body = {"resourceType": "Organization", "name": value, "identifier": [{"system": SYSTEM, "value": value}]}
    response = await client.post("/fhir/Organization", json=body)
    assert response.status_code == 201
    return str(response.json()["id"])


async def test_one_match_is_deleted_and_kept_in_history(client: httpx.AsyncClient) -> None:
    kept = await organisation(client, "kept")
    gone = await organisation(client, "gone")
    response = await client.delete(f"/fhir/Organization?identifier={SYSTEM}|gone")
    assert response.status_code == 204
    assert response.headers["etag"] == 'W/"2"'
    assert (await client.get(f"/fhir/Organization/{gone}")).status_code == 410
    assert (await client.get(f"/fhir/Organization/{kept}")).status_code == 200
    assert (await client.get(f"/fhir/Organization/{gone}/_history/1")).status_code == 200


async def test_no_match_is_204_and_changes_nothing(client: httpx.AsyncClient) -> None:
    kept = await organisation(client, "kept")
    assert (await client.delete(f"/fhir/Organization?identifier={SYSTEM}|nobody")).status_code == 204
    assert (await client.get(f"/fhir/Organization/{kept}")).status_code == 200


async def test_several_matches_are_412_and_nothing_is_deleted(client: httpx.AsyncClient) -> None:
    first, second = await organisation(client, "twin"), await organisation(client, "twin")
    response = await client.delete(f"/fhir/Organization?identifier={SYSTEM}|twin")
    assert response.status_code == 412
    assert response.json()["issue"][0]["code"] == "multiple-matches"
    for resource_id in (first, second):
        assert (await client.get(f"/fhir/Organization/{resource_id}")).status_code == 200


async def test_criteria_are_required_and_checked(client: httpx.AsyncClient) -> None:
    assert (await client.delete("/fhir/Organization")).status_code == 400
    assert (await client.delete("/fhir/Organization?colour=red")).status_code == 400
    assert (await client.delete("/fhir/Unicorn?_id=1")).status_code == 404


@pytest.fixture
async def multiple(tmp_path: Path, clock: SteppingClock) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        data_dir=tmp_path, insecure_no_auth=True, enforce_referential_integrity=False, multiple_delete=True
    )
    transport = httpx.ASGITransport(app=create_app(settings, clock=clock, ids=SequenceIds()))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        yield http


async def test_with_multiple_delete_every_match_is_deleted(multiple: httpx.AsyncClient) -> None:
    twins = [await organisation(multiple, "twin") for _ in range(3)]
    other = await organisation(multiple, "other")
    assert (await multiple.delete(f"/fhir/Organization?identifier={SYSTEM}|twin")).status_code == 204
    assert [(await multiple.get(f"/fhir/Organization/{twin}")).status_code for twin in twins] == [410] * 3
    assert (await multiple.get(f"/fhir/Organization/{other}")).status_code == 200
