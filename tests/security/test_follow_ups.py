"""A withdrawal stops what is still queued: notices carrying the plan's follow-up to organisations no longer
granted are withheld (`skipped`, with the reason), neither a replay nor a retry sends them again, and they hold
nothing behind them. A consent that ends by its period is noticed by the worker before it sends. (Where no worker
runs, every notice stays queued until the plan changes.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import orjson
from fastapi import FastAPI

from gateway.config import Settings
from gateway.services.delivery import build_worker
from mappings.notices.acknowledgement import acknowledgement_from_message
from tests.conftest import SteppingClock
from tests.security.conftest import Headers
from tests.support import cast, scenario

HL7 = {"content-type": "x-application/hl7-v2+er7", "accept": "application/json"}
FOLLOW_UP = ("care-communication-discharge", "care-communication-followup")


async def discharge(client: httpx.AsyncClient, as_: Headers) -> dict[str, Any]:
    for sample in ("adt_a01_inpatient_8859-1.hl7", "adt_a03_discharge_8859-1.hl7"):
        response = await client.post("/messages", content=scenario.adt(sample), headers=HL7 | as_("region"))
        assert response.status_code == 202, response.text
    reply: dict[str, Any] = response.json()
    return reply


async def test_a_withdrawal_stops_queued_follow_up_and_replay_decides_again(
    client: httpx.AsyncClient, as_: Headers
) -> None:
    posted = await client.post("/plans", json=scenario.plan_document(), headers=as_("fact"))
    assert posted.status_code == 201, posted.text
    reply = await discharge(client, as_)
    shown = (await client.get(f"/messages/{reply['messageId']}", headers=as_("region"))).json()
    entries = shown["inbound"]["summary"]["notices"]
    carrying = [n["id"] for n, entry in zip(shown["notices"], entries, strict=True) if "plan" in entry]
    kinds = {n["kind"] for n in shown["notices"] if n["id"] in carrying}
    assert kinds >= set(FOLLOW_UP), "the GP's discharge letter with the follow-up, the municipality's follow-up, ..."
    withdrawn = scenario.plan_document()
    withdrawn["consent"]["decision"] = "withdrawn"
    plan_id = posted.json()["planId"]
    assert (await client.put(f"/plans/{plan_id}", json=withdrawn, headers=as_("fact"))).status_code == 200
    shown = (await client.get(f"/messages/{reply['messageId']}", headers=as_("region"))).json()
    states = {n["id"]: (n["state"], n["lastError"]) for n in shown["notices"]}
    for notice_id in carrying:
        state, reason = states[notice_id]
        assert state == "skipped" and reason.startswith("consent:"), states
    assert {s for i, (s, _) in states.items() if i not in carrying} == {"pending"}, "the HospitalNotification goes"
    await client.post(f"/messages/{reply['messageId']}/replay", headers=as_("region"))
    revived = await client.post("/messages/retry-dead", headers=as_("region"))
    assert revived.status_code == 200 and revived.json() == []
    shown = (await client.get(f"/messages/{reply['messageId']}", headers=as_("region"))).json()
    assert all(n["state"] == "skipped" for n in shown["notices"] if n["id"] in carrying)
    given_again = scenario.plan_document()
    assert (await client.put(f"/plans/{plan_id}", json=given_again, headers=as_("fact"))).status_code == 200
    revived = await client.post("/messages/retry-dead", headers=as_("region"))
    assert revived.json() == [], "withheld for good: the plan goes to the team again after the next meeting"


def acknowledging(received: list[dict[str, Any]], clock: SteppingClock) -> httpx.MockTransport:
    """Every recipient takes the message and acknowledges it positively at once."""

    def answer(request: httpx.Request) -> httpx.Response:
        message = orjson.loads(request.content)
        received.append(message)
        ack = acknowledgement_from_message(message, code="ok", sent_at=clock.now(), base_url="http://recipient.test")
        return httpx.Response(200, json=ack)

    return httpx.MockTransport(answer)


async def test_a_consent_that_ended_by_its_period_stops_the_follow_up_at_send_time(
    app: FastAPI, client: httpx.AsyncClient, as_: Headers, settings: Settings, clock: SteppingClock
) -> None:
    document = scenario.plan_document()
    document["consent"]["period"]["end"] = "2026-03-02"  # the test clock starts on 1 March 2026
    assert (await client.post("/plans", json=document, headers=as_("fact"))).status_code == 201
    reply = await discharge(client, as_)
    clock.advance(timedelta(days=3))  # no plan write: only the worker can notice that the consent ended
    received: list[dict[str, Any]] = []
    async with httpx.AsyncClient(transport=acknowledging(received, clock)) as http:
        worker = build_worker(app.state.messages.outbox, http, settings, clock, app.state.fhir.ids)
        await worker.drain()
    region_now = cast.bearer(settings, "region", clock.now())  # as_'s tokens last a day of the test clock
    shown = (await client.get(f"/messages/{reply['messageId']}", headers=region_now)).json()
    entries = shown["inbound"]["summary"]["notices"]
    states = {n["kind"]: (n["state"], n["lastError"]) for n in shown["notices"]}
    for notice, entry in zip(shown["notices"], entries, strict=True):
        if "plan" in entry:
            assert notice["state"] == "skipped" and notice["lastError"].startswith("consent:"), states
            assert notice["attempts"] == [], "it never left the gateway"
        else:
            assert notice["state"] == "acknowledged", states
    sent_ids = {m["entry"][0]["resource"]["id"] for m in received}
    carrying_headers = {n["messageHeaderId"] for n, e in zip(shown["notices"], entries, strict=True) if "plan" in e}
    assert carrying_headers and not carrying_headers & sent_ids


async def test_a_withheld_follow_up_does_not_hold_the_next_admission_notice(
    app: FastAPI, client: httpx.AsyncClient, as_: Headers, settings: Settings, clock: SteppingClock
) -> None:
    posted = await client.post("/plans", json=scenario.plan_document(), headers=as_("fact"))
    await discharge(client, as_)
    # Readmitted before the withdrawal: this admission queues behind the follow-up of the discharge.
    admission = await client.post(
        "/messages",
        content=scenario.adt_variant("adt_a01_inpatient_8859-1.hl7", "MSG-STAY-2", "STAY-2"),
        headers=HL7 | as_("region"),
    )
    assert admission.status_code == 202, admission.text
    withdrawn = scenario.plan_document()
    withdrawn["consent"]["decision"] = "withdrawn"
    assert (await client.put(f"/plans/{posted.json()['planId']}", json=withdrawn, headers=as_("fact"))).is_success
    received: list[dict[str, Any]] = []
    async with httpx.AsyncClient(transport=acknowledging(received, clock)) as http:
        worker = build_worker(app.state.messages.outbox, http, settings, clock, app.state.fhir.ids)
        await worker.drain()
    shown = (await client.get(f"/messages/{admission.json()['messageId']}", headers=as_("region"))).json()
    hospital_notifications = [n for n in shown["notices"] if n["kind"] == "hospital-notification"]
    assert hospital_notifications and {n["state"] for n in hospital_notifications} == {"acknowledged"}, shown
