"""An acknowledgement sent as a message of its own (`gateway.services.acknowledgements`) tried by Organisation X,
which the notice was not sent to: X cannot acknowledge, refuse or have resent another organisation's notice, and
learns nothing of it (the answer is the one for a MessageHeader.id no notice has). Its receiver can."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.delivery.outbox import Acknowledge, AckRecord, Attempt, AwaitAck, NoticeRecord
from gateway.delivery.outcome import OutcomeKind
from mappings.notices.acknowledgement import AckCode, AckIssue, acknowledgement_from_message
from tests.security.conftest import Headers
from tests.support import cast, scenario

HL7 = {"content-type": "x-application/hl7-v2+er7", "accept": "application/json"}
FHIR_JSON = {"content-type": "application/fhir+json"}
SENT_AT = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


async def _awaiting_slagelse(client: httpx.AsyncClient, app: FastAPI, as_: Headers) -> NoticeRecord:
    """A notice of the admission to Slagelse, sent and answered without an acknowledgement."""
    assert (await client.post("/plans", json=scenario.plan_document(), headers=as_("fact"))).status_code == 201
    admission = scenario.adt("adt_a01_inpatient_8859-1.hl7")
    response = await client.post("/messages", content=admission, headers=HL7 | as_("region"))
    assert response.status_code == 202, response.text
    outbox = app.state.messages.outbox
    now = app.state.clock.now() + timedelta(minutes=1)
    for number in range(10):
        claim = await outbox.claim(now, timedelta(minutes=1), f"w{number}")
        assert claim is not None
        attempt = Attempt(f"bundle-{number}", now, now, OutcomeKind.DELIVERED, status=202)
        if claim.notice.recipient == f"sor:{cast.SLAGELSE_SOR}":
            assert await outbox.record_attempt(claim, attempt, AwaitAck(now + timedelta(minutes=30)))
            notice: NoticeRecord = claim.notice
            return notice
        assert await outbox.record_attempt(claim, attempt, Acknowledge(AckRecord("a", f"b{number}", "ok", now)))
    raise AssertionError("no notice to Slagelse")


def _ack(message: dict[str, Any], code: AckCode, header_id: str | None = None) -> dict[str, Any]:
    """The receiver's acknowledgement of `message` (of a message with `header_id` instead, when given)."""
    if header_id is not None:
        message = copy.deepcopy(message)
        message["entry"][0]["resource"]["id"] = header_id
    issues = () if code == "ok" else (AckIssue("error", "processing", None, "refused"),)
    return acknowledgement_from_message(message, code=code, sent_at=SENT_AT, base_url="http://x", issues=issues)


@pytest.mark.parametrize("code", ["ok", "fatal-error", "transient-error"])
async def test_x_cannot_acknowledge_another_organisations_notice(
    client: httpx.AsyncClient, app: FastAPI, as_: Headers, code: AckCode
) -> None:
    notice = await _awaiting_slagelse(client, app, as_)
    x = FHIR_JSON | as_("x")
    other = str(uuid.uuid4())
    tried = await client.post("/messages", json=_ack(notice.message, code), headers=x)
    nothing = await client.post("/messages", json=_ack(notice.message, code, other), headers=x)
    assert tried.status_code == nothing.status_code == 404
    assert tried.text.replace(notice.message_header_id, "<id>") == nothing.text.replace(other, "<id>")
    after = (await app.state.messages.outbox.get(notice.id)).notice
    assert (after.state.value, after.resends, after.ack) == ("sent", 0, None)
    answered = await client.post("/messages", json=_ack(notice.message, code), headers=FHIR_JSON | as_("slagelse"))
    assert answered.status_code == 202, answered.text
    taken = (await app.state.messages.outbox.get(notice.id)).notice
    assert taken.state.value == {"ok": "acknowledged", "fatal-error": "dead", "transient-error": "pending"}[code]


async def test_an_engine_answers_for_the_receiver_it_may_send_for(
    client: httpx.AsyncClient, app: FastAPI, as_: Headers
) -> None:
    """The municipality's integration engine (`sends_as` Slagelse) acknowledges Slagelse's notice; the region's
    engine, which sends for the region only, gets the answer for a notice that does not exist."""
    notice = await _awaiting_slagelse(client, app, as_)
    regions = await client.post("/messages", json=_ack(notice.message, "ok"), headers=FHIR_JSON | as_("intake-only"))
    assert regions.status_code == 404, regions.text
    answered = await client.post(
        "/messages", json=_ack(notice.message, "ok"), headers=FHIR_JSON | as_("kommune-engine")
    )
    assert answered.status_code == 202, answered.text
    assert (await app.state.messages.outbox.get(notice.id)).notice.state.value == "acknowledged"
