"""Review: `POST /messages/notices/{id}/correct` with an operator's Bundle."""

from __future__ import annotations

import copy

import httpx
from fastapi import FastAPI

from tests.gateway.api.test_messages import admission_and_discharge, kill_first, settings  # noqa: F401


async def test_a_malformed_corrected_bundle_is_a_4xx_not_a_500(client: httpx.AsyncClient, app: FastAPI) -> None:
    await admission_and_discharge(client)
    dead = await kill_first(app, fatal=True)
    refused = (await app.state.messages.outbox.get(dead)).notice.message
    header_id = refused["entry"][0]["resource"]["id"]
    malformed = {
        "resourceType": "Bundle",
        "type": "message",
        "entry": [
            {"resource": {"resourceType": "MessageHeader", "id": header_id}},
            {
                "resource": {
                    "resourceType": "Provenance",
                    "id": "p",
                    "target": [{"reference": f"MessageHeader/{header_id}"}],
                    "activity": "oops",
                }
            },
        ],
    }
    first = await client.post(f"/messages/notices/{dead}/correct", json=malformed)
    with_junk_entry = copy.deepcopy(refused)
    with_junk_entry["entry"].append("junk")
    second = await client.post(f"/messages/notices/{dead}/correct", json=with_junk_entry)
    assert (first.status_code, second.status_code) in {(s1, s2) for s1 in (400, 422) for s2 in (400, 422)}, (
        first.status_code,
        second.status_code,
    )
    assert (await app.state.messages.outbox.get(dead)).notice.state.value == "dead"


async def test_an_asynchronous_acknowledgement_completes_its_notice(client: httpx.AsyncClient, app: FastAPI) -> None:
    """A receiver that answers 202 and acknowledges later (fixture fault `no-ack`, MedCom's asynchronous
    acknowledgement): the acknowledgement it sends must be taken in and complete the notice."""
    from datetime import timedelta

    from gateway.delivery.outbox import Attempt, AwaitAck
    from gateway.delivery.outcome import OutcomeKind
    from mappings.notices.acknowledgement import acknowledgement_from_message
    from tests.gateway.api.test_messages import LATER

    await admission_and_discharge(client)
    outbox = app.state.messages.outbox
    claim = await outbox.claim(LATER, timedelta(minutes=1), "w")
    attempt = Attempt("bundle-1", LATER, LATER, OutcomeKind.DELIVERED, status=202)
    assert await outbox.record_attempt(claim, attempt, AwaitAck(LATER + timedelta(minutes=30)))
    ack = acknowledgement_from_message(claim.notice.message, code="ok", sent_at=LATER, base_url="http://kommune")
    response = await client.post("/messages", json=ack, headers={"content-type": "application/fhir+json"})
    state = (await outbox.get(claim.notice.id)).notice.state.value
    assert state == "acknowledged", (response.status_code, response.text[:300], state)
