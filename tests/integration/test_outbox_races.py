"""Operators' replays and two workers' acknowledgement timeouts on the SQL outbox (SQLite and PostgreSQL): a replay
is checked whole before anything is resent, and an overdue notice is resent once however many workers saw it."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from fixtures.messages import empty_message
from gateway.clock import FixedClock, SequenceIds
from gateway.delivery.outbox import Acknowledge, AckRecord, DeadLetter, NewNotice, NoticeState
from gateway.delivery.outbox_sql import SqlOutbox
from gateway.delivery.outcome import AttemptOutcome
from gateway.delivery.policy import AckTimeoutPolicy
from gateway.delivery.worker import Worker
from gateway.services.delivery import MessageService
from mappings.issues import IssueError
from tests.gateway.delivery.outbox_contract import attempt

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def new_notice(n: int, recipient: str) -> NewNotice:
    header = f"00000000-0000-4000-9000-{n:012d}"
    message = empty_message(header_id=header, bundle_id=f"b-{n}", provenance_id=f"p-{n}", sent_at=T0)
    return NewNotice(f"n-{n}", header, "citizen-1", recipient, "http://gp.test/fhir", message, kind="k")


async def test_replay_of_an_inbound_message_is_not_half_applied(outbox_engine: Engine) -> None:
    """Replay resends the inbound message's notices; one of them refused (fatal-error) must not leave the others
    replayed by a call that answered with an error."""
    outbox = SqlOutbox(outbox_engine)
    await outbox.enqueue("in-1", [new_notice(1, "sor:1"), new_notice(2, "sor:2")], T0)
    first = await outbox.claim(T0, timedelta(minutes=2), "t1")
    assert first is not None and first.notice.id == "n-1"
    ok = AckRecord("a1", "ab1", "ok", T0)
    assert await outbox.record_attempt(first, attempt(T0), Acknowledge(ok))
    second = await outbox.claim(T0, timedelta(minutes=2), "t2")
    assert second is not None and second.notice.id == "n-2"
    fatal = AckRecord("a2", "ab2", "fatal-error", T0, "fatal-error: bad")
    assert await outbox.record_attempt(second, attempt(T0), DeadLetter("negative-ack-fatal", fatal))

    service = MessageService(outbox_engine, FixedClock(T0 + timedelta(hours=1)), SequenceIds())
    try:
        await service.replay(["n-1", "n-2"])  # naming the refused one: refused, and nothing resent
    except IssueError as error:
        assert error.issues[0].message_id == "outbox.refused"
    else:
        raise AssertionError("a replay naming a refused notice was not refused")
    one = await outbox.get("n-1")
    assert one is not None
    assert (one.notice.state, one.notice.resends) == (NoticeState.ACKNOWLEDGED, 0), one.notice
    replayed = await service.replay_inbound("in-1")  # the message's notices: the refused one is left alone
    assert [r.id for r in replayed] == ["n-1"]
    two = await outbox.get("n-2")
    assert two is not None and two.notice.state is NoticeState.DEAD


class PausedOutbox(SqlOutbox):
    """Holds `overdue_acks`'s answer until told: another worker acts between the read and what it leads to."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.read = asyncio.Event()
        self.go = asyncio.Event()

    async def overdue_acks(self, now: datetime, limit: int) -> list[Any]:
        found = await super().overdue_acks(now, limit)
        self.read.set()
        await self.go.wait()
        return found


class NoAckSender:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, endpoint: str, message: Mapping[str, Any]) -> AttemptOutcome:
        self.sent.append(dict(message))
        return AttemptOutcome.delivered(202, None)


async def test_two_workers_checking_acks_resend_an_overdue_notice_once(outbox_engine: Engine) -> None:
    """Workers run side by side ("as many as you like"); each checks for overdue acknowledgements every second.
    A resend decided on a stale read must not send the notice again seconds after the other worker resent it."""
    clock = FixedClock(T0)
    sender = NoAckSender()
    shared = SqlOutbox(outbox_engine)
    await shared.enqueue("in-1", [new_notice(1, "sor:1")], T0)

    def worker(outbox: SqlOutbox) -> Worker:
        return Worker(
            outbox, sender, clock=clock, ids=SequenceIds(), rng=random.Random(0), ack_policy=AckTimeoutPolicy()
        )

    a, paused = worker(shared), PausedOutbox(outbox_engine)
    b = worker(paused)
    assert await a.run_once()  # first send: no acknowledgement, `sent`
    clock.advance(timedelta(minutes=31))
    b_checks = asyncio.create_task(b.check_acks())
    await paused.read.wait()  # B has read the notice as overdue ...
    assert await a.check_acks() == 1  # ... A resends it (resend 1) ...
    assert await a.run_once()  # ... and sends it: `sent` again, next deadline in 30 minutes
    paused.go.set()
    await b_checks  # B acts on what it read
    await a.drain()
    detail = await shared.get("n-1")
    assert detail is not None
    assert len(sender.sent) == 2, f"sent {len(sender.sent)} times within the same minute"
    assert (detail.notice.state, detail.notice.resends) == (NoticeState.SENT, 1)
