"""A receiver that answers a byte at a time, as real processes on loopback: the gateway's sender gives up at its
deadline (well inside the delivery lease), though every byte arrived within the per-read timeout, and the receiver
kept the message (a resend will be deduplicated by its MessageHeader.id)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from fixtures.messages import empty_message
from gateway.delivery.outcome import Failure, OutcomeKind
from gateway.delivery.sender import HttpxSender
from tests.support import processes

pytestmark = pytest.mark.e2e
MESSAGE = empty_message(
    header_id="22222222-2222-4222-8222-222222222222",
    bundle_id="b-trickle",
    provenance_id="p-trickle",
    sent_at=datetime(2026, 12, 1, tzinfo=UTC),
)


async def test_the_send_ends_at_its_deadline_though_each_byte_comes_in_time(tmp_path: Path) -> None:
    gp = processes.fixture("gp", tmp_path, validate_profiles="false").start()
    try:
        assert httpx.post(f"{gp.url}/faults", json={"kind": "trickle", "seconds": 0.2}).is_success
        async with httpx.AsyncClient(timeout=httpx.Timeout(2.0)) as client:
            started = time.monotonic()
            outcome = await HttpxSender(client, deadline_seconds=1.5).send(f"{gp.url}/fhir/$process-message", MESSAGE)
            took = time.monotonic() - started
        assert outcome.kind is OutcomeKind.TRANSIENT and outcome.failure is Failure.TIMEOUT, outcome
        assert took < 5, f"the deadline did not end the send ({took:.1f} s)"
        received = httpx.get(f"{gp.url}/received").json()
        assert received["count"] == 1, "the receiver kept the message it was answering"
    finally:
        gp.stop()
