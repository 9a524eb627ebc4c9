"""`POST /messages/notices/{id}/correct` with an operator's malformed Bundle, and acknowledgements that receivers
send as messages of their own (`gateway.services.acknowledgements`)."""

from __future__ import annotations

import copy
import dataclasses
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.delivery.outbox import Attempt, AwaitAck, NoticeRecord
from gateway.delivery.outcome import OutcomeKind
from mappings.notices.acknowledgement import AckCode, AckIssue, acknowledgement_from_message
from tests.gateway.api.test_messages import LATER, admission_and_discharge, kill_first, settings  # noqa: F401


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


FHIR_JSON = {"content-type": "application/fhir+json"}


async def _sent_and_awaiting(client: httpx.AsyncClient, app: FastAPI) -> NoticeRecord:
    """The first notice, sent and answered 202 without an acknowledgement (the receiver will send it later)."""
    await admission_and_discharge(client)
    outbox = app.state.messages.outbox
    claim = await outbox.claim(LATER, timedelta(minutes=1), "w")
    attempt = Attempt("bundle-1", LATER, LATER, OutcomeKind.DELIVERED, status=202)
    assert await outbox.record_attempt(claim, attempt, AwaitAck(LATER + timedelta(minutes=30)))
    notice: NoticeRecord = claim.notice
    return notice


def _ack(notice: NoticeRecord, code: AckCode) -> dict[str, Any]:
    issues = () if code == "ok" else (AckIssue("error", "processing", None, "the receiver's reason"),)
    return acknowledgement_from_message(
        notice.message, code=code, sent_at=LATER, base_url="http://kommune", issues=issues
    )


@pytest.mark.parametrize(
    ("code", "state", "resends"),
    [("ok", "acknowledged", 0), ("fatal-error", "dead", 0), ("transient-error", "pending", 1)],
)
async def test_an_acknowledgement_sent_on_its_own_completes_its_notice(
    client: httpx.AsyncClient, app: FastAPI, code: AckCode, state: str, resends: int
) -> None:
    """A receiver that answers 202 and acknowledges later (MedCom's acknowledgement as a message of its own):
    `ok` acknowledges, `fatal-error` refuses (dead, to be corrected), `transient-error` sends it again."""
    notice = await _sent_and_awaiting(client, app)
    response = await client.post("/messages", json=_ack(notice, code), headers=FHIR_JSON)
    assert response.status_code == 202, response.text
    assert response.json()["notices"][0]["id"] == notice.id
    assert "location" not in response.headers, "an acknowledgement is no stored message: nothing to point at"
    after = (await app.state.messages.outbox.get(notice.id)).notice
    assert (after.state.value, after.resends) == (state, resends)
    assert after.refused is (code == "fatal-error")
    again = await client.post("/messages", json=_ack(notice, code), headers=FHIR_JSON)
    assert again.status_code == 202
    assert (await app.state.messages.outbox.get(notice.id)).notice == after  # the same acknowledgement again


async def test_an_acknowledgement_of_no_notice_is_404(client: httpx.AsyncClient, app: FastAPI) -> None:
    notice = await _sent_and_awaiting(client, app)
    unknown = _ack(dataclasses.replace(notice, message=_with_header_id(notice.message, str(uuid.uuid4()))), "ok")
    response = await client.post("/messages", json=unknown, headers=FHIR_JSON)
    assert response.status_code == 404
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[0].resource.response.identifier"]
    assert (await app.state.messages.outbox.get(notice.id)).notice.state.value == "sent"


def _with_header_id(message: dict[str, Any], header_id: str) -> dict[str, Any]:
    changed = copy.deepcopy(message)
    changed["entry"][0]["resource"]["id"] = header_id
    return changed


async def test_a_copy_of_a_transient_acknowledgement_after_the_resend_went_out_sends_nothing_again(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """The receiver's `transient-error` arrives twice (a retried POST of its own); the second copy comes after the
    resend it asked for was sent. It is the same acknowledgement (its Bundle.id): one resend, not two."""
    notice = await _sent_and_awaiting(client, app)
    transient = _ack(notice, "transient-error")
    assert (await client.post("/messages", json=transient, headers=FHIR_JSON)).status_code == 202
    outbox = app.state.messages.outbox
    claim = await outbox.claim(LATER, timedelta(minutes=1), "w")
    while claim is not None and claim.notice.id != notice.id:  # the other queues' notices come first
        claim = await outbox.claim(LATER, timedelta(minutes=1), "w")
    assert claim is not None, "the resend was never due"
    resent = Attempt("bundle-2", LATER, LATER, OutcomeKind.DELIVERED, status=202)
    assert await outbox.record_attempt(claim, resent, AwaitAck(LATER + timedelta(minutes=30)))
    copy_of_it = await client.post("/messages", json=transient, headers=FHIR_JSON)
    assert copy_of_it.status_code == 202
    after = (await outbox.get(notice.id)).notice
    assert (after.state.value, after.resends) == ("sent", 1), "the copy sent the notice a second time"
    assert after.ack is not None and after.ack.code == "transient-error"
    answered = _ack(dataclasses.replace(notice, message=claim.notice.message), "ok")
    assert (await client.post("/messages", json=answered, headers=FHIR_JSON)).status_code == 202
    assert (await outbox.get(notice.id)).notice.state.value == "acknowledged"
