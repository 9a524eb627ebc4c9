"""The FHIR REST interactions through the ASGI app (FHIR R4 http.html)."""

from __future__ import annotations

from typing import Any

import httpx

FHIR = "application/fhir+json"


def care_plan(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/p1"},
        **extra,
    }


async def create(client: httpx.AsyncClient, resource: dict[str, Any], **headers: str) -> httpx.Response:
    return await client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=headers)


async def test_create_assigns_id_and_answers_location_and_etag(client: httpx.AsyncClient) -> None:
    response = await create(client, care_plan(id="client-chosen"))
    assert response.status_code == 201
    body = response.json()
    assert body["id"] != "client-chosen"
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["location"] == f"http://gateway.test/fhir/CarePlan/{body['id']}/_history/1"
    assert response.headers["content-type"].startswith(FHIR)
    assert body["meta"]["versionId"] == "1"


async def test_read_returns_the_stored_resource(client: httpx.AsyncClient) -> None:
    created = (await create(client, care_plan(description="Gode dage på bostedet"))).json()
    response = await client.get(f"/fhir/CarePlan/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created
    assert response.headers["etag"] == 'W/"1"'


async def test_update_bumps_version_and_vread_keeps_the_old_one(client: httpx.AsyncClient) -> None:
    created = (await create(client, care_plan())).json()
    changed = {**created, "status": "completed"}
    response = await client.put(f"/fhir/CarePlan/{created['id']}", json=changed, headers={"If-Match": 'W/"1"'})
    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"2"'
    first = await client.get(f"/fhir/CarePlan/{created['id']}/_history/1")
    assert first.json()["status"] == "active"
    second = await client.get(f"/fhir/CarePlan/{created['id']}/_history/2")
    assert second.json()["status"] == "completed"


async def test_stale_if_match_is_412_and_changes_nothing(client: httpx.AsyncClient) -> None:
    created = (await create(client, care_plan())).json()
    await client.put(f"/fhir/CarePlan/{created['id']}", json={**created, "status": "on-hold"})
    response = await client.put(
        f"/fhir/CarePlan/{created['id']}",
        json={**created, "status": "revoked"},
        headers={"If-Match": 'W/"1"'},
    )
    assert response.status_code == 412
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "conflict"
    assert (await client.get(f"/fhir/CarePlan/{created['id']}")).json()["status"] == "on-hold"


async def test_update_of_unknown_id_creates_it(client: httpx.AsyncClient) -> None:
    organisation = {"resourceType": "Organization", "id": "slagelse-kommune", "name": "Slagelse Kommune"}
    response = await client.put("/fhir/Organization/slagelse-kommune", json=organisation)
    assert response.status_code == 201
    assert response.headers["location"].endswith("/Organization/slagelse-kommune/_history/1")


async def test_clients_may_not_choose_the_id_of_plan_and_person_resources(client: httpx.AsyncClient) -> None:
    """As HAPI FHIR with ClientIdStrategy NOT_ALLOWED (HAPI-0959, 404): nobody occupies an id `/plans` will use."""
    response = await client.put("/fhir/CarePlan/kip-1", json=care_plan(id="kip-1"))
    assert response.status_code == 404
    assert "clients may not assign CarePlan ids" in response.json()["issue"][0]["diagnostics"]
    conditional = await client.put(
        "/fhir/Patient?identifier=urn:oid:1.2.208.176.1.2|0101709998", json={"resourceType": "Patient", "id": "p-9"}
    )
    assert conditional.status_code == 404
    assert (await client.get("/fhir/Patient/p-9")).status_code == 404
    resources = (await client.get("/fhir/metadata")).json()["rest"][0]["resource"]
    update_create = {resource["type"]: resource["updateCreate"] for resource in resources}
    assert update_create["CarePlan"] is False and update_create["Patient"] is False
    assert update_create["Organization"] is True


async def test_update_with_mismatched_id_is_400(client: httpx.AsyncClient) -> None:
    response = await client.put("/fhir/CarePlan/a", json=care_plan(id="b"))
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["CarePlan.id"]


async def test_delete_is_soft_read_is_410_and_history_keeps_it(client: httpx.AsyncClient) -> None:
    created = (await create(client, care_plan())).json()
    deleted = await client.delete(f"/fhir/CarePlan/{created['id']}")
    assert deleted.status_code == 204
    gone = await client.get(f"/fhir/CarePlan/{created['id']}")
    assert gone.status_code == 410
    assert gone.json()["issue"][0]["code"] == "deleted"
    history = (await client.get(f"/fhir/CarePlan/{created['id']}/_history")).json()
    assert history["type"] == "history"
    assert [entry["request"]["method"] for entry in history["entry"]] == ["DELETE", "POST"]
    assert "resource" not in history["entry"][0]
    assert (await client.get(f"/fhir/CarePlan/{created['id']}/_history/1")).status_code == 200
    assert (await client.get(f"/fhir/CarePlan/{created['id']}/_history/2")).status_code == 410


async def test_recreate_after_delete_continues_the_version_line(client: httpx.AsyncClient) -> None:
    created = (await create(client, care_plan())).json()
    await client.delete(f"/fhir/CarePlan/{created['id']}")
    again = await client.put(f"/fhir/CarePlan/{created['id']}", json=created)
    assert again.status_code == 201
    assert again.headers["etag"] == 'W/"3"'


async def test_unknown_resource_and_version_are_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/fhir/CarePlan/nope")).status_code == 404
    created = (await create(client, care_plan())).json()
    assert (await client.get(f"/fhir/CarePlan/{created['id']}/_history/9")).status_code == 404
    assert (await client.delete("/fhir/CarePlan/nope")).status_code == 404
    response = await client.get("/fhir/Spaceship/1")
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_type_history_lists_every_version_newest_first(client: httpx.AsyncClient) -> None:
    first = (await create(client, care_plan())).json()
    await create(client, care_plan())
    await client.put(f"/fhir/CarePlan/{first['id']}", json={**first, "status": "completed"})
    history = (await client.get("/fhir/CarePlan/_history")).json()
    assert history["total"] == 3
    assert history["entry"][0]["response"]["etag"] == 'W/"2"'
    system = (await client.get("/fhir/_history?_count=1")).json()
    assert len(system["entry"]) == 1
    assert any(link["relation"] == "next" for link in system["link"])


async def test_conditional_create_returns_the_existing_match(client: httpx.AsyncClient) -> None:
    identifier = {"system": "urn:oid:1.2.208.176.1.1", "value": "kip-42"}
    first = await create(
        client,
        care_plan(identifier=[identifier]),
        **{"If-None-Exist": "identifier=urn:oid:1.2.208.176.1.1|kip-42"},
    )
    second = await create(
        client,
        care_plan(identifier=[identifier]),
        **{"If-None-Exist": "identifier=urn:oid:1.2.208.176.1.1|kip-42"},
    )
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    search = (await client.get("/fhir/CarePlan?identifier=kip-42")).json()
    assert search["total"] == 1


async def test_conditional_create_with_several_matches_is_412(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        await create(client, care_plan(identifier=[{"system": "urn:x", "value": "dup"}]))
    response = await create(client, care_plan(), **{"If-None-Exist": "identifier=urn:x|dup"})
    assert response.status_code == 412
    assert response.json()["issue"][0]["code"] == "multiple-matches"


async def test_conditional_update_creates_then_updates(client: httpx.AsyncClient) -> None:
    url = "/fhir/CarePlan?identifier=urn:x|kip-7"
    plan = care_plan(identifier=[{"system": "urn:x", "value": "kip-7"}])
    first = await client.put(url, json=plan)
    second = await client.put(url, json={**plan, "status": "completed"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert second.headers["etag"] == 'W/"2"'


async def test_prefer_return_minimal_sends_no_body(client: httpx.AsyncClient) -> None:
    response = await client.post("/fhir/CarePlan", json=care_plan(), headers={"Prefer": "return=minimal"})
    assert response.status_code == 201
    assert response.content == b""
    assert "location" in response.headers


async def test_metadata_lists_what_is_implemented(client: httpx.AsyncClient) -> None:
    statement = (await client.get("/fhir/metadata")).json()
    assert statement["fhirVersion"] == "4.0.1"
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(resources) >= {
        "CarePlan",
        "CareTeam",
        "Consent",
        "Goal",
        "Patient",
        "Practitioner",
        "RelatedPerson",
        "Organization",
    }
    care_plan_params = {p["name"] for p in resources["CarePlan"]["searchParam"]}
    assert {
        "_id",
        "_lastUpdated",
        "identifier",
        "patient",
        "subject",
        "status",
        "category",
        "date",
    } <= care_plan_params
    assert "CarePlan:care-team" in resources["CarePlan"]["searchInclude"]
    assert {i["code"] for i in statement["rest"][0]["interaction"]} == {
        "transaction",
        "batch",
        "history-system",
    }


async def test_update_without_changes_keeps_the_version(client: httpx.AsyncClient) -> None:
    created = (await create(client, care_plan())).json()
    again = await client.put(f"/fhir/CarePlan/{created['id']}", json=created)
    assert again.status_code == 200
    assert again.headers["etag"] == 'W/"1"'
    assert (await client.get(f"/fhir/CarePlan/{created['id']}/_history")).json()["total"] == 1
