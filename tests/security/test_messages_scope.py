"""`/messages` tried by Organisation X, which the citizen never named and which is no party to any of the
citizen's notices; it holds `system/Messages.cru` (as every cast client does). X learns nothing of another
organisation's messages (the raw HL7 with the CPR number, the plan content in the notices) and changes nothing: it
gets what it gets for a message that does not exist. A security review found all of it open: `/messages` was not
scoped by organisation (migration 0014: `inbound_message.poster`)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests.security.conftest import Headers
from tests.support import cast, scenario

HL7 = {"content-type": "x-application/hl7-v2+er7", "accept": "application/json"}


async def _discharged(client: httpx.AsyncClient, as_: Headers) -> dict[str, Any]:
    """The demo plan (kept by the FACT team) and the citizen's admission and discharge, posted by the region."""
    assert (await client.post("/plans", json=scenario.plan_document(), headers=as_("fact"))).status_code == 201
    for sample in ("adt_a01_inpatient_8859-1.hl7", "adt_a03_discharge_8859-1.hl7"):
        response = await client.post("/messages", content=scenario.adt(sample), headers=HL7 | as_("region"))
        assert response.status_code == 202, response.text
    reply: dict[str, Any] = response.json()
    return reply


async def test_x_cannot_list_the_citizens_notices(client: httpx.AsyncClient, as_: Headers) -> None:
    before = await client.get("/messages", headers=as_("x"))
    assert before.status_code == 200 and before.json() == []
    await _discharged(client, as_)
    after = await client.get("/messages", headers=as_("x"))
    # X is neither sender nor recipient of any of these notices: it should see exactly what it saw before
    assert after.status_code == 200
    assert after.json() == [], f"X lists {len(after.json())} notices of the citizen: {after.text[:300]}"


async def test_x_reading_a_citizens_message_answers_as_for_a_missing_one(
    client: httpx.AsyncClient, as_: Headers
) -> None:
    reply = await _discharged(client, as_)
    message_id = reply["messageId"]
    missing = str(uuid.uuid4())
    seen = await client.get(f"/messages/{message_id}", headers=as_("x"))
    nothing = await client.get(f"/messages/{missing}", headers=as_("x"))
    leaked = [
        word for word in (cast.CPR, "Østergård", "Solsikken") if word in json.dumps(seen.json(), ensure_ascii=False)
    ]
    assert (seen.status_code, seen.text.replace(message_id, "<id>")) == (
        nothing.status_code,
        nothing.text.replace(missing, "<id>"),
    ), f"X reads the message ({seen.status_code}); it names {leaked}"


async def _one_dead(client: httpx.AsyncClient, app: Any, as_: Headers) -> str:
    """The citizen's first notice, given up by the worker (dead); returns its id."""
    from datetime import timedelta

    from gateway.delivery.outbox import Attempt, DeadLetter
    from gateway.delivery.outcome import OutcomeKind

    await _discharged(client, as_)
    outbox = app.state.messages.outbox
    now = app.state.clock.now() + timedelta(minutes=1)
    claim = await outbox.claim(now, timedelta(minutes=1), "w")
    assert claim is not None
    attempt = Attempt("bundle-1", now, now, OutcomeKind.DELIVERED, status=400)
    assert await outbox.record_attempt(claim, attempt, DeadLetter("HTTP 400"))
    return str(claim.notice.id)


@pytest.mark.parametrize("route", ["skip", "correct", "retry-dead", "replay"])
async def test_x_cannot_skip_correct_retry_or_replay_another_organisations_notice(
    client: httpx.AsyncClient, app: Any, as_: Headers, route: str
) -> None:
    notice_id = await _one_dead(client, app, as_)
    inbound_id = (await app.state.messages.outbox.get(notice_id)).notice.inbound_message_id
    before = await app.state.messages.outbox.get(notice_id)
    missing = str(uuid.uuid4())
    x = as_("x")

    async def call(notice: str, inbound: str) -> httpx.Response:
        if route == "skip":
            return await client.post(f"/messages/notices/{notice}/skip", json={"reason": "x"}, headers=x)
        if route == "correct":
            return await client.post(f"/messages/notices/{notice}/correct", headers=x)
        if route == "retry-dead":
            return await client.post(f"/messages/retry-dead?notice={notice}", headers=x)
        return await client.post(f"/messages/{inbound}/replay", headers=x)

    nothing = await call(missing, missing)
    tried = await call(notice_id, inbound_id)
    assert (tried.status_code, tried.text.replace(notice_id, "<id>").replace(inbound_id, "<id>")) == (
        nothing.status_code,
        nothing.text.replace(missing, "<id>"),
    ), f"{route}: X got {tried.status_code} {tried.text[:200]}"
    after = await app.state.messages.outbox.get(notice_id)
    assert (after.notice.state, after.notice.message_header_id, after.notice.resends) == (
        before.notice.state,
        before.notice.message_header_id,
        before.notice.resends,
    ), f"{route}: X changed the region's notice to {after.notice.state.value}"
