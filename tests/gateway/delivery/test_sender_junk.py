"""A receiver's malformed answer becomes an `AttemptOutcome`, never an exception out of the sender or the worker:
a notice never loops unlogged in `sending`, and a refusal is never taken for a delivery."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from fixtures.messages import empty_message
from gateway.clock import FixedClock, SequenceIds
from gateway.delivery.outbox import NewNotice, NoticeState
from gateway.delivery.outcome import AttemptOutcome, OutcomeKind
from gateway.delivery.policy import RetryPolicy
from gateway.delivery.sender import HttpxSender
from gateway.delivery.worker import Worker, WorkerSettings
from tests.support.outbox_memory import MemoryOutbox

URL = "http://127.0.0.1:8081/fhir/$process-message"
SENT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
HEADER = "11111111-1111-4111-8111-111111111111"
MESSAGE = empty_message(header_id=HEADER, bundle_id="b", provenance_id="p", sent_at=SENT)


def _fatal_ack(*outcome: dict[str, Any]) -> dict[str, Any]:
    """A receiver's fatal-error acknowledgement of MESSAGE, with the entries `outcome` after its header."""
    header = {
        "resourceType": "MessageHeader",
        "id": "ack-h",
        "eventCoding": {"code": "acknowledgement-message"},
        "response": {"identifier": HEADER, "code": "fatal-error"},
    }
    return {"resourceType": "Bundle", "type": "message", "entry": [{"resource": header}, *outcome]}


NEG_ACK_BAD_ISSUES = _fatal_ack({"resource": {"resourceType": "OperationOutcome", "id": "oo", "issue": 5}})

JUNK: dict[str, dict[str, Any]] = {
    "operation-outcome issue not a list": dict(status_code=503, json={"resourceType": "OperationOutcome", "issue": 7}),
    "retry-after superscript digit": dict(status_code=503, headers=[(b"Retry-After", b"\xb2")], text="busy"),
    "retry-after huge": dict(status_code=429, headers={"Retry-After": "99999999999999999"}, text="slow down"),
    "ack with OperationOutcome.issue not a list": dict(status_code=200, json=NEG_ACK_BAD_ISSUES),
}


@pytest.fixture
async def sender() -> AsyncIterator[HttpxSender]:
    async with httpx.AsyncClient() as client:
        yield HttpxSender(client)


@pytest.mark.parametrize("case", list(JUNK))
async def test_sender_never_raises_for_what_the_peer_answers(
    httpx_mock: HTTPXMock, sender: HttpxSender, case: str
) -> None:
    httpx_mock.add_response(url=URL, method="POST", **JUNK[case])
    outcome = await sender.send(URL, MESSAGE)  # Sender protocol: "never raises for anything the network or peer does"
    assert outcome is not None


async def test_junk_answer_does_not_leave_a_notice_sending_forever(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=URL, method="POST", status_code=503, json={"resourceType": "OperationOutcome", "issue": 7}, is_reusable=True
    )
    clock = FixedClock(SENT)
    box = MemoryOutbox()
    await box.enqueue("in-1", [NewNotice("n-1", HEADER, "c", "sor:1", URL, MESSAGE)], SENT)
    async with httpx.AsyncClient() as client:
        worker = Worker(
            box,
            HttpxSender(client),
            clock=clock,
            ids=SequenceIds(),
            rng=random.Random(0),
            policy=RetryPolicy(max_attempts=3, base_delay=timedelta(seconds=1), jitter=0.0),
            settings=WorkerSettings(lease=timedelta(minutes=2)),
        )
        for _ in range(10):  # ten rounds, each after the lease ran out
            try:
                await worker.run_once()
            except Exception:
                pass
            clock.advance(timedelta(minutes=3))
    detail = await box.get("n-1")
    assert detail is not None
    # the budget of 3 attempts, each logged (a 503 is retried), then visibly dead: not a send every lease
    assert len(httpx_mock.get_requests()) == 3
    assert detail.notice.state is NoticeState.DEAD
    assert len(detail.attempts) == 3


async def test_a_negative_ack_without_operation_outcome_is_not_taken_for_a_delivery(
    httpx_mock: HTTPXMock, sender: HttpxSender
) -> None:
    """The receiver said fatal-error (its OperationOutcome missing): that is not "delivered, awaiting an ack"."""
    body = _fatal_ack()
    httpx_mock.add_response(url=URL, method="POST", status_code=200, json=body)
    outcome = await sender.send(URL, MESSAGE)
    assert outcome.kind is not OutcomeKind.DELIVERED, (outcome.kind, outcome.detail)


class _RaisingSender:
    """A sender with a bug: it raises instead of answering an outcome."""

    def __init__(self) -> None:
        self.calls = 0

    async def send(self, endpoint: str, message: object) -> AttemptOutcome:
        self.calls += 1
        raise KeyError("a bug")


async def test_a_sender_that_raises_leaves_a_logged_dead_notice() -> None:
    clock = FixedClock(SENT)
    box = MemoryOutbox()
    await box.enqueue("in-1", [NewNotice("n-1", HEADER, "c", "sor:1", URL, MESSAGE)], SENT)
    sender = _RaisingSender()
    worker = Worker(box, sender, clock=clock, ids=SequenceIds(), rng=random.Random(0))
    for _ in range(3):
        await worker.run_once()
        clock.advance(timedelta(minutes=3))
    detail = await box.get("n-1")
    assert detail is not None
    assert sender.calls == 1
    assert detail.notice.state is NoticeState.DEAD
    assert [record.attempt.failure for record in detail.attempts] == ["internal-error"]
