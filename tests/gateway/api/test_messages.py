"""`/messages`: the true state of every inbound message and its notices; replay, retry-dead, skip, correct."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.config import Settings
from gateway.delivery.outbox import AckRecord, Attempt, DeadLetter, NewNotice
from gateway.delivery.outbox_sql import InboundRecord
from gateway.delivery.outcome import OutcomeKind
from tests.support import scenario

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


async def enqueue(app: FastAPI, inbound_id: str = "in-1") -> None:
    notice = NewNotice(
        id=f"{inbound_id}-gp",
        message_header_id=f"{inbound_id}-header",
        citizen="citizen-key",
        recipient="sor:265161000016000",
        endpoint="http://127.0.0.1:9/fhir/$process-message",
        message={"resourceType": "Bundle", "type": "message"},
        kind="care-communication",
    )
    await app.state.messages.outbox.enqueue(
        inbound_id, [notice], T0, inbound=InboundRecord("application/xml", {"letter": "L1"}, "<Emessage/>")
    )


async def test_show_gives_inbound_notices_and_attempts(client: httpx.AsyncClient, app: FastAPI) -> None:
    await enqueue(app)
    shown = (await client.get("/messages/in-1")).json()
    assert shown["inbound"]["contentType"] == "application/xml"
    assert shown["inbound"]["body"] == "<Emessage/>"
    (notice,) = shown["notices"]
    assert (notice["state"], notice["attempts"], notice["ack"]) == ("pending", [], None)
    listed = (await client.get("/messages?state=pending")).json()
    assert [n["id"] for n in listed] == ["in-1-gp"]


async def test_unknown_message_is_404_outcome(client: httpx.AsyncClient) -> None:
    response = await client.get("/messages/nope")
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_replay_skips_notices_still_on_their_way(client: httpx.AsyncClient, app: FastAPI) -> None:
    await enqueue(app)
    assert (await client.post("/messages/in-1/replay")).json() == []
    assert (await client.post("/messages/retry-dead")).json() == []


# -- order after a dead letter: held, skipped, corrected -----------------------------------------------------------

LATER = T0 + timedelta(hours=1)  # after every intake of the test (its clock steps a second per reading)
HL7 = {"content-type": "x-application/hl7-v2+er7", "accept": "application/json"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    scenario.write_directory(tmp_path / "directory.yaml", "http://127.0.0.1:9/gp", "http://127.0.0.1:9/kommune")
    return Settings(data_dir=tmp_path, insecure_no_auth=True)


async def admission_and_discharge(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """The demo citizen's admission and discharge: STIN, then SLHJ + two CareCommunications."""
    assert (await client.post("/plans", json=scenario.plan_document())).status_code == 201
    for sample in ("adt_a01_inpatient_8859-1.hl7", "adt_a03_discharge_8859-1.hl7"):
        assert (await client.post("/messages", content=scenario.adt(sample), headers=HL7)).status_code == 202
    listed: list[dict[str, Any]] = (await client.get("/messages")).json()
    return listed


async def kill_first(app: FastAPI, *, fatal: bool) -> str:
    """The admission (the oldest notice) is claimed and dead-lettered, as by a fatal-error acknowledgement."""
    outbox = app.state.messages.outbox
    claim = await outbox.claim(LATER, timedelta(minutes=1), "worker")
    assert claim is not None and claim.notice.kind == "hospital-notification"
    ack = AckRecord("ack-1", "ack-bundle", "fatal-error", LATER, "MSG_x") if fatal else None
    attempt = Attempt("bundle-1", LATER, LATER, OutcomeKind.PERMANENT, status=200)
    assert await outbox.record_attempt(claim, attempt, DeadLetter("fatal-error: MSG_x", ack))
    return str(claim.notice.id)


async def test_a_dead_notice_holds_later_ones_of_its_citizen_and_recipient(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    listed = await admission_and_discharge(client)
    dead = await kill_first(app, fatal=False)
    municipality = listed[0]["recipient"]
    listed = (await client.get("/messages")).json()
    held = [n for n in listed if n["heldBehind"] == dead]
    assert held and all(n["recipient"] == municipality and n["state"] == "pending" for n in held)
    assert [n for n in listed if n["recipient"] != municipality and n["heldBehind"] is None], "the GP is not held"
    shown = (await client.get(f"/messages/{held[0]['inboundMessageId']}")).json()
    assert any(n["heldBehind"] == dead for n in shown["notices"])
    assert (await app.state.messages.outbox.claim(LATER, timedelta(minutes=1), "w")).notice.recipient != municipality


async def test_skip_needs_a_dead_notice_and_a_reason_and_releases_the_queue(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    listed = await admission_and_discharge(client)
    assert (await client.post(f"/messages/notices/{listed[1]['id']}/skip", json={"reason": "x"})).status_code == 409
    dead = await kill_first(app, fatal=False)
    assert (await client.post(f"/messages/notices/{dead}/skip", json={"reason": ""})).status_code == 400
    skipped = await client.post(f"/messages/notices/{dead}/skip", json={"reason": "registered by phone"})
    assert skipped.status_code == 200 and skipped.json()["state"] == "skipped"
    assert all(n["heldBehind"] is None for n in (await client.get("/messages")).json())


async def test_a_refused_notice_is_corrected_as_a_new_message_in_its_place(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await admission_and_discharge(client)
    dead = await kill_first(app, fatal=True)
    refused = (await app.state.messages.outbox.get(dead)).notice
    retried = await client.post("/messages/retry-dead", params={"notice": dead})
    assert retried.status_code == 409 and retried.json()["issue"][0]["details"]["coding"][0]["code"] == "outbox.refused"
    assert (await client.post("/messages/retry-dead")).json() == [], "retry of everything leaves it dead"
    corrected = await client.post(f"/messages/notices/{dead}/correct")
    assert corrected.status_code == 200, corrected.text
    body = corrected.json()
    assert (body["state"], body["corrects"]) == ("pending", refused.message_header_id)
    assert body["messageHeaderId"] != refused.message_header_id
    message = (await app.state.messages.outbox.get(dead)).notice.message
    assert message["entry"][0]["resource"]["id"] == body["messageHeaderId"]
    provenance = [
        e["resource"]
        for e in message["entry"]
        if e["resource"]["resourceType"] == "Provenance"
        and e["resource"]["target"] == [{"reference": f"MessageHeader/{body['messageHeaderId']}"}]
    ]
    assert provenance[0]["entity"][0] == {
        "role": "revision",
        "what": {"reference": f"MessageHeader/{refused.message_header_id}"},
    }
    outbox = app.state.messages.outbox
    claims = [await outbox.claim(LATER + timedelta(hours=1), timedelta(minutes=1), f"w{n}") for n in range(4)]
    to_municipality = [c.notice.id for c in claims if c is not None and c.notice.recipient == refused.recipient]
    assert to_municipality == [dead], "the correction goes first, in the refused one's place; the discharge waits"


async def test_a_correction_that_breaks_its_profile_is_refused(client: httpx.AsyncClient, app: FastAPI) -> None:
    await admission_and_discharge(client)
    dead = await kill_first(app, fatal=True)
    broken = (await app.state.messages.outbox.get(dead)).notice.message
    broken["entry"][0]["resource"].pop("eventCoding")
    response = await client.post(f"/messages/notices/{dead}/correct", json=broken)
    assert response.status_code == 422
    assert (await app.state.messages.outbox.get(dead)).notice.state.value == "dead"


def _changed(message: dict[str, Any], part: str) -> dict[str, Any]:
    """`message` with the first identifier of its sender, its receiver or its Patient given another value."""
    header = message["entry"][0]["resource"]
    reference = {"sender": header["sender"], "receiver": header["destination"][0]["receiver"]}.get(part)
    for entry in message["entry"]:
        resource = entry["resource"]
        named = reference is not None and reference["reference"] in (entry["fullUrl"], f"Organization/{resource['id']}")
        if named or (part == "patient" and resource["resourceType"] == "Patient"):
            resource["identifier"][0]["value"] = "0101709998" if part == "patient" else "111111111111"
            return message
    raise AssertionError(f"no {part} in the message")


@pytest.mark.parametrize("part", ["sender", "receiver", "patient"])
async def test_a_correction_keeps_who_sends_it_to_whom_and_about_whom(
    client: httpx.AsyncClient, app: FastAPI, part: str
) -> None:
    await admission_and_discharge(client)
    dead = await kill_first(app, fatal=True)
    refused = (await app.state.messages.outbox.get(dead)).notice.message
    response = await client.post(f"/messages/notices/{dead}/correct", json=_changed(refused, part))
    assert response.status_code == 422, response.text
    assert response.json()["issue"][0]["details"]["coding"][0]["code"] == "correction.parties-changed"
    assert (await app.state.messages.outbox.get(dead)).notice.state.value == "dead"


async def test_a_correction_of_its_content_alone_is_taken(client: httpx.AsyncClient, app: FastAPI) -> None:
    await admission_and_discharge(client)
    dead = await kill_first(app, fatal=True)
    refused = (await app.state.messages.outbox.get(dead)).notice.message
    assert (await client.post(f"/messages/notices/{dead}/correct", json=refused)).status_code == 200


async def test_a_correction_with_a_number_too_big_for_json_libraries_is_a_4xx(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """The operator's Bundle is read by the standard parser, which takes integers of any size (review: a 500)."""
    await admission_and_discharge(client)
    dead = await kill_first(app, fatal=True)
    refused = (await app.state.messages.outbox.get(dead)).notice.message
    refused["entry"][0]["resource"]["source"]["extension"] = [{"url": "urn:x", "valueInteger": 2**70}]
    response = await client.post(f"/messages/notices/{dead}/correct", json=refused)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
