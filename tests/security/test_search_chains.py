"""Chains, `_has` and `_include:iterate` under the access rule: organisation X, which the citizen never named, uses
them to learn of the plan's hidden resources. Each attack is checked against the plan's author, for whom the same
request finds something: the attack is real, the rule is what stops it."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.security.conftest import Headers
from tests.support import cast
from tests.support.direct import write_directly

CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"


def found(response: httpx.Response, mode: str = "match") -> set[str]:
    assert response.status_code == 200, response.text
    return {e["resource"]["id"] for e in response.json().get("entry", []) if e["search"]["mode"] == mode}


async def test_a_chain_does_not_match_through_a_hidden_patient(
    app: FastAPI, client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    patient = plan["resources"]["Patient"][0]
    # X's own CareTeam about the citizen (the plan's ids can be guessed); a chain through the hidden Patient would
    # confirm whose CPR number that id carries.
    own = {"resourceType": "CareTeam", "status": "active", "subject": {"reference": f"Patient/{patient}"}}
    assert (await client.post("/fhir/CareTeam", json=own, headers=as_("x"))).status_code == 422  # the API refuses it
    write_directly(app, own, cast.X_SOR)  # as data written without the check holds it
    query = f"/fhir/CareTeam?patient.identifier={CPR_SYSTEM}|{cast.CPR}&_total=accurate"
    assert found(await client.get(query, headers=as_("x"))) == set()
    assert (await client.get(query, headers=as_("x"))).json()["total"] == 0
    assert found(await client.get(f"/fhir/CareTeam?subject:Patient.identifier={cast.CPR}", headers=as_("x"))) == set()
    assert found(await client.get(query, headers=as_("region"))), "the author's own team matches the same chain"


async def test_has_does_not_match_through_hidden_resources(
    client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    patient = plan["resources"]["Patient"][0]
    # The organisation directory is open to X; which organisations take part in the citizen's team is not.
    query = f"/fhir/Organization?_has:CareTeam:participant:patient={patient}"
    assert found(await client.get(query, headers=as_("region"))), "the author sees the team's organisations"
    assert found(await client.get(query, headers=as_("x"))) == set()
    counted = await client.get(query + "&_summary=count", headers=as_("x"))
    assert counted.json()["total"] == 0
    by_cpr = f"/fhir/Organization?_has:CareTeam:participant:patient.identifier={cast.CPR}"
    assert (await client.get(by_cpr, headers=as_("x"))).status_code == 400, "_has takes no chain inside"


async def test_includes_and_iterate_bring_in_nothing_hidden(
    app: FastAPI, client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    patient = plan["resources"]["Patient"][0]
    own = {"resourceType": "CareTeam", "status": "active", "subject": {"reference": f"Patient/{patient}"}}
    write_directly(app, own, cast.X_SOR)  # the API refuses the reference; data written without the check holds it
    forward = "/fhir/CareTeam?_include=CareTeam:patient&_revinclude:iterate=CarePlan:patient"
    assert found(await client.get(forward, headers=as_("x")), "include") == set()
    assert found(await client.get(forward, headers=as_("region")), "include") >= {patient, plan["planId"]}
    backward = "/fhir/Organization?_revinclude=CareTeam:participant&_include:iterate=CareTeam:patient"
    assert found(await client.get(backward, headers=as_("x")), "include") == set()
    assert patient in found(await client.get(backward, headers=as_("region")), "include")
