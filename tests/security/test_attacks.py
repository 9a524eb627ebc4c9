"""Issue 11's five attacks, each as an organisation the citizen never named would try them, through the real app
with authentication on. Each of these passed for the attacker before the access rule moved into the database."""

from __future__ import annotations

from typing import Any

import httpx

from tests.security.conftest import Headers
from tests.support import cast

SOR = "urn:oid:1.2.208.176.1.1"


async def region_copy(
    client: httpx.AsyncClient, as_: Headers, resource_type: str, receipt: dict[str, Any]
) -> list[dict[str, Any]]:
    """What the author reads of one type of its plan (the attacker's best guess of it, in the worst case)."""
    found = []
    for resource_id in receipt["resources"][resource_type]:
        response = await client.get(f"/fhir/{resource_type}/{resource_id}", headers=as_("region"))
        assert response.status_code == 200
        found.append(response.json())
    return found


async def sees_plan(client: httpx.AsyncClient, headers: dict[str, str], plan_id: str) -> tuple[int, int]:
    read = await client.get(f"/fhir/CarePlan/{plan_id}", headers=headers)
    document = await client.get(f"/plans/{plan_id}", headers=headers)
    return read.status_code, document.status_code


async def test_1_editing_a_permitted_members_record_grants_nothing(
    client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    plan_id = plan["planId"]
    practitioners = await region_copy(client, as_, "Practitioner", plan)
    social_worker = next(p for p in practitioners if p["name"][0]["family"] == "Lykke")
    assert (await client.get(f"/fhir/Practitioner/{social_worker['id']}", headers=as_("x"))).status_code == 404
    forged = {**social_worker, "identifier": [*social_worker["identifier"], {"system": SOR, "value": cast.X_SOR}]}
    edit = await client.put(f"/fhir/Practitioner/{social_worker['id']}", json=forged, headers=as_("x"))
    assert edit.status_code == 404
    assert await sees_plan(client, as_("x"), plan_id) == (404, 404)
    sister = next(r for r in await region_copy(client, as_, "RelatedPerson", plan) if r.get("telecom"))
    forged_sister = {**sister, "identifier": [*sister["identifier"], {"system": SOR, "value": cast.X_SOR}]}
    assert (
        await client.put(f"/fhir/RelatedPerson/{sister['id']}", json=forged_sister, headers=as_("x"))
    ).status_code == 404
    assert await sees_plan(client, as_("x"), plan_id) == (404, 404)
    unchanged = await client.get(f"/fhir/Practitioner/{social_worker['id']}", headers=as_("region"))
    assert unchanged.json()["meta"]["versionId"] == "1"
    assert await sees_plan(client, as_("slagelse"), plan_id) == (200, 200), "the organisation the citizen named"


async def test_1b_even_a_permitted_organisation_cannot_edit_the_record_that_names_it(
    client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    practitioners = await region_copy(client, as_, "Practitioner", plan)
    social_worker = next(p for p in practitioners if p["name"][0]["family"] == "Lykke")
    assert (await client.get(f"/fhir/Practitioner/{social_worker['id']}", headers=as_("slagelse"))).status_code == 200
    forged = {**social_worker, "identifier": [*social_worker["identifier"], {"system": SOR, "value": cast.X_SOR}]}
    edit = await client.put(f"/fhir/Practitioner/{social_worker['id']}", json=forged, headers=as_("slagelse"))
    assert edit.status_code == 404, "a plan's records are written through /plans by its author only"
    assert await sees_plan(client, as_("x"), plan["planId"]) == (404, 404)


async def test_2_squatting_the_plan_before_its_author_sends_it(client: httpx.AsyncClient, as_: Headers) -> None:
    document = cast.plan_document()
    own_consent = {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
        "provision": {
            "type": "permit",
            "actor": [
                {
                    "role": {"coding": [{"code": "IRCP"}]},
                    "reference": {"identifier": {"system": SOR, "value": cast.REGION_SOR}},
                }
            ],
        },
    }
    written = await client.post("/fhir/Consent", json=own_consent, headers=as_("x"))
    assert written.status_code == 201, written.text
    squat = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "identifier": [document["source"]],
        "subject": {"display": "the citizen"},
    }
    refused = await client.post("/fhir/CarePlan", json=squat, headers=as_("x"))
    assert refused.status_code == 403
    assert refused.json()["issue"][0]["details"]["coding"][0]["code"] == "plan.source-not-yours"
    future = cast.future_plan_id(document)
    by_id = await client.put(f"/fhir/CarePlan/{future}", json={**squat, "id": future}, headers=as_("x"))
    assert by_id.status_code == 404, "clients may not choose a plan's id (HAPI's NOT_ALLOWED)"
    gp_decoy = {"resourceType": "Organization", "identifier": [{"system": SOR, "value": cast.GP_SOR}], "name": "GP"}
    assert (await client.post("/fhir/Organization", json=gp_decoy, headers=as_("x"))).status_code == 201
    posted = await client.post("/plans", json=document, headers=as_("region"))
    assert posted.status_code == 201 and posted.json()["created"] is True
    plan_id = posted.json()["planId"]
    assert plan_id == future
    stored = (await client.get(f"/fhir/CarePlan/{plan_id}", headers=as_("region"))).json()
    assert stored["meta"]["source"] == f"https://sor2.sum.dsdn.dk/#id={cast.REGION_SOR}"
    assert await sees_plan(client, as_("x"), plan_id) == (404, 404)
    assert await sees_plan(client, as_("slagelse"), plan_id) == (200, 200)
    withdrawn = cast.plan_document(decision="withdrawn")
    assert (await client.put(f"/plans/{plan_id}", json=withdrawn, headers=as_("region"))).status_code == 200
    assert await sees_plan(client, as_("slagelse"), plan_id) == (404, 404), "the withdrawal could be recorded"


async def test_2b_a_source_system_of_another_organisation_is_refused_at_plans(
    client: httpx.AsyncClient, as_: Headers
) -> None:
    response = await client.post("/plans", json=cast.plan_document(), headers=as_("x"))
    assert response.status_code == 403
    assert response.json()["issue"][0]["details"]["coding"][0]["code"] == "plan.source-not-yours"
    assert (await client.post("/plans", json=cast.plan_document(), headers=as_("region"))).status_code == 201


async def test_3_a_municipality_code_does_not_stand_for_the_social_workers_department(
    client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    assert cast.CLIENTS["x"][0]["municipality"] == cast.CLIENTS["slagelse"][0]["municipality"] == "0330"
    assert await sees_plan(client, as_("x"), plan["planId"]) == (404, 404)
    search = await client.get("/fhir/CarePlan?status=active", headers=as_("x"))
    assert search.json()["total"] == 0


async def test_4_crisis_plans_follow_the_consented_categories(
    client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    consents = await region_copy(client, as_, "Consent", plan)
    crisis = [c for c in consents if c["scope"]["coding"][0]["code"] == "adr"]
    assert len(crisis) == 2, "a crisis plan and an advance directive"
    for resource in crisis:
        assert (await client.get(f"/fhir/Consent/{resource['id']}", headers=as_("slagelse"))).status_code == 404
    patient = plan["resources"]["Patient"][0]
    listed = (await client.get(f"/fhir/Consent?patient={patient}", headers=as_("slagelse"))).json()
    assert [e["resource"]["scope"]["coding"][0]["code"] for e in listed["entry"]] == ["patient-privacy"]
    document = await client.get(f"/plans/{plan['planId']}", headers=as_("slagelse"))
    assert document.status_code == 200
    assert document.json().get("crisis_plans", []) == [], "left out of the document, as from /fhir"
    assert len((await client.get(f"/plans/{plan['planId']}", headers=as_("region"))).json()["crisis_plans"]) == 2
    everything = cast.plan_document(data=["careplan", "careteam", "crisisplan"])
    assert (await client.put(f"/plans/{plan['planId']}", json=everything, headers=as_("region"))).status_code == 200
    for resource in crisis:
        assert (await client.get(f"/fhir/Consent/{resource['id']}", headers=as_("slagelse"))).status_code == 200


async def test_5_consent_is_per_plan(client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]) -> None:
    first = plan["planId"]
    withdrawn = cast.plan_document(decision="withdrawn")
    assert (await client.put(f"/plans/{first}", json=withdrawn, headers=as_("region"))).status_code == 200
    assert await sees_plan(client, as_("slagelse"), first) == (404, 404)
    second = await client.post("/plans", json=cast.plan_document("KIP-2025-000999"), headers=as_("region"))
    assert second.status_code == 201
    assert await sees_plan(client, as_("slagelse"), second.json()["planId"]) == (200, 200)
    assert await sees_plan(client, as_("slagelse"), first) == (404, 404), "the second plan does not reopen the first"
    assert second.json()["resources"]["Patient"] == plan["resources"]["Patient"], "one Patient per author"
