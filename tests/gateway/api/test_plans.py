"""`/plans`: plan documents stored as one FHIR transaction and read back unchanged."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

SAMPLES = sorted((Path(__file__).resolve().parents[3] / "fixtures" / "samples" / "plans").glob("*.json"))


def sample(name: str | None = None) -> dict[str, Any]:
    path = next(p for p in SAMPLES if name is None or p.name == name)
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
async def test_plan_round_trips_through_the_store(client: httpx.AsyncClient, path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    created = await client.post("/plans", json=document)
    assert created.status_code == 201, created.text
    receipt = created.json()
    assert set(receipt["resources"]) >= {"Patient", "CarePlan", "CareTeam", "Consent"}
    read = await client.get(f"/plans/{receipt['planId']}")
    assert read.status_code == 200
    assert read.json() == document
    plan = (await client.get(f"/fhir/CarePlan/{receipt['planId']}")).json()
    assert plan["identifier"][0]["value"] == document["source"]["value"]


async def test_posting_the_same_plan_twice_duplicates_nothing(client: httpx.AsyncClient) -> None:
    document = sample()
    first = (await client.post("/plans", json=document)).json()
    second = await client.post("/plans", json=document)
    assert second.status_code == 200
    assert second.json()["planId"] == first["planId"]
    assert second.json()["versionId"] == "1"
    for resource_type, ids in first["resources"].items():
        total = (await client.get(f"/fhir/{resource_type}?_summary=count")).json()["total"]
        assert total == len(ids), resource_type


async def test_put_after_a_meeting_makes_a_new_version_and_keeps_the_old(client: httpx.AsyncClient) -> None:
    document = sample()
    plan_id = (await client.post("/plans", json=document)).json()["planId"]
    changed = copy.deepcopy(document)
    changed["status"] = "completed" if document["status"] != "completed" else "active"
    updated = await client.put(f"/plans/{plan_id}", json=changed)
    assert updated.status_code == 200, updated.text
    assert updated.json()["versionId"] == "2"
    assert (await client.get(f"/plans/{plan_id}")).json() == changed
    assert (await client.get(f"/plans/{plan_id}?version=1")).json() == document
    history = (await client.get(f"/fhir/CarePlan/{plan_id}/_history")).json()
    assert history["total"] == 2


async def test_put_with_another_plans_document_is_422(client: httpx.AsyncClient) -> None:
    plan_id = (await client.post("/plans", json=sample())).json()["planId"]
    other = sample()
    other["source"] = {**other["source"], "value": other["source"]["value"] + "-other"}
    response = await client.put(f"/plans/{plan_id}", json=other)
    assert response.status_code == 422
    assert response.json()["issue"][0]["expression"] == ["/source"]


async def test_bad_document_names_every_field_and_writes_nothing(client: httpx.AsyncClient) -> None:
    document = sample()
    document["citizen"]["cpr"] = "12345"
    del document["status"]
    document["unexpected"] = True
    response = await client.post("/plans", json=document)
    assert response.status_code in (400, 422)
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    pointers = {issue["expression"][0] for issue in outcome["issue"]}
    assert {"/citizen/cpr", "/status", "/unexpected"} <= pointers
    assert (await client.get("/fhir/_history")).json()["total"] == 0


async def test_unknown_plan_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/plans/not-a-plan")).status_code == 404


async def test_schema_is_published(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/plans/schema")).json()
    assert {"source", "citizen", "team", "consent"} <= set(schema["properties"])
    openapi = (await client.get("/openapi.json")).json()
    assert "/plans" in openapi["paths"]


async def test_every_problem_of_a_plan_document_is_in_one_operation_outcome(client: httpx.AsyncClient) -> None:
    """Issue 17: schema and business rules together, each issue with its JSON pointer in `expression`."""
    document = sample("kip-slagelse-botilbud.json")
    document["team"][1]["organisation"]["gln"] = "5790000555551"
    document["interventions"][1]["responsible"] = "nobody"
    document["goals"][0]["target_date"] = "2025-01-01"
    response = await client.post("/plans", json=document)
    assert response.status_code == 400
    issues = response.json()["issue"]
    assert [(issue["expression"], issue["details"]["coding"][0]["code"]) for issue in issues] == [
        (["/team/1/organisation/gln"], "plan.gln-invalid"),
        (["/goals/0/target_date"], "plan.goal-target-before-start"),
        (["/interventions/1/responsible"], "plan.responsible-not-in-team"),
    ]


async def test_a_plan_for_a_citizen_whose_patient_the_author_wrote_first_takes_that_patient(
    client: httpx.AsyncClient,
) -> None:
    """The author's record of the citizen is already in the store (written to /fhir); its plan's Patient is a
    conditional update by CPR number, which matches it. The id the plan mapping derives is the one for a Patient
    that does not exist yet, not a demand (found by tests/security/test_state_machine.py: a 400 id mismatch)."""
    document = sample()
    cpr = document["citizen"]["cpr"]
    patient = {"resourceType": "Patient", "identifier": [{"system": "urn:oid:1.2.208.176.1.2", "value": cpr}]}
    written = await client.post("/fhir/Patient", json=patient)
    assert written.status_code == 201, written.text
    receipt = await client.post("/plans", json=document)
    assert receipt.status_code == 201, receipt.text
    assert receipt.json()["resources"]["Patient"] == [written.json()["id"]]
    again = await client.post("/plans", json=document)
    assert again.status_code == 200 and again.json()["resources"]["Patient"] == [written.json()["id"]]


async def test_a_second_record_of_the_citizen_written_later_does_not_block_the_plans_next_version(
    client: httpx.AsyncClient,
) -> None:
    """Once written, a plan keeps its Patient by id: a second record of the citizen by the same author would make
    the conditional update by CPR number match two (412)."""
    document = sample()
    first = await client.post("/plans", json=document)
    assert first.status_code == 201, first.text
    cpr = document["citizen"]["cpr"]
    patient = {"resourceType": "Patient", "identifier": [{"system": "urn:oid:1.2.208.176.1.2", "value": cpr}]}
    assert (await client.post("/fhir/Patient", json=patient)).status_code == 201
    document["wishes"] = document.get("wishes", [])[:1]
    again = await client.post("/plans", json=document)
    assert again.status_code == 200, again.text
    assert again.json()["resources"]["Patient"] == first.json()["resources"]["Patient"]
