"""The delivery worker: claim → send → record, and nothing else (procrastinate's worker shape).

Decisions live elsewhere: what to do after a failure is `RetryPolicy.decide`, what an acknowledgement timeout
means is `AckTimeoutPolicy`, where state lives is the `Outbox`, how bytes travel is the `Sender`. Time, ids
and jitter are passed in (`Clock`, `IdSource`, `random.Random`).

Idle: with nothing due the worker waits `idle_seconds` before asking again, or less when `wake` is set: the
API process sets it when its intake enqueues (the worker inside `gateway serve`), so a notice is not left waiting
for the next poll. A worker in its own process (`gateway worker`) has no such signal and polls.

Concurrency: `WorkerSettings.concurrency` sends run at once, each to another ordering key; the outbox never hands
out a second notice of a key while one is in flight, so the order within a key is the same as with one lane.

Shutdown: when the task running the worker is cancelled mid-send, the attempt is recorded as `interrupted`
(due again at once) before the cancellation propagates; a cancellation during the status write waits for
the write to finish. A process killed outright (SIGKILL) leaves the notice `sending`; its lease expires and
another claim resends it with a new `Bundle.id` and the same `MessageHeader.id`, which receivers deduplicate
(MedCom).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway.clock import Clock, IdSource
from gateway.delivery.envelope import stamp_envelope
from gateway.delivery.outbox import (
    Acknowledge,
    AckRecord,
    Attempt,
    AwaitAck,
    Claim,
    DeadLetter,
    NextStep,
    NoticeRecord,
    Outbox,
    Retry,
)
from gateway.delivery.outcome import AttemptOutcome, Failure, OutcomeKind
from gateway.delivery.policy import AckTimeoutPolicy, AckVerdict, RetryPolicy
from gateway.delivery.sender import Sender

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """`lease` must outlast one send (the HTTP client's total timeout) with room to record the result."""

    lease: timedelta = timedelta(minutes=2)
    idle_seconds: float = 1.0
    ack_batch: int = 100
    #: How often the worker asks the outbox to repair bookkeeping left stale by older writers (`Outbox.repair`).
    repair_every: timedelta = timedelta(minutes=1)
    #: How often the worker looks for overdue acknowledgements (`check_acks`); zero: after every round. Deadlines
    #: are minutes (MedCom: 30), so a resend is at most this much later, while asking after every send cost a
    #: query per notice (issue 18: 1.3 ms of ~21).
    ack_check_every: timedelta = timedelta(seconds=1)
    #: Sends in flight at once, each to another (citizen, recipient) queue: an A03's 4 notices go to 3 recipients,
    #: and a send mostly waits on the receiver. 1: one notice at a time.
    concurrency: int = 1

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("a worker needs at least one lane (concurrency >= 1)")


#: Asked before every send: why the claimed notice may not go now (its consent no longer permits what it carries),
#: or None. A reason withholds the notice for good instead of sending it.
Gate = Callable[[NoticeRecord], Awaitable[str | None]]

#: Told about every recorded attempt and the step it led to (metrics); must not raise.
Observer = Callable[[Claim, Attempt, NextStep], None]


class Worker:
    def __init__(
        self,
        outbox: Outbox,
        sender: Sender,
        *,
        clock: Clock,
        ids: IdSource,
        rng: random.Random,
        policy: RetryPolicy | None = None,
        ack_policy: AckTimeoutPolicy | None = None,
        settings: WorkerSettings | None = None,
        observe: Observer | None = None,
        gate: Gate | None = None,
        wake: asyncio.Event | None = None,
    ) -> None:
        self._outbox = outbox
        self._sender = sender
        self._clock = clock
        self._ids = ids
        self._rng = rng
        self._policy = policy or RetryPolicy()
        self._ack_policy = ack_policy or AckTimeoutPolicy()
        self._settings = settings or WorkerSettings()
        self._observe = observe
        self._gate = gate
        self._wake = wake

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set (or the task is cancelled); a failed round is logged, not fatal.

        `concurrency` lanes claim and send side by side. Each claim takes the head of a (citizen, recipient) queue
        with nothing in flight (the outbox's rule, a database fact for `SqlOutbox`), so lanes always send to
        different queues and a queue's order holds. One lane also repairs and checks acknowledgements.

        Setting `stop` drains: the sends in progress are finished and recorded, then the loop ends; a
        cancellation records each lane's send in progress as interrupted before `run` ends."""
        lanes = [asyncio.ensure_future(self._lane(stop, keeper=n == 0)) for n in range(self._settings.concurrency)]
        try:
            await asyncio.gather(*lanes)
        finally:
            for lane in lanes:
                lane.cancel()  # a lane still running here: `run` itself was cancelled, or another lane failed
            await asyncio.wait(lanes)

    async def _lane(self, stop: asyncio.Event, *, keeper: bool) -> None:
        repaired: datetime | None = None
        acks_checked: datetime | None = None
        while not stop.is_set():
            failed = False
            if self._wake is not None:
                self._wake.clear()  # before the claim: what is enqueued after it rings again and is not missed
            try:
                now = self._clock.now()
                if keeper and (repaired is None or now - repaired >= self._settings.repair_every):
                    repaired = now
                    if fixed := await self._outbox.repair(now):
                        logger.warning("repaired the queue bookkeeping of %d ordering keys", fixed)
                worked = await self.run_once()
                now = self._clock.now()
                if keeper and (acks_checked is None or now - acks_checked >= self._settings.ack_check_every):
                    acks_checked = now
                    if await self.check_acks():
                        worked = True  # what it made due again goes now, not after the idle pause
            except Exception:  # the worker loop is one of the few places allowed to catch everything
                logger.exception("delivery round failed; retrying after a pause")
                worked, failed = False, True
            if not worked:
                # After a failure only `stop` cuts the pause short: a busy intake must not make a failing round spin.
                await _pause(self._settings.idle_seconds, stop, None if failed else self._wake)

    async def drain(self, max_rounds: int = 10_000) -> int:
        """Deliver everything deliverable now (tests, `gateway worker --once`); returns how many sends."""
        sends = 0
        while sends < max_rounds and await self.run_once():
            sends += 1
        return sends

    async def run_once(self) -> bool:
        """Claim one notice, send it, record the result; `False` when nothing was due."""
        claim = await self._outbox.claim(self._clock.now(), self._settings.lease, self._ids.new_id())
        if claim is None:
            return False
        if self._gate is not None and (reason := await self._gate(claim.notice)):
            # Decided at send time too, not only when the plan is written: a consent also ends by its period.
            await self._outbox.withhold(claim.notice.id, reason, self._clock.now(), token=claim.token)
            logger.info("notice %s withheld: %s", claim.notice.id, reason)
            return True
        bundle_id = self._ids.new_id()
        started = self._clock.now()
        message = stamp_envelope(claim.notice.message, bundle_id, started)
        try:
            outcome = await self._sender.send(claim.notice.endpoint, message)
        except asyncio.CancelledError:
            interrupted = AttemptOutcome.transient(Failure.INTERRUPTED, "worker stopped during the send")
            attempt = self._attempt(bundle_id, started, interrupted)
            await _finish(self._outbox.record_attempt(claim, attempt, Retry(attempt.finished_at)))
            raise
        except Exception as exc:  # noqa: BLE001 - a sender that raises must not leave the notice `sending` forever
            logger.exception("sending notice %s failed in the gateway", claim.notice.id)
            detail = f"the send failed in the gateway: {type(exc).__name__}"
            outcome = AttemptOutcome.permanent(Failure.INTERNAL, detail)
        attempt = self._attempt(bundle_id, started, outcome)
        step = self._next_step(claim, outcome, attempt)
        if not await _finish(self._outbox.record_attempt(claim, attempt, step)):
            logger.warning("lease on notice %s expired before its result was recorded", claim.notice.id)
        if self._observe is not None:
            self._observe(claim, attempt, step)
        return True

    async def check_acks(self) -> int:
        """Resend or give up on notices whose acknowledgement is overdue; returns how many were handled."""
        now = self._clock.now()
        overdue = await self._outbox.overdue_acks(now, self._settings.ack_batch)
        for notice in overdue:
            if notice.sent_at is None:
                continue
            verdict = self._ack_policy.verdict(notice.sent_at, notice.resends, now)
            # `overdue=notice`: acted on only if still this send (another worker may have resent it meanwhile)
            if verdict is AckVerdict.RESEND:
                await self._outbox.resend(notice.id, now, overdue=notice)
            elif verdict is AckVerdict.GIVE_UP:
                reason = f"{Failure.NO_ACK}: no acknowledgement after {notice.resends} resend(s)"
                await self._outbox.dead_letter(notice.id, reason, now, overdue=notice)
        return len(overdue)

    def _attempt(self, bundle_id: str, started: datetime, outcome: AttemptOutcome) -> Attempt:
        return Attempt(
            bundle_id=bundle_id,
            started_at=started,
            finished_at=self._clock.now(),
            outcome=outcome.kind,
            failure=str(outcome.failure) if outcome.failure else None,
            status=outcome.status,
            detail=outcome.detail,
        )

    def _next_step(self, claim: Claim, outcome: AttemptOutcome, attempt: Attempt) -> NextStep:
        now = attempt.finished_at
        ack = None
        if outcome.ack is not None:
            ack = AckRecord(
                message_header_id=outcome.ack.message_header_id,
                bundle_id=outcome.ack.bundle_id,
                code=outcome.ack.code,
                received_at=now,
                reason=outcome.ack.reason(),
            )
        if outcome.kind is OutcomeKind.DELIVERED:
            return Acknowledge(ack) if ack is not None else AwaitAck(self._ack_policy.deadline(now))
        decision = self._policy.decide(claim.notice.attempts + 1, outcome, now, self._rng)
        if decision is None:
            return DeadLetter(outcome.describe(), ack)
        return Retry(decision.due_at)


async def _pause(seconds: float, stop: asyncio.Event, wake: asyncio.Event | None) -> None:
    """Wait `seconds`, or until `stop` or `wake` is set."""
    waits = [asyncio.ensure_future(event.wait()) for event in (stop, wake) if event is not None]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


async def _finish(write: Coroutine[Any, Any, bool]) -> bool:
    """Run a status write to completion even if our task is cancelled meanwhile, then re-raise."""
    task = asyncio.ensure_future(write)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise
