"""Transactions with the production defaults (referential integrity on): references among the entries resolve
to the ids the server gives (FHIR R4 http.html#transaction), conditional references are resolved by a search or
fail the transaction (http.html#trules), and REST DELETE honours If-Match (http.html#concurrency)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import Settings

URN_A = "urn:uuid:11111111-1111-4111-8111-111111111111"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, max_body_bytes=64 * 1024, insecure_no_auth=True)


def tx(*entries: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


async def test_conditional_reference_is_resolved_or_refused(client: httpx.AsyncClient) -> None:
    parent = {"resourceType": "Organization", "name": "P", "identifier": [{"system": "s", "value": "1"}]}
    org = (await client.post("/fhir/Organization", json=parent)).json()
    child = {"resourceType": "Organization", "name": "C", "partOf": {"reference": "Organization?identifier=s|1"}}
    response = await client.post(
        "/fhir", json=tx({"resource": child, "request": {"method": "POST", "url": "Organization"}})
    )
    assert response.status_code == 200, response.text
    stored = (await client.get(f"/fhir/Organization/{response.json()['entry'][0]['resource']['id']}")).json()
    assert stored["partOf"]["reference"] == f"Organization/{org['id']}"
    nothing = {**child, "partOf": {"reference": "Organization?identifier=s|2"}}
    refused = await client.post(
        "/fhir", json=tx({"resource": nothing, "request": {"method": "POST", "url": "Organization"}})
    )
    assert refused.status_code == 404
    assert refused.json()["issue"][0]["expression"] == ["Bundle.entry[0]"]
    await client.post("/fhir/Organization", json={**parent, "name": "P2"})
    several = await client.post(
        "/fhir", json=tx({"resource": child, "request": {"method": "POST", "url": "Organization"}})
    )
    assert several.status_code == 412
    assert several.json()["issue"][0]["code"] == "multiple-matches"
    assert (await client.get("/fhir/Organization?name=C")).json()["total"] == 1


async def test_absolute_full_url_of_a_post_entry_is_rewritten(client: httpx.AsyncClient) -> None:
    """http.html#transaction: when the server assigns a new id to a POST entry it SHALL update references to it."""
    full = "http://gateway.test/fhir/Organization/temp1"
    response = await client.post(
        "/fhir",
        json=tx(
            {
                "fullUrl": full,
                "resource": {"resourceType": "Organization", "name": "Parent"},
                "request": {"method": "POST", "url": "Organization"},
            },
            {
                "resource": {"resourceType": "Organization", "name": "Child", "partOf": {"reference": full}},
                "request": {"method": "POST", "url": "Organization"},
            },
        ),
    )
    assert response.status_code == 200, response.text
    parent, child = (e["resource"] for e in response.json()["entry"])
    assert child["partOf"]["reference"] == f"Organization/{parent['id']}"


async def test_rest_delete_if_match(client: httpx.AsyncClient) -> None:
    patient = (await client.post("/fhir/Patient", json={"resourceType": "Patient"})).json()
    response = await client.delete(f"/fhir/Patient/{patient['id']}", headers={"If-Match": 'W/"7"'})
    assert response.status_code == 412, response.status_code


async def test_post_entry_with_a_body_id_resolves_references_to_its_urn(client: httpx.AsyncClient) -> None:
    """A POST entry's body id is ignored (http.html#create); a reference to its fullUrl must still resolve even when
    the referring entry is processed first."""
    response = await client.post(
        "/fhir",
        json=tx(
            {
                "resource": {"resourceType": "Organization", "name": "Child", "partOf": {"reference": URN_A}},
                "request": {"method": "POST", "url": "Organization"},
            },
            {
                "fullUrl": URN_A,
                "resource": {"resourceType": "Organization", "id": "client-id", "name": "Parent"},
                "request": {"method": "POST", "url": "Organization"},
            },
        ),
    )
    assert response.status_code == 200, response.text
    child, parent = (e["resource"] for e in response.json()["entry"])
    assert parent["id"] != "client-id"
    assert child["partOf"]["reference"] == f"Organization/{parent['id']}"


async def test_reference_to_a_post_entrys_ignored_body_id_is_not_accepted(client: httpx.AsyncClient) -> None:
    """`Organization/client-id` never exists (the POST gets a new id): the reference dangles, and is refused."""
    response = await client.post(
        "/fhir",
        json=tx(
            {
                "resource": {"resourceType": "Organization", "id": "client-id", "name": "Parent"},
                "request": {"method": "POST", "url": "Organization"},
            },
            {
                "resource": {
                    "resourceType": "Organization",
                    "name": "Child",
                    "partOf": {"reference": "Organization/client-id"},
                },
                "request": {"method": "POST", "url": "Organization"},
            },
        ),
    )
    assert response.status_code == 422, response.text
    assert response.json()["issue"][0]["expression"][0].startswith("Bundle.entry[1]")
    assert (await client.get("/fhir/Organization")).json()["total"] == 0


async def test_a_conditional_reference_outside_a_transaction_is_refused(client: httpx.AsyncClient) -> None:
    """Only a transaction resolves a conditional reference; a create or a batch entry would store it as text."""
    child = {"resourceType": "Organization", "name": "C", "partOf": {"reference": "Organization?identifier=s|1"}}
    created = await client.post("/fhir/Organization", json=child)
    assert created.status_code == 422
    issue = created.json()["issue"][0]
    assert (issue["expression"], issue["code"]) == (["Organization.partOf"], "not-found")
    batch = await client.post(
        "/fhir", json=tx({"resource": child, "request": {"method": "POST", "url": "Organization"}}, kind="batch")
    )
    assert batch.json()["entry"][0]["response"]["status"].startswith("422")
    assert (await client.get("/fhir/Organization")).json()["total"] == 0
