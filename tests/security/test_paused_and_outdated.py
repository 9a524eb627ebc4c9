"""Stop 27's two consent changes, attacked by Organisation X, whom the citizen never named: the citizen's page now
keeps the keeper's plan while it is on hold (`citizens_plan(paused=True)`), and a plan write whose consent is not a
newer decision than the stored one is refused with 409 `plan.consent-outdated`. Neither may show X anything: a
paused plan answers X as a missing one on every route, and X never meets the consent check on another's plan (its
answer would tell that the citizen changed their consent)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.security.conftest import Headers
from tests.security.test_hidden_is_missing import Answer, both
from tests.security.test_second_plan import X_SOURCE, citizen_closes_the_plan_to_the_gp, signed_in_citizen
from tests.support import cast


@pytest.fixture
async def paused(client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]) -> str:
    """The region's plan, put on hold by the region: what the citizen's page now keeps."""
    on_hold = cast.plan_document() | {"status": "on-hold"}
    assert (await client.put(f"/plans/{plan['planId']}", json=on_hold, headers=as_("region"))).status_code == 200
    return str(plan["planId"])


@pytest.mark.parametrize(
    "route",
    [
        "/fhir/CarePlan/{}",
        "/fhir/CarePlan/{}/_history",
        "/fhir/CarePlan?_id={}&_include=CarePlan:subject&_include=CarePlan:care-team",
        "/fhir/Patient?_has:CarePlan:patient:_id={}",
        "/plans/{}",
    ],
)
async def test_x_reads_nothing_of_a_paused_plan(
    client: httpx.AsyncClient, as_: Headers, paused: str, route: str
) -> None:
    async def get(plan_id: str) -> httpx.Response:
        return await client.get(route.format(plan_id), headers=as_("x"))

    seen_paused, seen_missing = await both(client, paused, get)
    assert without_bundle_stamp(seen_paused) == without_bundle_stamp(seen_missing)
    assert seen_paused[0] in (200, 404)
    if seen_paused[0] == 200:  # a search: its links echo the id X asked about, and nothing else of the plan
        assert json.loads(seen_paused[2]).get("entry", []) == [] and json.loads(seen_paused[2])["total"] == 0
    control = await client.get(route.format(paused), headers=as_("region"))  # the route does reach the plan
    assert control.status_code == 200 and (route.startswith("/plans") or control.json().get("total", 1) >= 1)


def without_bundle_stamp(seen: Answer) -> Answer:
    """A search Bundle's own id and time differ on every request, whatever was asked for."""
    status, headers, body = seen
    if status != 200:
        return seen
    bundle = json.loads(body)
    bundle.pop("id", None)
    bundle.pop("meta", None)
    return status, {k: v for k, v in headers.items() if k != "content-length"}, json.dumps(bundle)


async def test_x_finds_no_paused_plan_by_the_citizens_number(
    client: httpx.AsyncClient, as_: Headers, paused: str
) -> None:
    x = as_("x")
    searched = await client.get(
        f"/fhir/Patient?identifier=urn:oid:1.2.208.176.1.2|{cast.CPR}&_revinclude=CarePlan:subject", headers=x
    )
    assert searched.status_code == 200
    assert paused not in searched.text and searched.json().get("total", 0) == 0
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": f"CarePlan?status=on-hold&_id={paused}"}}],
    }
    answered = await client.post("/fhir", json=batch, headers=x)
    assert answered.status_code == 200
    found = answered.json()["entry"][0]["resource"]
    assert found["total"] == 0 and found.get("entry", []) == []


@pytest.mark.parametrize("path", ["/app/plans/{}", "/app/plans/{}/plan.pdf"])
async def test_x_on_the_team_page_of_a_paused_plan(
    app: FastAPI, client: httpx.AsyncClient, paused: str, path: str
) -> None:
    link = app.state.web.sessions.create_link("organisation", "x")
    assert (await client.post(f"/app/sign-in/{link}")).status_code == 303

    async def get(plan_id: str) -> httpx.Response:
        return await client.get(path.format(plan_id))

    seen_paused, seen_missing = await both(client, paused, get)
    assert seen_paused == seen_missing and seen_paused[0] == 404


async def test_another_citizen_is_shown_no_paused_plan_and_cannot_write_to_it(
    app: FastAPI, client: httpx.AsyncClient, paused: str
) -> None:
    await signed_in_citizen(app, client, "0101010101")
    page = await client.get("/app/mig")
    assert "Du har ingen fælles plan endnu" in page.text and paused not in page.text
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    tried = await client.post(f"/app/mig/{paused}/consent", data={"csrf": csrf, "member": "gp1", "permit": "yes"})
    assert tried.status_code == 404


async def test_x_sending_the_plan_with_the_old_consent_meets_no_consent_check(
    app: FastAPI, client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    """After the citizen's withdrawal, X's stale write of the region's plan answers as a write of a missing plan
    (never 409, which would tell that the consent changed), and X's own plan for the citizen is not held to the
    region's consent (the same 201 whether or not the citizen withdrew anything there)."""
    await citizen_closes_the_plan_to_the_gp(app, client)

    async def put(plan_id: str) -> httpx.Response:
        return await client.put(f"/plans/{plan_id}", json=cast.plan_document(), headers=as_("x"))

    seen_plan, seen_missing = await both(client, str(plan["planId"]), put)
    assert seen_plan == seen_missing and seen_plan[0] != 409
    as_region_source = await client.post("/plans", json=cast.plan_document(), headers=as_("x"))
    assert as_region_source.status_code == 403, "the source is the region's: refused before any consent is read"
    own = cast.plan_document()
    own["source"] = X_SOURCE
    assert (await client.post("/plans", json=own, headers=as_("x"))).status_code == 201
    assert (await client.get(f"/fhir/CarePlan/{plan['planId']}", headers=as_("gp"))).status_code == 404
