"""`/messages`: the true state of every inbound message and its notices; replay and retry-dead."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from fastapi import FastAPI

from gateway.delivery.outbox import NewNotice
from gateway.delivery.outbox_sql import InboundRecord

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
