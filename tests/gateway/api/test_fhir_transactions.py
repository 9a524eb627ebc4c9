"""transaction (all or nothing, urn:uuid rewriting) and batch (independent entries) Bundles."""

from __future__ import annotations

from typing import Any

import httpx

PATIENT_URN = "urn:uuid:0d4f1e2a-6a3c-4c1f-9d39-6a1f0c1e2b01"
TEAM_URN = "urn:uuid:0d4f1e2a-6a3c-4c1f-9d39-6a1f0c1e2b02"
CPR = {"system": "urn:oid:1.2.208.176.1.2", "value": "0101709998"}


def plan_bundle(kind: str = "transaction", *, plan_status: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [
            {
                "fullUrl": "urn:uuid:0d4f1e2a-6a3c-4c1f-9d39-6a1f0c1e2b03",
                "resource": {
                    "resourceType": "CarePlan",
                    "status": plan_status,
                    "intent": "plan",
                    "subject": {"reference": PATIENT_URN},
                    "careTeam": [{"reference": TEAM_URN}],
                },
                "request": {"method": "POST", "url": "CarePlan"},
            },
            {
                "fullUrl": TEAM_URN,
                "resource": {
                    "resourceType": "CareTeam",
                    "status": "active",
                    "subject": {"reference": PATIENT_URN},
                },
                "request": {"method": "POST", "url": "CareTeam"},
            },
            {
                "fullUrl": PATIENT_URN,
                "resource": {"resourceType": "Patient", "identifier": [CPR]},
                "request": {
                    "method": "POST",
                    "url": "Patient",
                    "ifNoneExist": f"identifier={CPR['system']}|{CPR['value']}",
                },
            },
        ],
    }


async def test_transaction_creates_all_and_rewrites_references(client: httpx.AsyncClient) -> None:
    response = await client.post("/fhir", json=plan_bundle())
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["type"] == "transaction-response"
    assert [e["response"]["status"] for e in reply["entry"]] == ["201 Created"] * 3
    plan, team, patient = (e["resource"] for e in reply["entry"])
    assert plan["subject"]["reference"] == f"Patient/{patient['id']}"
    assert plan["careTeam"][0]["reference"] == f"CareTeam/{team['id']}"
    stored = (await client.get(f"/fhir/CarePlan/{plan['id']}")).json()
    assert stored["subject"]["reference"] == f"Patient/{patient['id']}"
    assert reply["entry"][0]["response"]["location"].endswith(f"/CarePlan/{plan['id']}/_history/1")


async def test_transaction_conditional_create_reuses_the_existing_patient(client: httpx.AsyncClient) -> None:
    first = (await client.post("/fhir", json=plan_bundle())).json()
    second = (await client.post("/fhir", json=plan_bundle())).json()
    assert second["entry"][2]["response"]["status"] == "200 OK"
    patient_id = first["entry"][2]["resource"]["id"]
    assert second["entry"][0]["resource"]["subject"]["reference"] == f"Patient/{patient_id}"
    assert (await client.get("/fhir/Patient")).json()["total"] == 1


async def test_failed_transaction_writes_nothing_and_names_the_entry(client: httpx.AsyncClient) -> None:
    bundle = plan_bundle()
    bundle["entry"].append({"request": {"method": "DELETE", "url": "CarePlan/does-not-exist"}})
    response = await client.post("/fhir", json=bundle)
    assert response.status_code == 404
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["Bundle.entry[3]"]
    for resource_type in ("CarePlan", "CareTeam", "Patient"):
        assert (await client.get(f"/fhir/{resource_type}")).json()["total"] == 0
    assert (await client.get("/fhir/_history")).json()["total"] == 0


async def test_invalid_entry_resource_is_400_with_its_bundle_path(client: httpx.AsyncClient) -> None:
    bundle = plan_bundle()
    del bundle["entry"][0]["resource"]["intent"]
    response = await client.post("/fhir", json=bundle)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[0].resource.intent"]


async def test_batch_entries_fail_alone(client: httpx.AsyncClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {
                "resource": {"resourceType": "Patient", "identifier": [CPR]},
                "request": {"method": "POST", "url": "Patient"},
            },
            {"request": {"method": "GET", "url": "Patient/missing"}},
            {"request": {"method": "GET", "url": "Patient?identifier=0101709998"}},
        ],
    }
    response = await client.post("/fhir", json=bundle)
    assert response.status_code == 200
    entries = response.json()["entry"]
    assert entries[0]["response"]["status"] == "201 Created"
    assert entries[1]["response"]["status"] == "404 Not Found"
    assert entries[1]["response"]["outcome"]["issue"][0]["code"] == "not-found"
    assert entries[2]["resource"]["total"] == 1


async def test_batch_gets_answer_as_the_rest_routes(client: httpx.AsyncClient) -> None:
    """Read, vread and the three histories, each on its own path; a path the REST API has no route for is 404
    (it was read as `Patient/{id}` before)."""
    created = (await client.post("/fhir/Patient", json={"resourceType": "Patient", "identifier": [CPR]})).json()
    patient_id = created["id"]
    changed = {**created, "active": True}
    assert (await client.put(f"/fhir/Patient/{patient_id}", json=changed)).status_code == 200
    urls = [
        f"Patient/{patient_id}",
        f"Patient/{patient_id}/_history/1",
        f"Patient/{patient_id}/_history",
        "Patient/_history?_count=1",
        "_history",
        f"Patient/{patient_id}/_history/one",
        f"Patient/{patient_id}/versions",
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": u}} for u in urls],
    }
    response = await client.post("/fhir", json=bundle)
    assert response.status_code == 200
    read, vread, instance, by_type, system, bad_version, unknown = response.json()["entry"]
    assert read["resource"]["meta"]["versionId"] == "2"
    assert vread["resource"]["meta"]["versionId"] == "1" and "active" not in vread["resource"]
    assert [e["request"]["method"] for e in instance["resource"]["entry"]] == ["PUT", "POST"]
    assert instance["resource"]["total"] == 2
    assert by_type["resource"]["type"] == "history" and len(by_type["resource"]["entry"]) == 1
    assert by_type["resource"]["total"] == 2
    assert system["resource"]["total"] == 2
    assert bad_version["response"]["status"] == "404 Not Found"
    assert unknown["response"]["status"] == "404 Not Found"
    assert unknown["response"]["outcome"]["issue"][0]["code"] == "not-found"
    assert "versions" in unknown["response"]["outcome"]["issue"][0]["diagnostics"]


async def test_transaction_with_update_and_stale_if_match_rolls_back(client: httpx.AsyncClient) -> None:
    patient = (await client.post("/fhir/Patient", json={"resourceType": "Patient"})).json()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {"resourceType": "Patient", "identifier": [CPR]},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {**patient, "active": True},
                "request": {"method": "PUT", "url": f"Patient/{patient['id']}", "ifMatch": 'W/"7"'},
            },
        ],
    }
    response = await client.post("/fhir", json=bundle)
    assert response.status_code == 412
    assert (await client.get("/fhir/Patient")).json()["total"] == 1


async def test_only_transaction_and_batch_are_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post("/fhir", json={"resourceType": "Bundle", "type": "collection"})
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Bundle.type"]
    response = await client.post(
        "/fhir",
        json={
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [{"request": {"method": "HEAD", "url": "Patient/1"}}],  # PATCH is served since issue 14
        },
    )
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[0].request.method"]
