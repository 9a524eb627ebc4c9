"""Unknown search parameters under `Prefer: handling` (R4 search.html#errors), client bookkeeping parameters, and a
create's query string (fhirpy's conditional create)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from gateway.store.search_query import lenient_handling

PLAN = {
    "resourceType": "CarePlan",
    "status": "active",
    "intent": "plan",
    "subject": {"reference": "Patient/p1"},
}


def self_params(bundle: dict[str, Any]) -> list[tuple[str, str]]:
    url = next(link["url"] for link in bundle["link"] if link["relation"] == "self")
    return parse_qsl(urlsplit(url).query)


@pytest.fixture
async def plan(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/fhir/CarePlan", json=PLAN)
    assert response.status_code == 201
    return response.json()


async def test_strict_is_the_default_and_names_the_parameter(client: httpx.AsyncClient, plan: dict[str, Any]) -> None:
    for headers in ({}, {"Prefer": "handling=strict"}):
        response = await client.get("/fhir/CarePlan?status=active&colour=blue", headers=headers)
        assert response.status_code == 400
        issue = response.json()["issue"][0]
        assert issue["expression"] == ["colour"]
        assert issue["details"]["coding"][0]["code"] == "search.unknown-parameter"


async def test_lenient_ignores_unknown_parameters_and_the_self_link_shows_what_was_used(
    client: httpx.AsyncClient, plan: dict[str, Any]
) -> None:
    response = await client.get(
        "/fhir/CarePlan?status=active&colour=blue&status:fuzzy=x", headers={"Prefer": "handling=lenient"}
    )
    assert response.status_code == 200
    bundle = response.json()
    assert [entry["resource"]["id"] for entry in bundle["entry"]] == [plan["id"]]
    used = self_params(bundle)
    assert ("status", "active") in used
    assert all(key not in ("colour", "status:fuzzy") for key, _ in used)


async def test_lenient_still_refuses_a_bad_value_of_a_known_parameter(client: httpx.AsyncClient) -> None:
    response = await client.get("/fhir/CarePlan?date=yesterday", headers={"Prefer": "handling=lenient"})
    assert response.status_code == 400


async def test_lenient_applies_to_post_search(client: httpx.AsyncClient, plan: dict[str, Any]) -> None:
    response = await client.post(
        "/fhir/CarePlan/_search", data={"status": "active", "colour": "blue"}, headers={"Prefer": "handling=lenient"}
    )
    assert response.status_code == 200 and response.json()["total"] == 1


@pytest.mark.parametrize("prefer", [None, "handling=strict", "handling=lenient"])
async def test_total_method_of_fhirpy_is_harmless(client: httpx.AsyncClient, plan: dict[str, Any], prefer: str) -> None:
    headers = {"Prefer": prefer} if prefer else {}
    response = await client.get("/fhir/CarePlan?_totalMethod=count&_summary=count", headers=headers)
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["total"] == 1
    assert all(key != "_totalMethod" for key, _ in self_params(bundle))


@pytest.mark.parametrize(
    ("header", "lenient"),
    [
        (None, False),
        ("handling=lenient", True),
        ("return=minimal, handling=lenient", True),
        ('HANDLING="lenient"', True),
        ("handling=strict", False),
        ("handling=lenient, handling=strict", False),
    ],
)
def test_prefer_header_parsing(header: str | None, lenient: bool) -> None:
    assert lenient_handling(header) is lenient


async def test_create_with_criteria_on_the_query_string_is_a_conditional_create(client: httpx.AsyncClient) -> None:
    patient = {"resourceType": "Patient", "identifier": [{"system": "urn:x", "value": "1"}]}
    first = await client.post("/fhir/Patient?identifier=urn:x|1", json=patient)
    assert first.status_code == 201
    again = await client.post("/fhir/Patient?identifier=urn:x|1", json=patient)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert (await client.get("/fhir/Patient?identifier=urn:x|1")).json()["total"] == 1


async def test_create_with_different_criteria_in_header_and_query_string_is_400(client: httpx.AsyncClient) -> None:
    patient = {"resourceType": "Patient", "identifier": [{"system": "urn:x", "value": "1"}]}
    response = await client.post(
        "/fhir/Patient?identifier=urn:x|1", json=patient, headers={"If-None-Exist": "identifier=urn:x|2"}
    )
    assert response.status_code == 400
    assert response.json()["issue"][0]["details"]["coding"][0]["code"] == "fhir.conflicting-criteria"
    same = await client.post(
        "/fhir/Patient?identifier=urn:x|1", json=patient, headers={"If-None-Exist": "identifier=urn:x|1"}
    )
    assert same.status_code == 201


async def test_create_with_unknown_criteria_on_the_query_string_is_400_not_ignored(client: httpx.AsyncClient) -> None:
    response = await client.post("/fhir/Patient?colour=blue", json={"resourceType": "Patient"})
    assert response.status_code == 400
    assert (await client.get("/fhir/Patient")).json()["total"] == 0


async def test_create_with_only_format_parameters_is_a_plain_create(client: httpx.AsyncClient) -> None:
    patient = {"resourceType": "Patient"}
    assert (await client.post("/fhir/Patient?_format=json", json=patient)).status_code == 201
    assert (await client.post("/fhir/Patient?_pretty=true", json=patient)).status_code == 201
