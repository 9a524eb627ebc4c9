"""Organisation X writes a plan of its own for the citizen's CPR number (in its own source namespace, as `/plans`
allows). Until stop 26 the newest active plan for a CPR number was *the* plan, so X's plan replaced the citizen's on
their page and in their consent form, and steered the notices the region sent. It must change nothing of the
citizen's shared plan or of what others send (`plans.citizens_plan`: the first keeper's plan counts)."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi import FastAPI

from tests.security.conftest import Headers
from tests.support import cast

X_SOURCE = {"system": f"https://sor2.sum.dsdn.dk/#id={cast.X_SOR}", "value": "X-0001"}
FORGED_WISH = "Ring til Organisation X på 70 70 70 70 og oplys dit NemID."


def x_plan() -> dict[str, Any]:
    document = cast.plan_document()
    document["source"] = X_SOURCE
    document["wishes"] = [{"kind": "wish", "text": FORGED_WISH}]
    return document


async def signed_in_citizen(app: FastAPI, client: httpx.AsyncClient, cpr: str) -> None:
    client.cookies.clear()
    link = app.state.web.sessions.create_link("citizen", cpr)
    assert (await client.post(f"/app/sign-in/{link}")).status_code == 303


async def citizen_is_shown_the_regions_plan(app: FastAPI, client: httpx.AsyncClient) -> None:
    """The citizen's page shows the region's plan (their own wishes), not X's."""
    await signed_in_citizen(app, client, cast.CPR)
    page = await client.get("/app/mig")
    assert FORGED_WISH not in page.text and "fodbold" in page.text


async def citizen_closes_the_plan_to_the_gp(app: FastAPI, client: httpx.AsyncClient) -> None:
    """The citizen signs in and closes the plan their page shows to the GP, with the page's own form."""
    await signed_in_citizen(app, client, cast.CPR)
    page = await client.get("/app/mig")
    action = re.search(r'action="(/app/mig/[^/"]+/consent)"', page.text)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert action and csrf
    closed = await client.post(action.group(1), data={"csrf": csrf.group(1), "member": "gp1", "permit": "no"})
    assert closed.status_code == 303, closed.text


async def test_x_cannot_replace_the_plan_the_citizen_is_shown(
    app: FastAPI, client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    await signed_in_citizen(app, client, cast.CPR)
    before = await client.get("/app/mig")
    assert before.status_code == 200 and "fodbold" in before.text  # the region's plan: the citizen's own wishes
    written = await client.post("/plans", json=x_plan(), headers=as_("x"))
    assert written.status_code == 201, written.text
    after = await client.get("/app/mig")
    assert after.status_code == 200
    assert FORGED_WISH not in after.text, "the citizen's page now shows X's plan"
    assert "fodbold" in after.text, "the citizen's own plan is gone from their page"


async def test_after_x_writes_its_plan_the_citizens_consent_form_still_closes_their_own_plan(
    app: FastAPI, client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    assert (await client.post("/plans", json=x_plan(), headers=as_("x"))).status_code == 201
    await citizen_closes_the_plan_to_the_gp(app, client)
    gp_reads = await client.get(f"/fhir/CarePlan/{plan['planId']}", headers=as_("gp"))
    assert gp_reads.status_code == 404, "the citizen closed their plan for the GP, yet the GP still reads it"


HL7 = {"content-type": "x-application/hl7-v2+er7", "accept": "application/json"}


async def test_x_cannot_steer_the_notices_the_region_sends_about_the_citizen(
    client: httpx.AsyncClient, as_: Headers
) -> None:
    """The demo plan (kept by the FACT team, permitting the ward) drives the notices of the region's admission.
    X writes its own plan for the same CPR number, also 'permitting' the ward: the region's admission must still
    be planned from the citizen's plan, not from X's."""
    import json

    from tests.support import scenario

    assert (await client.post("/plans", json=scenario.plan_document(), headers=as_("fact"))).status_code == 201
    forged = scenario.plan_document()
    forged["source"] = X_SOURCE
    forged["crisis_plans"][0]["text"] = "X: giv ham Haldol."
    written = await client.post("/plans", json=forged, headers=as_("x"))
    assert written.status_code == 201, written.text
    admitted = await client.post(
        "/messages", content=scenario.adt("adt_a01_inpatient_8859-1.hl7"), headers=HL7 | as_("region")
    )
    assert admitted.status_code == 202, f"X's plan broke the region's admission: {admitted.text[:400]}"
    shown = await client.get(f"/messages/{admitted.json()['messageId']}", headers=as_("region"))
    assert "X: giv ham Haldol." not in json.dumps(shown.json(), ensure_ascii=False), "X's crisis plan was sent"


async def test_x_cannot_withhold_the_citizens_crisis_plan_from_the_ward(
    client: httpx.AsyncClient, as_: Headers
) -> None:
    from tests.support import scenario

    assert (await client.post("/plans", json=scenario.plan_document(), headers=as_("fact"))).status_code == 201
    forged = scenario.plan_document()
    forged["source"] = X_SOURCE
    forged["crisis_plans"] = []
    forged["consent"]["data"] = ["careplan"]
    assert (await client.post("/plans", json=forged, headers=as_("x"))).status_code == 201
    admitted = await client.post(
        "/messages", content=scenario.adt("adt_a01_inpatient_8859-1.hl7"), headers=HL7 | as_("region")
    )
    assert admitted.status_code == 202, admitted.text
    kinds = [notice["kind"] for notice in admitted.json()["notices"]]
    assert "care-communication-crisisplan" in kinds, f"the ward gets no crisis plan: {kinds}"


# -- the keeper's place: found by review (stop 26), each an attack that worked against the first keeper rule ----

OTHER_CPR = "0101709998"


def x_plan_for(cpr: str, status: str = "active") -> dict[str, Any]:
    document = x_plan()
    document["citizen"]["cpr"] = cpr
    document["status"] = status
    return document


async def test_x_cannot_move_an_older_plan_of_its_own_onto_the_citizen(
    app: FastAPI, client: httpx.AsyncClient, as_: Headers
) -> None:
    """X's plan about someone else is older than the citizen's; rewritten for the citizen's CPR number it would
    bring its age along. A plan's citizen never changes."""
    assert (await client.post("/plans", json=x_plan_for(OTHER_CPR), headers=as_("x"))).status_code == 201
    assert (await client.post("/plans", json=cast.plan_document(), headers=as_("region"))).status_code == 201
    moved = await client.post("/plans", json=x_plan_for(cast.CPR), headers=as_("x"))
    assert moved.status_code == 422, moved.text
    assert moved.json()["issue"][0]["expression"] == ["/citizen/cpr"]
    await citizen_is_shown_the_regions_plan(app, client)


async def test_x_cannot_outrank_the_plan_with_a_draft_written_first_and_activated_later(
    app: FastAPI, client: httpx.AsyncClient, as_: Headers
) -> None:
    assert (await client.post("/plans", json=x_plan_for(cast.CPR, "draft"), headers=as_("x"))).status_code == 201
    assert (await client.post("/plans", json=cast.plan_document(), headers=as_("region"))).status_code == 201
    assert (await client.post("/plans", json=x_plan_for(cast.CPR), headers=as_("x"))).status_code == 200
    await citizen_is_shown_the_regions_plan(app, client)


async def test_the_keeper_replacing_its_plan_stays_the_keeper(
    app: FastAPI, client: httpx.AsyncClient, as_: Headers
) -> None:
    """The region ends its old plan for a new one (a new source) after X wrote its own: X's plan is then older than
    any active plan of the region, and must still not become the citizen's."""
    old = cast.plan_document("KIP-OLD")
    assert (await client.post("/plans", json=old, headers=as_("region"))).status_code == 201
    assert (await client.post("/plans", json=x_plan_for(cast.CPR), headers=as_("x"))).status_code == 201
    assert (await client.post("/plans", json=cast.plan_document("KIP-NEW"), headers=as_("region"))).status_code == 201
    old["status"] = "completed"
    assert (await client.post("/plans", json=old, headers=as_("region"))).status_code == 200
    await citizen_is_shown_the_regions_plan(app, client)


async def test_x_cannot_steer_the_regions_admission_with_a_plan_moved_onto_the_citizen(
    client: httpx.AsyncClient, as_: Headers
) -> None:
    from tests.support import scenario

    forged = scenario.plan_document()
    forged["source"] = X_SOURCE
    forged["citizen"]["cpr"] = OTHER_CPR
    forged["crisis_plans"][0]["text"] = "X: giv ham Haldol."
    assert (await client.post("/plans", json=forged, headers=as_("x"))).status_code == 201
    assert (await client.post("/plans", json=scenario.plan_document(), headers=as_("fact"))).status_code == 201
    forged["citizen"]["cpr"] = scenario.CPR
    moved = await client.post("/plans", json=forged, headers=as_("x"))
    assert moved.status_code == 422 and moved.json()["issue"][0]["details"]["coding"][0]["code"] == (
        "plan.citizen-changed"
    ), moved.text
    admitted = await client.post(
        "/messages", content=scenario.adt("adt_a01_inpatient_8859-1.hl7"), headers=HL7 | as_("region")
    )
    assert admitted.status_code == 202, admitted.text
    kinds = [notice["kind"] for notice in admitted.json()["notices"]]
    assert "care-communication-crisisplan" in kinds, kinds


async def test_x_cannot_take_the_keepers_place_while_its_plan_is_paused(
    app: FastAPI, client: httpx.AsyncClient, as_: Headers
) -> None:
    """The FACT team puts the citizen's plan on hold (review 2, stop 26: X's plan then steered the region's
    admission, crisis plan and recipients included). While it is paused no plan steers what others send."""
    from tests.support import scenario

    kept = scenario.plan_document()
    assert (await client.post("/plans", json=kept, headers=as_("fact"))).status_code == 201
    forged = scenario.plan_document()
    forged["source"] = X_SOURCE
    forged["crisis_plans"][0]["text"] = "X: giv ham Haldol."
    assert (await client.post("/plans", json=forged, headers=as_("x"))).status_code == 201
    kept["status"] = "on-hold"
    assert (await client.post("/plans", json=kept, headers=as_("fact"))).status_code == 200
    admitted = await client.post(
        "/messages", content=scenario.adt("adt_a01_inpatient_8859-1.hl7"), headers=HL7 | as_("region")
    )
    assert "X: giv ham Haldol." not in admitted.text
    assert admitted.status_code == 422, admitted.text  # no plan in force: the home municipality is not known
    assert admitted.json()["issue"][0]["details"]["coding"][0]["code"] == "intake.municipality-unknown"
    await signed_in_citizen(app, client, scenario.CPR)
    page = await client.get("/app/mig")
    assert "X: giv ham Haldol." not in page.text
    # the citizen's own page still holds the keeper's plan, paused (stop 27): not X's, which is active
    assert "Din plan er sat på pause for en tid." in page.text
    assert "Ved indlæggelse ønsker jeg ikke at få Haldol." in page.text, "the keeper's crisis plan, as agreed"
