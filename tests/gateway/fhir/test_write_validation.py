"""Validation on write: the FHIR API stores valid R4 that refers to resources that exist (issue 13)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import Settings

NOW_PATIENT = {"resourceType": "Patient", "gender": "female"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The defaults that matter here: referential integrity on, as in production."""
    return Settings(data_dir=tmp_path, max_body_bytes=64 * 1024, insecure_no_auth=True)


URN = "urn:uuid:5e0c1f7a-2b3d-4c5e-9f6a-7b8c9d0e1f2a"


def _issues(response: httpx.Response) -> set[tuple[str, str]]:
    return {
        (issue["details"]["coding"][0]["code"], issue["expression"][0])
        for issue in response.json()["issue"]
        if issue["severity"] in ("error", "fatal")
    }


async def new_patient(client: httpx.AsyncClient) -> str:
    """A Patient the server names (plans and people take no id of the client's choosing, issue 11)."""
    response = await client.post("/fhir/Patient", json=NOW_PATIENT)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _plan(patient: str = "p1", **elements: Any) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": f"Patient/{patient}"},
        **elements,
    }


async def test_a_code_outside_its_required_value_set_is_refused_with_the_validators_outcome(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/fhir/Patient", json={**NOW_PATIENT, "gender": "nonsense"})
    assert response.status_code == 422
    assert _issues(response) == {("validation.code-not-in-valueset", "Patient.gender")}
    assert (await client.get("/fhir/Patient?_summary=count")).json()["total"] == 0  # nothing was stored


async def test_a_care_team_status_outside_its_value_set_is_refused(client: httpx.AsyncClient) -> None:
    patient = await new_patient(client)
    team = {"resourceType": "CareTeam", "status": "nonsense", "subject": {"reference": f"Patient/{patient}"}}
    response = await client.post("/fhir/CareTeam", json=team)
    assert response.status_code == 422
    assert _issues(response) == {("validation.code-not-in-valueset", "CareTeam.status")}


async def test_a_declared_profile_the_gateway_knows_is_held_to(client: httpx.AsyncClient) -> None:
    patient = await new_patient(client)
    profiled = {
        **_plan(patient),
        "meta": {"profile": ["https://careplan-gateway.example/fhir/StructureDefinition/kip-careplan"]},
    }
    response = await client.post("/fhir/CarePlan", json=profiled)
    assert response.status_code in (400, 422)
    assert any(message_id.startswith("validation.") for message_id, _ in _issues(response))
    unknown = {**_plan(patient), "meta": {"profile": ["https://elsewhere.test/StructureDefinition/x"]}}
    assert (await client.post("/fhir/CarePlan", json=unknown)).status_code == 201  # a warning, the base R4 holds


async def test_a_reference_to_a_resource_that_does_not_exist_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/fhir/CarePlan", json=_plan())
    assert response.status_code == 422
    assert _issues(response) == {("fhir.reference-not-found", "CarePlan.subject")}
    assert (await client.post("/fhir/CarePlan", json=_plan(await new_patient(client)))).status_code == 201


async def test_a_reference_to_a_deleted_resource_is_refused(client: httpx.AsyncClient) -> None:
    patient = await new_patient(client)
    await client.delete(f"/fhir/Patient/{patient}")
    assert (await client.post("/fhir/CarePlan", json=_plan(patient))).status_code == 422


@pytest.mark.parametrize(
    "reference", ["#own", "urn:uuid:3b8f3a52-5bb1-4f3c-8f9e-2b1f4d7b6a10", "https://elsewhere.test/fhir/Patient/9"]
)
async def test_references_that_name_nothing_here_are_not_checked(client: httpx.AsyncClient, reference: str) -> None:
    plan = _plan(subject={"reference": reference})
    if reference == "#own":
        plan["contained"] = [{"resourceType": "Patient", "id": "own"}]
    assert (await client.post("/fhir/CarePlan", json=plan)).status_code == 201


async def test_references_among_the_entries_of_one_transaction_resolve(client: httpx.AsyncClient) -> None:
    patient_urn = "urn:uuid:9d2f7e1a-3c4b-4e5f-8a6b-7c8d9e0f1a2b"
    # An Organization may be named by its client ("update as create"), so a PUT entry can be processed after a POST
    # that refers to it: resolved within the transaction.
    organization = {"resourceType": "Organization", "id": "o1", "name": "Botilbuddet Solsikken"}
    team = {"resourceType": "CareTeam", "status": "active", "managingOrganization": [{"reference": "Organization/o1"}]}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": team, "request": {"method": "POST", "url": "CareTeam"}},
            {"resource": organization, "request": {"method": "PUT", "url": "Organization/o1"}},
            {
                "fullUrl": patient_urn,
                "resource": {"resourceType": "Patient", "gender": "male"},
                "request": {"method": "POST", "url": "Patient"},
            },
            {"resource": _plan(subject={"reference": patient_urn}), "request": {"method": "POST", "url": "CarePlan"}},
        ],
    }
    response = await client.post("/fhir", json=bundle)
    assert response.status_code == 200, response.text
    assert [e["response"]["status"] for e in response.json()["entry"]] == ["201 Created"] * 4


async def test_an_invalid_transaction_entry_rolls_everything_back(client: httpx.AsyncClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": URN, "resource": NOW_PATIENT, "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": _plan(status="nonsense", subject={"reference": URN}),
                "request": {"method": "POST", "url": "CarePlan"},
            },
        ],
    }
    response = await client.post("/fhir", json=bundle)
    assert response.status_code == 422
    assert ("validation.code-not-in-valueset", "Bundle.entry[1].resource.status") in _issues(response)
    assert (await client.get("/fhir/Patient?_summary=count")).json()["total"] == 0, "the Patient was rolled back"


async def test_batch_entries_fail_alone_with_their_own_outcome(client: httpx.AsyncClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": NOW_PATIENT, "request": {"method": "POST", "url": "Patient"}},
            {"resource": {**NOW_PATIENT, "gender": "nonsense"}, "request": {"method": "POST", "url": "Patient"}},
            {"resource": {"resourceType": "Patient", "shoeSize": 44}, "request": {"method": "POST", "url": "Patient"}},
            {"resource": _plan(subject={"reference": "Patient/p9"}), "request": {"method": "POST", "url": "CarePlan"}},
        ],
    }
    response = await client.post("/fhir", json=bundle)
    assert response.status_code == 200
    replies = [entry["response"] for entry in response.json()["entry"]]
    assert [reply["status"] for reply in replies] == [
        "201 Created",
        "422 Unprocessable Entity",
        "400 Bad Request",
        "422 Unprocessable Entity",
    ]
    codes = [{i["details"]["coding"][0]["code"] for i in reply["outcome"]["issue"]} for reply in replies[1:]]
    assert "validation.code-not-in-valueset" in codes[0]
    assert "fhir.reference-not-found" in codes[2]
    assert (await client.get(replies[0]["location"])).status_code == 200


async def test_referential_integrity_can_be_switched_off(tmp_path: Path) -> None:
    from gateway.api import create_app

    app = create_app(Settings(data_dir=tmp_path, insecure_no_auth=True, enforce_referential_integrity=False))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        assert (await http.post("/fhir/CarePlan", json=_plan())).status_code == 201
        assert (await http.post("/fhir/CarePlan", json=_plan(status="nonsense"))).status_code == 422  # still valid R4
