"""Worker: claim → send → record, driven by a FixedClock, SequenceIds and a scripted Sender."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fixtures.messages import empty_message
from gateway.clock import FixedClock, SequenceIds
from gateway.delivery.outbox import Attempt, Claim, NewNotice, NextStep, NoticeState, Outbox, message_header_id
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
        self.endpoints: list[str] = []

    async def send(self, endpoint: str, message: Mapping[str, Any]) -> AttemptOutcome:
        self.endpoints.append(endpoint)
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


class OverlappingReceiver:
    """Acknowledges every message after a few turns of the event loop, and watches what is in flight per queue
    (the endpoint names the queue: `http://<citizen>/<recipient>/<notice>`). The first `together` sends are held
    until that many are in flight: lanes that claim from threads (`SqlOutbox`) meet however the threads run."""

    def __init__(self, rng: random.Random, together: int) -> None:
        self.rng = rng
        self.together = together
        self.met = asyncio.Event()
        self.in_flight: Counter[str] = Counter()
        self.most_in_flight = 0
        self.most_per_queue = 0
        self.delivered: dict[str, list[str]] = defaultdict(list)

    async def send(self, endpoint: str, message: Mapping[str, Any]) -> AttemptOutcome:
        queue, notice_id = endpoint.rsplit("/", 1)
        self.in_flight[queue] += 1
        self.most_per_queue = max(self.most_per_queue, self.in_flight[queue])
        self.most_in_flight = max(self.most_in_flight, sum(self.in_flight.values()))
        if self.most_in_flight >= self.together:
            self.met.set()
        await self.met.wait()
        for _ in range(self.rng.randint(1, 6)):
            await asyncio.sleep(0)
        self.in_flight[queue] -= 1
        self.delivered[queue].append(notice_id)
        ack = acknowledgement_from_message(dict(message), code="ok", sent_at=T0, base_url="http://receiver")
        return AttemptOutcome.delivered(200, parse_acknowledgement(ack))


QUEUES = (("citizen-1", "sor:1"), ("citizen-1", "sor:2"), ("citizen-2", "sor:1"), ("citizen-3", "sor:3"))


async def enqueue_rounds(outbox: Outbox, rounds: int) -> dict[str, list[str]]:
    """`rounds` inbound messages, each with one notice per queue; the notice ids per queue in enqueue order."""
    expected: dict[str, list[str]] = defaultdict(list)
    for number in range(rounds):
        batch = []
        for citizen, recipient in QUEUES:
            notice_id = f"n-{len(batch) + number * len(QUEUES):04d}"
            header = f"00000000-0000-4000-8000-{len(batch) + number * len(QUEUES):012d}"
            message = empty_message(header_id=header, bundle_id="b", provenance_id=f"p-{header}", sent_at=T0)
            queue = f"http://{citizen}/{recipient}"
            batch.append(NewNotice(notice_id, header, citizen, recipient, f"{queue}/{notice_id}", message))
            expected[queue].append(notice_id)
        await outbox.enqueue(f"inbound-{number}", batch, T0)
    return expected


async def deliver_in_lanes(outbox: Outbox, clock: FixedClock, lanes: int, rounds: int) -> None:
    """Run a worker of `lanes` lanes until every notice of `enqueue_rounds` was sent; check the ordering rule."""
    expected = await enqueue_rounds(outbox, rounds)
    receiver, stop = OverlappingReceiver(random.Random(18), min(lanes, len(QUEUES))), asyncio.Event()
    sends = 0

    def observe(*_: Any) -> None:
        nonlocal sends
        sends += 1
        if sends == len(QUEUES) * rounds:
            stop.set()

    settings = WorkerSettings(concurrency=lanes, idle_seconds=0.0)
    worker = make_worker(outbox, receiver, clock, settings=settings, observe=observe)
    await asyncio.wait_for(worker.run(stop), timeout=60)  # a guard against hanging, not a timing
    assert receiver.delivered == expected, "each queue in its order, every notice once"
    assert receiver.most_per_queue == 1, "never two notices of one queue in flight"
    assert receiver.most_in_flight == min(lanes, len(QUEUES)), "the lanes did send side by side"
    for notice_ids in expected.values():
        for notice_id in notice_ids:
            detail = await outbox.get(notice_id)
            assert detail is not None and detail.notice.state is NoticeState.ACKNOWLEDGED
            assert len(detail.attempts) == 1


@pytest.mark.parametrize("lanes", [1, 3, 8])
async def test_lanes_send_to_different_queues_at_once_and_keep_each_queue_in_order(
    clock: FixedClock, lanes: int
) -> None:
    await deliver_in_lanes(MemoryOutbox(), clock, lanes, rounds=5)


async def test_cancelling_a_worker_of_several_lanes_records_every_send_in_flight(clock: FixedClock) -> None:
    box = MemoryOutbox()
    await enqueue_rounds(box, 2)
    sender = BlockingSender()
    settings = WorkerSettings(concurrency=3, idle_seconds=0.0)
    task = asyncio.create_task(make_worker(box, sender, clock, settings=settings).run(asyncio.Event()))
    while len(sender.endpoints) < 3:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(sender.endpoints) == 3
    for endpoint in sender.endpoints:
        detail = await box.get(endpoint.rsplit("/", 1)[1])
        assert detail is not None
        assert detail.notice.state is NoticeState.PENDING and detail.notice.due_at == T0, "due again at once"
        assert [a.attempt.failure for a in detail.attempts] == ["interrupted"]
    assert await box.list_notices(NoticeState.SENDING, limit=100, offset=0) == [], "no lease left behind"


class AckCountingOutbox(MemoryOutbox):
    looked = 0

    async def overdue_acks(self, now: datetime, limit: int) -> list[Any]:
        self.looked += 1
        return await super().overdue_acks(now, limit)


async def test_overdue_acknowledgements_are_looked_for_once_per_interval_not_after_every_send(
    clock: FixedClock,
) -> None:
    box, stop, wake = AckCountingOutbox(), asyncio.Event(), asyncio.Event()
    await enqueue_rounds(box, 3)
    no_ack = ScriptedSender(*[AttemptOutcome.delivered(200, None)] * len(QUEUES) * 3 * 2)
    settings = WorkerSettings(idle_seconds=3600, ack_check_every=timedelta(seconds=1))
    task = asyncio.create_task(make_worker(box, no_ack, clock, settings=settings, wake=wake).run(stop))
    sends = len(QUEUES) * 3
    while len(no_ack.sent) < sends:
        await asyncio.sleep(0)
    for _ in range(20):
        await asyncio.sleep(0)
    assert box.looked == 1, "the clock has not moved: one look, not one per send"
    clock.advance(timedelta(minutes=31))  # past the acknowledgement deadline (30 minutes) and the interval
    wake.set()

    async def resent() -> None:
        while len(no_ack.sent) < 2 * sends:
            await asyncio.sleep(0)

    await asyncio.wait_for(resent(), timeout=60)  # a guard against hanging for the hour, not a timing
    stop.set()
    await task
    assert box.looked == 2
    assert sorted(message_header_id(m) for m in no_ack.sent[sends:]) == sorted(
        message_header_id(m) for m in no_ack.sent[:sends]
    ), "every overdue notice went again, once"
