"""Issue 14's REST interactions under the access rule: PATCH, conditional patch, conditional delete and conditional
reads (304) tried by Organisation X, which the citizen never named, and by the organisations the citizen did name
(who may read the plan but not write it through `/fhir`). Each answer is what an update, delete or read gives the
same caller: nothing is revealed, nothing is changed."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.security.conftest import Headers
from tests.security.test_hidden_is_missing import both
from tests.support import cast

JSON_PATCH = {"Content-Type": "application/json-patch+json"}
REPLACE = [{"op": "replace", "path": "/status", "value": "revoked"}]


def fhirpath_patch() -> dict[str, Any]:
    part = [
        {"name": "type", "valueCode": "replace"},
        {"name": "path", "valueString": "CarePlan.status"},
        {"name": "value", "valueCode": "revoked"},
    ]
    return {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": part}]}


async def version_of(client: httpx.AsyncClient, as_: Headers, plan_id: str) -> str:
    response = await client.get(f"/fhir/CarePlan/{plan_id}", headers=as_("region"))
    assert response.status_code == 200
    return str(response.json()["meta"]["versionId"])


@pytest.mark.parametrize("kind", ["json patch", "fhirpath patch", "json patch with If-Match"])
async def test_x_patching_a_hidden_plan_answers_as_for_a_missing_one(
    client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any], kind: str
) -> None:
    x = as_("x")

    async def patch(resource_id: str) -> httpx.Response:
        if kind == "fhirpath patch":
            return await client.patch(f"/fhir/CarePlan/{resource_id}", json=fhirpath_patch(), headers=x)
        headers = {**x, **JSON_PATCH} | ({"If-Match": 'W/"1"'} if "If-Match" in kind else {})
        return await client.patch(f"/fhir/CarePlan/{resource_id}", json=REPLACE, headers=headers)

    seen_hidden, seen_missing = await both(client, plan["planId"], patch)
    assert seen_hidden == seen_missing
    assert seen_hidden[0] == 404
    assert await version_of(client, as_, plan["planId"]) == "1"


async def test_a_named_organisation_patching_gets_what_an_update_gets(
    client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    plan_id = plan["planId"]
    slagelse = as_("slagelse")
    current = (await client.get(f"/fhir/CarePlan/{plan_id}", headers=slagelse)).json()
    update = await client.put(f"/fhir/CarePlan/{plan_id}", json={**current, "status": "revoked"}, headers=slagelse)
    patch = await client.patch(f"/fhir/CarePlan/{plan_id}", json=REPLACE, headers={**slagelse, **JSON_PATCH})
    assert patch.status_code == update.status_code
    assert patch.json()["issue"][0]["details"] == update.json()["issue"][0]["details"]
    # even the plan's author changes a shared plan through /plans only (422, as its update)
    region = await client.patch(f"/fhir/CarePlan/{plan_id}", json=REPLACE, headers={**as_("region"), **JSON_PATCH})
    assert region.status_code == 422
    assert await version_of(client, as_, plan_id) == "1"


async def test_x_conditional_patch_never_reaches_what_it_may_not_see(
    client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    headers = {**as_("x"), **JSON_PATCH}
    by_id = await client.patch(f"/fhir/CarePlan?_id={plan['planId']}", json=REPLACE, headers=headers)
    by_nothing = await client.patch("/fhir/CarePlan?_id=no-such-plan", json=REPLACE, headers=headers)
    assert by_id.status_code == by_nothing.status_code == 404
    assert by_id.json()["issue"][0]["details"] == by_nothing.json()["issue"][0]["details"]
    assert await version_of(client, as_, plan["planId"]) == "1"


@pytest.mark.parametrize("who", ["x", "slagelse"])
async def test_conditional_delete_never_reaches_what_is_not_the_callers(
    client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any], who: str
) -> None:
    headers = as_(who)

    async def delete(resource_id: str) -> httpx.Response:
        return await client.delete(f"/fhir/CarePlan?_id={resource_id}", headers=headers)

    seen_hidden, seen_missing = await both(client, plan["planId"], delete)
    assert seen_hidden == seen_missing
    assert seen_hidden[0] == 204
    patient = plan["resources"]["Patient"][0]
    assert (await client.delete(f"/fhir/Patient?_id={patient}", headers=headers)).status_code == 204
    assert (await client.delete("/fhir/CarePlan?status=active", headers=headers)).status_code == 204
    assert (await client.get(f"/fhir/Patient/{patient}", headers=as_("region"))).status_code == 200
    assert await version_of(client, as_, plan["planId"]) == "1"


async def test_another_organisations_match_neither_blocks_nor_falls_with_a_conditional_delete(
    client: httpx.AsyncClient, as_: Headers
) -> None:
    """Organizations are open: X sees the region's. The region's match is not X's to delete, and does not make
    X's single match 'several' either."""
    body = {"resourceType": "Organization", "name": "Fælles", "identifier": [{"system": "urn:x", "value": "same"}]}
    region = await client.post("/fhir/Organization", json=body, headers=as_("region"))
    mine = await client.post("/fhir/Organization", json=body, headers=as_("x"))
    assert region.status_code == mine.status_code == 201
    response = await client.delete("/fhir/Organization?identifier=urn:x|same", headers=as_("x"))
    assert response.status_code == 204
    assert (await client.get(f"/fhir/Organization/{mine.json()['id']}", headers=as_("x"))).status_code == 410
    assert (await client.get(f"/fhir/Organization/{region.json()['id']}", headers=as_("x"))).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{"If-None-Match": 'W/"1"'}, {"If-None-Match": "*"}, {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}],
)
@pytest.mark.parametrize("path", ["", "/_history/1"])
async def test_a_conditional_read_of_a_hidden_resource_is_a_404_like_a_missing_one(
    client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any], headers: dict[str, str], path: str
) -> None:
    x = as_("x") | headers

    async def read(resource_id: str) -> httpx.Response:
        return await client.get(f"/fhir/CarePlan/{resource_id}{path}", headers=x)

    seen_hidden, seen_missing = await both(client, plan["planId"], read)
    assert seen_hidden == seen_missing
    assert seen_hidden[0] == 404
    # the organisation the citizen named gets its 304
    named = await client.get(f"/fhir/CarePlan/{plan['planId']}{path}", headers=as_("slagelse") | headers)
    assert named.status_code == 304


@pytest.mark.parametrize("accept", ["application/fhir+xml", "application/xml"])
async def test_xml_answers_show_a_hidden_resource_as_a_missing_one(
    client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any], accept: str
) -> None:
    x = as_("x") | {"Accept": accept}

    async def read(resource_id: str) -> httpx.Response:
        return await client.get(f"/fhir/CarePlan/{resource_id}?_format={accept}", headers=x)

    seen_hidden, seen_missing = await both(client, plan["planId"], read)
    assert seen_hidden == seen_missing
    assert seen_hidden[0] == 404 and "<OperationOutcome" in seen_hidden[2]

    async def update(resource_id: str) -> httpx.Response:
        body = (
            f'<CarePlan xmlns="http://hl7.org/fhir"><id value="{resource_id}"/><status value="active"/>'
            '<intent value="plan"/><subject><reference value="Patient/p"/></subject></CarePlan>'
        )
        return await client.put(
            f"/fhir/CarePlan/{resource_id}", content=body, headers=x | {"Content-Type": "application/fhir+xml"}
        )

    seen_hidden, seen_missing = await both(client, plan["planId"], update)
    assert seen_hidden == seen_missing
    assert await version_of(client, as_, plan["planId"]) == "1"


async def test_x_patch_entries_in_a_batch_answer_as_for_a_missing_resource(
    client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    x = as_("x")

    async def batch(resource_id: str) -> httpx.Response:
        entries = [
            {"resource": fhirpath_patch(), "request": {"method": "PATCH", "url": f"CarePlan/{resource_id}"}},
            {"resource": fhirpath_patch(), "request": {"method": "PATCH", "url": f"CarePlan?_id={resource_id}"}},
        ]
        return await client.post("/fhir", json={"resourceType": "Bundle", "type": "batch", "entry": entries}, headers=x)

    seen_hidden, seen_missing = await both(client, plan["planId"], batch)
    hidden_entries = [entry["response"] for entry in json.loads(seen_hidden[2])["entry"]]
    missing_entries = [entry["response"] for entry in json.loads(seen_missing[2])["entry"]]
    assert hidden_entries == missing_entries
    assert [response["status"] for response in hidden_entries] == ["404 Not Found"] * 2
    assert await version_of(client, as_, plan["planId"]) == "1"


async def test_x_transactions_find_nothing_by_conditional_reference_delete_or_if_match(
    client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    """Issue 14's transaction rules tried by X: a conditional reference to the hidden plan, or to the citizen's
    Patient by CPR number, matches nothing; a conditional delete of it deletes nothing; a DELETE with If-Match
    answers as for a missing plan. Every answer is what the same request about a missing resource gets."""
    x = as_("x")
    organization = {"resourceType": "Organization", "name": "X's"}

    def referring(reference: str) -> dict[str, Any]:
        entry = {
            "resource": {**organization, "partOf": {"reference": reference}},
            "request": {"method": "POST", "url": "Organization"},
        }
        return {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}

    async def by_id(resource_id: str) -> httpx.Response:
        return await client.post("/fhir", json=referring(f"CarePlan?_id={resource_id}"), headers=x)

    seen_hidden, seen_missing = await both(client, plan["planId"], by_id)
    assert seen_hidden == seen_missing
    assert seen_hidden[0] == 404

    async def by_cpr(cpr: str) -> httpx.Response:
        return await client.post(
            "/fhir", json=referring(f"Patient?identifier=urn:oid:1.2.208.176.1.2|{cpr}"), headers=x
        )

    citizen, nobody = await by_cpr(cast.CPR), await by_cpr("0101709998")
    assert citizen.status_code == nobody.status_code == 404
    assert citizen.text.replace(cast.CPR, "<cpr>") == nobody.text.replace("0101709998", "<cpr>")

    async def deleting(resource_id: str) -> httpx.Response:
        entries = [
            {"request": {"method": "DELETE", "url": f"CarePlan?_id={resource_id}"}},
            {"request": {"method": "DELETE", "url": f"CarePlan/{resource_id}", "ifMatch": 'W/"1"'}},
        ]
        return await client.post("/fhir", json={"resourceType": "Bundle", "type": "batch", "entry": entries}, headers=x)

    seen_hidden, seen_missing = await both(client, plan["planId"], deleting)
    hidden_entries = [entry["response"] for entry in json.loads(seen_hidden[2])["entry"]]
    assert hidden_entries == [entry["response"] for entry in json.loads(seen_missing[2])["entry"]]
    assert [response["status"] for response in hidden_entries] == ["204 No Content", "404 Not Found"]

    async def rest_delete(resource_id: str) -> httpx.Response:
        return await client.delete(f"/fhir/CarePlan/{resource_id}", headers=x | {"If-Match": 'W/"1"'})

    seen_hidden, seen_missing = await both(client, plan["planId"], rest_delete)
    assert seen_hidden == seen_missing
    assert seen_hidden[0] == 404
    assert await version_of(client, as_, plan["planId"]) == "1"
