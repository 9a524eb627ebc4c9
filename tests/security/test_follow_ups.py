"""A withdrawal stops what is still queued: notices carrying the plan's follow-up to organisations no longer
granted are dead-lettered with the reason, and neither a replay nor a retry sends them again. (No worker runs in
these tests, so every notice stays queued until the plan changes.)"""

from __future__ import annotations

from typing import Any

import httpx

from tests.security.conftest import Headers
from tests.support import scenario

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
        assert state == "dead" and reason.startswith("consent:"), states
    assert {s for i, (s, _) in states.items() if i not in carrying} == {"pending"}, "the HospitalNotification goes"
    await client.post(f"/messages/{reply['messageId']}/replay", headers=as_("region"))
    revived = await client.post("/messages/retry-dead", headers=as_("region"))
    assert revived.status_code == 200 and revived.json() == []
    shown = (await client.get(f"/messages/{reply['messageId']}", headers=as_("region"))).json()
    assert all(n["state"] == "dead" for n in shown["notices"] if n["id"] in carrying)
    given_again = scenario.plan_document()
    assert (await client.put(f"/plans/{plan_id}", json=given_again, headers=as_("fact"))).status_code == 200
    revived = await client.post("/messages/retry-dead", headers=as_("region"))
    assert set(carrying) <= {n["id"] for n in revived.json()}, "consent given again: they may go"
