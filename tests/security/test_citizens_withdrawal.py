"""The citizen closes their plan to the GP on their own page. Then the region's EHR sends the plan again as it
holds it, for instance after the next coordination meeting, with the consent as it was before the withdrawal.

Found in stop 27: `/plans` was last-writer-wins, so that write gave the GP its access back and nobody was told.
A plan has no version that covers its consent (a change to the consent alone leaves the CarePlan's `versionId`
where it was), so the rule goes by the consent's own decision day (`plans._require_current_consent`): a document
whose consent was decided before the stored one and says something else is refused with 409
`plan.consent-outdated`. A newer decision replaces it (the next meeting's, recorded with its day), and a document
that carries the consent as `GET /plans/{id}` reads it passes."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from tests.security.conftest import Headers
from tests.security.test_second_plan import citizen_closes_the_plan_to_the_gp
from tests.support import cast

#: The day of the tests' clock (`tests/conftest.py`), the day the citizen decides on their page.
CLOCK_DAY = "2026-03-01"


async def test_the_citizens_withdrawal_survives_the_authors_next_write_of_the_plan_as_it_had_it(
    app: FastAPI, client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    await citizen_closes_the_plan_to_the_gp(app, client)
    plan_url = f"/fhir/CarePlan/{plan['planId']}"
    assert (await client.get(plan_url, headers=as_("gp"))).status_code == 404
    stale = cast.plan_document()
    stale["wishes"] = [*stale["wishes"], {"kind": "need", "text": "Hjælp til at handle ind."}]
    again = await client.post("/plans", json=stale, headers=as_("region"))  # its copy, as it was, and a new wish
    assert again.status_code == 409, again.text
    issue = again.json()["issue"][0]
    assert issue["expression"] == ["/consent/decided_on"]
    assert issue["details"]["coding"][0]["code"] == "plan.consent-outdated"
    assert (await client.get(plan_url, headers=as_("gp"))).status_code == 404, "the GP reads the plan again"
    current = (await client.get(f"/plans/{plan['planId']}", headers=as_("region"))).json()
    assert "Hjælp til at handle ind." not in str(current), "nothing of the refused write was stored"


async def test_the_author_writes_on_once_it_sends_the_consent_as_it_reads_it_now(
    app: FastAPI, client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    await citizen_closes_the_plan_to_the_gp(app, client)
    current = (await client.get(f"/plans/{plan['planId']}", headers=as_("region"))).json()
    current["wishes"] = [*current["wishes"], {"kind": "need", "text": "Hjælp til at handle ind."}]
    assert (await client.post("/plans", json=current, headers=as_("region"))).status_code == 200
    assert (await client.get(f"/fhir/CarePlan/{plan['planId']}", headers=as_("gp"))).status_code == 404
    # the citizen's decision still holds after that write: the old consent, now dated the same day, is refused
    same_day = current | {"consent": cast.plan_document()["consent"] | {"decided_on": current["consent"]["decided_on"]}}
    assert (await client.post("/plans", json=same_day, headers=as_("region"))).status_code == 409


async def test_a_newer_decision_recorded_by_the_author_replaces_the_citizens_earlier_one(
    app: FastAPI, client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    """At the next meeting the citizen agrees that the GP may see the plan again; the region records that, with
    the meeting's day, after the day of the withdrawal."""
    await citizen_closes_the_plan_to_the_gp(app, client)
    withdrawn = (await client.get(f"/plans/{plan['planId']}", headers=as_("region"))).json()["consent"]["decided_on"]
    later = cast.plan_document()
    later["consent"]["decided_on"] = (date.fromisoformat(withdrawn) + timedelta(days=1)).isoformat()
    assert (await client.post("/plans", json=later, headers=as_("region"))).status_code == 200
    assert (await client.get(f"/fhir/CarePlan/{plan['planId']}", headers=as_("gp"))).status_code == 200


async def test_the_citizen_withdraws_even_against_a_decision_the_author_dated_in_the_future(
    app: FastAPI, client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    """The rule holds organisations' writes to the newer decision; the citizen's own withdrawal always goes
    through (`PlanService.accept(by_citizen=True)`)."""
    ahead = cast.plan_document()
    ahead["consent"]["decided_on"] = "2099-01-01"
    assert (await client.post("/plans", json=ahead, headers=as_("region"))).status_code == 200
    await citizen_closes_the_plan_to_the_gp(app, client)
    assert (await client.get(f"/fhir/CarePlan/{plan['planId']}", headers=as_("gp"))).status_code == 404


async def test_a_same_day_copy_does_not_undo_the_citizens_withdrawal_by_post_or_put(
    app: FastAPI, client: httpx.AsyncClient, as_: Headers
) -> None:
    """The meeting records the consent today, the citizen closes the plan to the GP the same day, and the EHR
    sends its copy again (review of stop 27: a same-day decision passed)."""
    today = cast.plan_document(decided_on=CLOCK_DAY)
    made = await client.post("/plans", json=today, headers=as_("region"))
    assert made.status_code == 201, made.text
    plan_id = made.json()["planId"]
    await citizen_closes_the_plan_to_the_gp(app, client)
    assert (await client.post("/plans", json=today, headers=as_("region"))).status_code == 409
    assert (await client.put(f"/plans/{plan_id}", json=today, headers=as_("region"))).status_code == 409
    assert (await client.get(f"/fhir/CarePlan/{plan_id}", headers=as_("gp"))).status_code == 404


async def test_a_consent_the_author_dated_ahead_does_not_make_the_citizens_withdrawal_undoable(
    app: FastAPI, client: httpx.AsyncClient, as_: Headers
) -> None:
    """The citizen's decision holds to the later of its own day and the day of the decision it changed."""
    ahead = cast.plan_document(decided_on="2099-01-01")
    made = await client.post("/plans", json=ahead, headers=as_("region"))
    assert made.status_code == 201, made.text
    plan_id = made.json()["planId"]
    await citizen_closes_the_plan_to_the_gp(app, client)
    assert (await client.post("/plans", json=ahead, headers=as_("region"))).status_code == 409
    assert (await client.get(f"/fhir/CarePlan/{plan_id}", headers=as_("gp"))).status_code == 404
    later = cast.plan_document(decided_on="2099-01-02")
    assert (await client.post("/plans", json=later, headers=as_("region"))).status_code == 200, "a newer decision"


async def test_a_plan_started_anew_with_the_old_consent_does_not_undo_the_withdrawal(
    app: FastAPI, client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    """The keeper's EHR starts the plan again under a new source value with the consent it held (review of stop
    27: a plan's first write was not checked, and the new plan became the citizen's)."""
    await citizen_closes_the_plan_to_the_gp(app, client)
    anew = await client.post("/plans", json=cast.plan_document("KIP-2026-000001"), headers=as_("region"))
    assert anew.status_code == 409, anew.text
    current = (await client.get(f"/plans/{plan['planId']}", headers=as_("region"))).json()
    restarted = cast.plan_document("KIP-2026-000001")
    restarted["consent"] = current["consent"]
    assert (await client.post("/plans", json=restarted, headers=as_("region"))).status_code == 201


async def test_the_author_corrects_its_own_decision_on_the_day_it_made_it(
    client: httpx.AsyncClient, as_: Headers
) -> None:
    """Only the citizen's decision is held against same-day writes: an organisation's own is not."""
    first = cast.plan_document(decided_on=CLOCK_DAY)
    assert (await client.post("/plans", json=first, headers=as_("region"))).status_code == 201
    corrected = cast.plan_document(decided_on=CLOCK_DAY)
    corrected["consent"]["permitted"] = [key for key in corrected["consent"]["permitted"] if key != "gp1"]
    assert (await client.post("/plans", json=corrected, headers=as_("region"))).status_code == 200
