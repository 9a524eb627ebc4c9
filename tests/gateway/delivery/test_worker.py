"""Worker: claim → send → record, driven by a FixedClock, SequenceIds and a scripted Sender."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fixtures.messages import empty_message
from gateway.clock import FixedClock, SequenceIds
from gateway.delivery.outbox import Attempt, Claim, NewNotice, NextStep, NoticeState
from gateway.delivery.outcome import AttemptOutcome, Failure
from gateway.delivery.policy import AckTimeoutPolicy, RetryPolicy
from gateway.delivery.worker import Worker, WorkerSettings
from mappings.notices.acknowledgement import AckIssue, acknowledgement_from_message, parse_acknowledgement
from tests.support.outbox_memory import MemoryOutbox

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
HEADER = "11111111-1111-4111-8111-111111111111"
MESSAGE = empty_message(header_id=HEADER, bundle_id="original-bundle", provenance_id="prov-1", sent_at=T0)


class ScriptedSender:
    """Returns the scripted outcomes in order and keeps what it was asked to send."""

    def __init__(self, *outcomes: AttemptOutcome) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[dict[str, Any]] = []

    async def send(self, endpoint: str, message: Mapping[str, Any]) -> AttemptOutcome:
        self.sent.append(dict(message))
        return self.outcomes.pop(0)


def positive() -> AttemptOutcome:
    ack = acknowledgement_from_message(MESSAGE, code="ok", sent_at=T0, base_url="http://gp")
    return AttemptOutcome.delivered(200, parse_acknowledgement(ack))


def server_error() -> AttemptOutcome:
    return AttemptOutcome.transient(Failure.SERVER_ERROR, "Service Unavailable", status=503)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
async def outbox() -> MemoryOutbox:
    box = MemoryOutbox()
    notice = NewNotice("notice-1", HEADER, "citizen-1", "sor:265161000016000", "http://gp/fhir", MESSAGE)
    await box.enqueue("inbound-1", [notice], T0)
    return box


def make_worker(outbox: MemoryOutbox, sender: Any, clock: FixedClock, **kwargs: Any) -> Worker:
    policy = RetryPolicy(max_attempts=3, base_delay=timedelta(seconds=10), jitter=0.0)
    return Worker(outbox, sender, clock=clock, ids=SequenceIds(), rng=random.Random(0), policy=policy, **kwargs)


async def state(outbox: MemoryOutbox) -> NoticeState:
    detail = await outbox.get("notice-1")
    assert detail is not None
    return detail.notice.state


async def test_positive_ack_in_response_completes_the_notice(outbox: MemoryOutbox, clock: FixedClock) -> None:
    sender = ScriptedSender(positive())
    assert await make_worker(outbox, sender, clock).drain() == 1
    detail = await outbox.get("notice-1")
    assert detail is not None
    assert detail.notice.state is NoticeState.ACKNOWLEDGED
    assert detail.notice.ack is not None and detail.notice.ack.positive
    sent = sender.sent[0]
    assert sent["entry"][0]["resource"]["id"] == HEADER
    assert sent["id"] != "original-bundle"
    assert detail.attempts[0].attempt.bundle_id == sent["id"]


async def test_each_send_gets_a_new_bundle_id_and_sent_time_but_keeps_the_header(
    outbox: MemoryOutbox, clock: FixedClock
) -> None:
    sender = ScriptedSender(server_error(), positive())
    worker = make_worker(outbox, sender, clock)
    await worker.run_once()
    assert not await worker.run_once()  # backoff: not due yet
    clock.advance(timedelta(seconds=10))
    await worker.run_once()
    first, second = sender.sent
    assert first["id"] != second["id"]
    assert first["entry"][0]["resource"]["id"] == second["entry"][0]["resource"]["id"] == HEADER
    provenance = [e["resource"] for e in second["entry"] if e["resource"]["resourceType"] == "Provenance"][0]
    assert provenance["occurredDateTime"] == "2024-05-01T12:00:10Z"
    assert await state(outbox) is NoticeState.ACKNOWLEDGED


async def test_transient_failures_exhaust_the_budget_into_dead_letter(outbox: MemoryOutbox, clock: FixedClock) -> None:
    worker = make_worker(outbox, ScriptedSender(server_error(), server_error(), server_error()), clock)
    for delay in (0, 10, 20):
        clock.advance(timedelta(seconds=delay))
        assert await worker.run_once()
    detail = await outbox.get("notice-1")
    assert detail is not None
    assert detail.notice.state is NoticeState.DEAD
    assert detail.notice.last_error == "server-error (HTTP 503): Service Unavailable"
    assert len(detail.attempts) == 3


async def test_permanent_failure_is_dead_at_once(outbox: MemoryOutbox, clock: FixedClock) -> None:
    outcome = AttemptOutcome.permanent(Failure.CLIENT_ERROR, "Bad Request", status=400)
    await make_worker(outbox, ScriptedSender(outcome), clock).drain()
    assert await state(outbox) is NoticeState.DEAD


async def test_no_ack_is_resent_twice_after_thirty_minutes_then_given_up(
    outbox: MemoryOutbox, clock: FixedClock
) -> None:
    delivered = [AttemptOutcome.delivered(202, None) for _ in range(3)]
    sender = ScriptedSender(*delivered)
    worker = make_worker(outbox, sender, clock, ack_policy=AckTimeoutPolicy())
    for _ in range(3):
        assert await worker.run_once()
        assert await state(outbox) is NoticeState.SENT
        clock.advance(timedelta(minutes=29))
        assert await worker.check_acks() == 0
        clock.advance(timedelta(minutes=1))
        assert await worker.check_acks() == 1
    detail = await outbox.get("notice-1")
    assert detail is not None
    assert (detail.notice.state, detail.notice.resends) == (NoticeState.DEAD, 2)
    assert "no acknowledgement after 2 resend(s)" in (detail.notice.last_error or "")
    assert len({m["id"] for m in sender.sent}) == 3
    assert {m["entry"][0]["resource"]["id"] for m in sender.sent} == {HEADER}


async def test_negative_fatal_ack_is_recorded_with_its_reason(outbox: MemoryOutbox, clock: FixedClock) -> None:
    issue = AckIssue("error", "structure", "MSG_Datatype_Wrong", "bad date")
    ack = acknowledgement_from_message(MESSAGE, code="fatal-error", sent_at=T0, base_url="x", issues=[issue])
    parsed = parse_acknowledgement(ack)
    outcome = AttemptOutcome.permanent(Failure.NEGATIVE_ACK_FATAL, parsed.reason(), status=200, ack=parsed)
    await make_worker(outbox, ScriptedSender(outcome), clock).drain()
    detail = await outbox.get("notice-1")
    assert detail is not None
    assert detail.notice.state is NoticeState.DEAD
    assert detail.notice.ack is not None and detail.notice.ack.code == "fatal-error"
    assert "MSG_Datatype_Wrong: bad date" in (detail.notice.last_error or "")


class BlockingSender:
    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def send(self, endpoint: str, message: Mapping[str, Any]) -> AttemptOutcome:
        self.started.set()
        await asyncio.Event().wait()  # never answers
        raise AssertionError("unreachable")


async def test_cancel_during_send_records_an_interrupted_attempt(outbox: MemoryOutbox, clock: FixedClock) -> None:
    sender = BlockingSender()
    task = asyncio.create_task(make_worker(outbox, sender, clock).run_once())
    await sender.started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    detail = await outbox.get("notice-1")
    assert detail is not None
    assert detail.notice.state is NoticeState.PENDING and detail.notice.due_at == T0
    assert detail.attempts[0].attempt.failure == "interrupted"


class GatedOutbox(MemoryOutbox):
    """Holds the status write until released, to cancel the worker in the middle of it."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = asyncio.Event()
        self.release = asyncio.Event()

    async def record_attempt(self, claim: Claim, attempt: Attempt, step: NextStep) -> bool:
        self.writing.set()
        await self.release.wait()
        return await super().record_attempt(claim, attempt, step)


async def test_cancel_during_status_write_still_finishes_the_write(clock: FixedClock) -> None:
    outbox = GatedOutbox()
    notice = NewNotice("notice-1", HEADER, "citizen-1", "sor:1", "http://gp/fhir", MESSAGE)
    await outbox.enqueue("inbound-1", [notice], T0)
    task = asyncio.create_task(make_worker(outbox, ScriptedSender(positive()), clock).run_once())
    await outbox.writing.wait()
    task.cancel()
    await asyncio.sleep(0)
    outbox.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await state(outbox) is NoticeState.ACKNOWLEDGED


async def test_run_delivers_until_stopped(outbox: MemoryOutbox, clock: FixedClock) -> None:
    stop = asyncio.Event()
    sender = ScriptedSender(positive())
    worker = Worker(outbox, sender, clock=clock, ids=SequenceIds(), rng=random.Random(0))
    task = asyncio.create_task(worker.run(stop))
    while await state(outbox) is not NoticeState.ACKNOWLEDGED:
        await asyncio.sleep(0)
    stop.set()
    await task
    assert len(sender.sent) == 1


async def test_the_gate_withholds_a_notice_instead_of_sending_it(outbox: MemoryOutbox, clock: FixedClock) -> None:
    asked: list[str] = []
    reason = "consent: the plan no longer permits followup to sor:265161000016000"

    async def consent_ended(notice: Any) -> str | None:
        asked.append(notice.id)
        return reason

    sender = ScriptedSender(positive())
    assert await make_worker(outbox, sender, clock, gate=consent_ended).drain() == 1
    detail = await outbox.get("notice-1")
    assert detail is not None
    assert (detail.notice.state, detail.notice.last_error) == (NoticeState.SKIPPED, reason)
    assert sender.sent == [] and detail.attempts == (), "nothing left the gateway"
    assert asked == ["notice-1"]


async def test_an_open_gate_sends_as_before(outbox: MemoryOutbox, clock: FixedClock) -> None:
    async def permitted(notice: Any) -> str | None:
        return None

    sender = ScriptedSender(positive())
    assert await make_worker(outbox, sender, clock, gate=permitted).drain() == 1
    assert await state(outbox) is NoticeState.ACKNOWLEDGED and len(sender.sent) == 1


class CountingOutbox(MemoryOutbox):
    claims = 0

    async def claim(self, now: datetime, lease: timedelta, token: str) -> Claim | None:
        self.claims += 1
        return await super().claim(now, lease, token)


async def test_a_wake_up_ends_the_idle_wait(clock: FixedClock) -> None:
    """Intake in the worker's process sets `wake`: what it enqueued is sent without waiting out the idle poll."""
    box, stop, wake = CountingOutbox(), asyncio.Event(), asyncio.Event()
    worker = make_worker(box, ScriptedSender(positive()), clock, settings=WorkerSettings(idle_seconds=3600), wake=wake)
    task = asyncio.create_task(worker.run(stop))
    while box.claims == 0:  # the worker found nothing and settles into its hour-long wait
        await asyncio.sleep(0)
    for _ in range(10):
        await asyncio.sleep(0)
    await box.enqueue("inbound-1", [NewNotice("notice-1", HEADER, "c", "sor:1", "http://gp/fhir", MESSAGE)], T0)
    wake.set()

    async def acknowledged() -> None:
        while await state(box) is not NoticeState.ACKNOWLEDGED:
            await asyncio.sleep(0)

    await asyncio.wait_for(acknowledged(), timeout=60)  # a guard against hanging for the hour, not a timing
    stop.set()
    await task
    assert box.claims >= 2
