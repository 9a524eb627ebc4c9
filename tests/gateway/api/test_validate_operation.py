"""`$validate`: profile validation over HTTP, answered with an OperationOutcome."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx

from tests.support import scenario

# MedCom's HospitalNotification example (SLHJ, discharge to home), shipped as a sample.
EXAMPLE = scenario.SAMPLES / "inbound" / "medcom" / "Bundle-f4aa42a4-86db-4e68-9b38-9dda0dfd5774.json"


def example() -> dict[str, Any]:
    bundle: dict[str, Any] = json.loads(EXAMPLE.read_text("utf-8"))
    return bundle


def errors(outcome: dict[str, Any]) -> list[dict[str, Any]]:
    assert outcome["resourceType"] == "OperationOutcome"
    return [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]


async def test_medcom_example_is_valid(client: httpx.AsyncClient) -> None:
    response = await client.post("/fhir/$validate", json=example())
    assert response.status_code == 200
    assert errors(response.json()) == []


async def test_broken_encounter_class_is_reported_at_its_path(client: httpx.AsyncClient) -> None:
    bundle = example()
    encounter_index = next(i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "Encounter")
    bundle["entry"][encounter_index]["resource"]["class"]["code"] = "AMB"
    response = await client.post("/fhir/Bundle/$validate", json=bundle)
    assert response.status_code == 200
    found = errors(response.json())
    assert any(f"Bundle.entry[{encounter_index}].resource.class" in i["expression"][0] for i in found), found


async def test_parameters_form_with_profile(client: httpx.AsyncClient) -> None:
    patient = next(e["resource"] for e in example()["entry"] if e["resource"]["resourceType"] == "Patient")
    stripped = copy.deepcopy(patient)
    stripped.pop("meta", None)
    del stripped["identifier"]
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": stripped},
            {"name": "profile", "valueUri": "http://hl7.dk/fhir/core/StructureDefinition/dk-core-patient"},
        ],
    }
    response = await client.post("/fhir/Patient/$validate", json=parameters)
    assert response.status_code == 200
    assert any("identifier" in i["expression"][0] for i in errors(response.json()))


async def test_wrong_type_for_the_endpoint_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/fhir/Patient/$validate", json=example())
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["resourceType"]
