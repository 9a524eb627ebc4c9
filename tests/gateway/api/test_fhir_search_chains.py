"""Chained parameters, reverse chaining (`_has`) and `_include:iterate` (R4 search.html#chaining, #has, #revinclude)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest


async def post(client: httpx.AsyncClient, resource: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"/fhir/{resource['resourceType']}", json=resource)
    assert response.status_code == 201, response.text
    return response.json()


def ids(bundle: dict[str, Any], mode: str = "match") -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode}


async def get(client: httpx.AsyncClient, path: str) -> dict[str, Any]:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def world(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    ann = await post(
        client,
        {"resourceType": "Patient", "identifier": [{"system": "urn:cpr", "value": "1"}], "name": [{"family": "Ann"}]},
    )
    bo = await post(
        client,
        {"resourceType": "Patient", "identifier": [{"system": "urn:cpr", "value": "2"}], "name": [{"family": "Bo"}]},
    )
    doctor = await post(client, {"resourceType": "Practitioner", "name": [{"family": "Læge"}]})
    team = await post(
        client,
        {
            "resourceType": "CareTeam",
            "status": "active",
            "subject": {"reference": f"Patient/{ann['id']}"},
            "participant": [{"member": {"reference": f"Practitioner/{doctor['id']}"}}],
        },
    )

    def plan(patient: dict[str, Any], status: str, **more: Any) -> dict[str, Any]:
        return {
            "resourceType": "CarePlan",
            "status": status,
            "intent": "plan",
            "subject": {"reference": f"Patient/{patient['id']}"},
            **more,
        }

    anns = await post(client, plan(ann, "active", careTeam=[{"reference": f"CareTeam/{team['id']}"}]))
    bos = await post(client, plan(bo, "draft"))
    return {"ann": ann, "bo": bo, "doctor": doctor, "team": team, "anns": anns, "bos": bos}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("subject:Patient.identifier=urn:cpr|1", {"anns"}),
        ("patient.identifier=urn:cpr|2", {"bos"}),
        ("patient.name=ann", {"anns"}),
        ("patient.family:exact=Bo", {"bos"}),
        ("patient.identifier=urn:cpr|1,urn:cpr|2", {"anns", "bos"}),
        ("patient.identifier=urn:cpr|3", set()),
        ("care-team.status=active", {"anns"}),
        ("patient._id={bo}", {"bos"}),
    ],
)
async def test_chained_parameters(
    client: httpx.AsyncClient, world: dict[str, Any], query: str, expected: set[str]
) -> None:
    bundle = await get(client, "/fhir/CarePlan?" + query.format(bo=world["bo"]["id"]))
    assert ids(bundle) == {world[name]["id"] for name in expected}
    assert bundle["total"] == len(expected)


@pytest.mark.parametrize(
    "query",
    [
        "subject.identifier=urn:cpr|1",  # subject may be a Patient or a Group: the type must be named
        "subject:Organization.name=x",  # not a target of subject
        "patient.colour=x",
        "patient.organization.name=x",  # one level only
        "status.code=x",  # not a reference parameter
    ],
)
async def test_chains_that_cannot_be_answered_are_400(client: httpx.AsyncClient, query: str) -> None:
    assert (await client.get(f"/fhir/CarePlan?{query}")).status_code == 400


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/fhir/Patient?_has:CarePlan:patient:status=active", {"ann"}),
        ("/fhir/Patient?_has:CarePlan:subject:status=draft", {"bo"}),
        ("/fhir/Patient?_has:CarePlan:patient:status=active,draft", {"ann", "bo"}),
        ("/fhir/Patient?_has:CarePlan:patient:status=revoked", set()),
        ("/fhir/Practitioner?_has:CareTeam:participant:status=active", {"doctor"}),
        ("/fhir/Patient?_has:CarePlan:patient:status=active&name=bo", set()),
    ],
)
async def test_reverse_chaining(
    client: httpx.AsyncClient, world: dict[str, Any], path: str, expected: set[str]
) -> None:
    assert ids(await get(client, path)) == {world[name]["id"] for name in expected}


@pytest.mark.parametrize(
    "query",
    [
        "_has:CarePlan:patient",
        "_has:Nothing:patient:status",
        "_has:CarePlan:goal:status",
        "_has:AuditEvent:patient:type",
    ],
)
async def test_has_that_cannot_be_answered_is_400(client: httpx.AsyncClient, query: str) -> None:
    assert (await client.get(f"/fhir/Patient?{query}=x")).status_code == 400


async def test_include_iterate_follows_what_was_included(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    plain = await get(client, "/fhir/CarePlan?status=active&_include=CarePlan:care-team")
    assert ids(plain, "include") == {world["team"]["id"]}
    not_iterated = await client.get("/fhir/CarePlan?_include=CarePlan:care-team&_include=CareTeam:participant")
    assert not_iterated.status_code == 400, "another type's include needs :iterate"
    iterated = await get(
        client, "/fhir/CarePlan?status=active&_include=CarePlan:care-team&_include:iterate=CareTeam:participant"
    )
    assert ids(iterated, "include") == {world["team"]["id"], world["doctor"]["id"]}
    assert ids(iterated) == {world["anns"]["id"]}


async def test_revinclude_iterate(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    bundle = await get(
        client,
        f"/fhir/Practitioner?_id={world['doctor']['id']}"
        "&_revinclude=CareTeam:participant&_revinclude:iterate=CarePlan:care-team",
    )
    assert ids(bundle, "include") == {world["team"]["id"], world["anns"]["id"]}


async def test_include_takes_no_other_modifier(client: httpx.AsyncClient) -> None:
    assert (await client.get("/fhir/CarePlan?_include:deep=CarePlan:care-team")).status_code == 400


@pytest.mark.parametrize(
    "query", ["patient.identifier=urn:cpr|1", "agent:Practitioner.name=x", "_has:CarePlan:patient:status=active"]
)
async def test_the_audit_trail_takes_no_chains(client: httpx.AsyncClient, query: str) -> None:
    assert (await client.get(f"/fhir/AuditEvent?{query}")).status_code == 400
