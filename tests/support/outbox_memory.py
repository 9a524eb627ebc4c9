"""`MemoryOutbox`: the outbox in process memory, a test double (not part of `gateway.delivery`'s public API).

Real code, not a mock: it keeps every rule of the `Outbox` contract (see `outbox.py`) and passes the same
contract suite as the SQL outbox. Each method runs without awaiting, so on one event loop it is atomic, which
stands in for the SQL outbox's transactions.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta

from gateway.delivery.outbox import (
    Acknowledge,
    AckRecord,
    Attempt,
    AttemptRecord,
    AwaitAck,
    Claim,
    DeadLetter,
    EnqueueResult,
    NewNotice,
    NextStep,
    NoticeDetail,
    NoticeRecord,
    NoticeState,
    Retry,
)
from mappings.issues import IssueError

_IN_FLIGHT = (NoticeState.PENDING, NoticeState.SENDING)


@dataclasses.dataclass(slots=True)
class _Row:
    record: NoticeRecord
    lease_token: str | None = None


class MemoryOutbox:
    def __init__(self) -> None:
        self._rows: dict[str, _Row] = {}
        self._by_header: dict[str, str] = {}
        self._inbound: dict[str, tuple[str, ...]] = {}
        self._attempts: dict[str, list[AttemptRecord]] = {}
        self._sequence = itertools.count(1)

    async def enqueue(self, inbound_message_id: str, notices: Sequence[NewNotice], now: datetime) -> EnqueueResult:
        if inbound_message_id in self._inbound:
            return EnqueueResult(False, tuple(self._copy(i) for i in self._inbound[inbound_message_id]))
        ids = [n.id for n in notices]
        headers = [n.message_header_id for n in notices]
        if (
            len(set(ids)) != len(ids)
            or len(set(headers)) != len(headers)
            or any(i in self._rows for i in ids)
            or any(h in self._by_header for h in headers)
        ):
            raise IssueError.single(
                "conflict",
                "a notice id or MessageHeader.id is already in the outbox",
                message_id="outbox.duplicate-notice",
            )
        for notice in notices:
            record = NoticeRecord(
                id=notice.id,
                inbound_message_id=inbound_message_id,
                message_header_id=notice.message_header_id,
                citizen=notice.citizen,
                recipient=notice.recipient,
                endpoint=notice.endpoint,
                kind=notice.kind,
                message=copy.deepcopy(notice.message),
                state=NoticeState.PENDING,
                sequence=next(self._sequence),
                created_at=now,
                due_at=now,
            )
            self._rows[notice.id] = _Row(record)
            self._by_header[notice.message_header_id] = notice.id
            self._attempts[notice.id] = []
        self._inbound[inbound_message_id] = tuple(ids)
        return EnqueueResult(True, tuple(self._copy(i) for i in ids))

    async def claim(self, now: datetime, lease: timedelta, token: str) -> Claim | None:
        rows = sorted(self._rows.values(), key=lambda r: r.record.sequence)
        for row in rows:
            if self._claimable(row.record, now) and not self._held_back(row.record, rows, now):
                row.record = dataclasses.replace(
                    row.record, state=NoticeState.SENDING, lease_expires_at=now + lease, due_at=None
                )
                row.lease_token = token
                return Claim(self._copy(row.record.id), token)
        return None

    async def record_attempt(self, claim: Claim, attempt: Attempt, step: NextStep) -> bool:
        row = self._row(claim.notice.id)
        log = self._attempts[row.record.id]
        log.append(AttemptRecord(row.record.id, len(log) + 1, attempt))
        if row.record.state is not NoticeState.SENDING or row.lease_token != claim.token:
            return False
        base = dataclasses.replace(row.record, attempts=row.record.attempts + 1, lease_expires_at=None, due_at=None)
        row.lease_token = None
        row.record = _apply(base, step, attempt.finished_at)
        return True

    async def record_ack(self, acknowledged_header_id: str, ack: AckRecord) -> NoticeRecord | None:
        notice_id = self._by_header.get(acknowledged_header_id)
        if notice_id is None:
            return None
        row = self._rows[notice_id]
        if row.record.state is not NoticeState.ACKNOWLEDGED:
            row.lease_token = None
            row.record = dataclasses.replace(
                row.record,
                state=NoticeState.ACKNOWLEDGED if ack.positive else NoticeState.DEAD,
                ack=ack,
                due_at=None,
                lease_expires_at=None,
                ack_due_at=None,
                last_error=None if ack.positive else f"negative acknowledgement: {ack.reason or ack.code}",
            )
        return self._copy(notice_id)

    async def overdue_acks(self, now: datetime, limit: int) -> list[NoticeRecord]:
        overdue = [
            r.record
            for r in self._rows.values()
            if r.record.state is NoticeState.SENT and r.record.ack_due_at is not None and r.record.ack_due_at <= now
        ]
        overdue.sort(key=lambda r: (r.ack_due_at or now, r.sequence))
        return [self._copy(r.id) for r in overdue[:limit]]

    async def resend(self, notice_id: str, now: datetime) -> NoticeRecord:
        row = self._row(notice_id)
        if row.record.state in _IN_FLIGHT:
            raise IssueError.single(
                "conflict",
                f"notice {notice_id} is {row.record.state}: it is already on its way",
                message_id="outbox.not-resendable",
            )
        row.record = dataclasses.replace(
            row.record,
            state=NoticeState.PENDING,
            due_at=now,
            attempts=0,
            resends=row.record.resends + 1,
            ack_due_at=None,
        )
        return self._copy(notice_id)

    async def dead_letter(self, notice_id: str, reason: str, now: datetime) -> NoticeRecord:
        row = self._row(notice_id)
        if row.record.state not in (NoticeState.PENDING, NoticeState.SENT):
            raise IssueError.single(
                "conflict",
                f"notice {notice_id} is {row.record.state}; only pending or sent notices can be given up",
                message_id="outbox.not-dead-letterable",
            )
        row.record = dataclasses.replace(
            row.record, state=NoticeState.DEAD, due_at=None, ack_due_at=None, last_error=reason
        )
        return self._copy(notice_id)

    async def retry_dead(self, now: datetime, notice_ids: Sequence[str] | None = None) -> list[NoticeRecord]:
        wanted = set(notice_ids) if notice_ids is not None else None
        revived: list[NoticeRecord] = []
        for row in sorted(self._rows.values(), key=lambda r: r.record.sequence):
            if row.record.state is NoticeState.DEAD and (wanted is None or row.record.id in wanted):
                row.record = dataclasses.replace(row.record, state=NoticeState.PENDING, due_at=now, attempts=0)
                revived.append(self._copy(row.record.id))
        return revived

    async def get(self, notice_id: str) -> NoticeDetail | None:
        if notice_id not in self._rows:
            return None
        return NoticeDetail(self._copy(notice_id), tuple(self._attempts[notice_id]))

    async def list_notices(
        self, state: NoticeState | None = None, *, limit: int = 50, offset: int = 0
    ) -> list[NoticeRecord]:
        records = sorted((r.record for r in self._rows.values()), key=lambda r: r.sequence)
        chosen = [r for r in records if state is None or r.state is state]
        return [self._copy(r.id) for r in chosen[offset : offset + limit]]

    async def for_inbound(self, inbound_message_id: str) -> list[NoticeRecord]:
        return [self._copy(i) for i in self._inbound.get(inbound_message_id, ())]

    @staticmethod
    def _claimable(record: NoticeRecord, now: datetime) -> bool:
        if record.state is NoticeState.PENDING:
            return record.due_at is not None and record.due_at <= now
        return (
            record.state is NoticeState.SENDING
            and record.lease_expires_at is not None
            and record.lease_expires_at <= now
        )

    @staticmethod
    def _held_back(record: NoticeRecord, rows: Sequence[_Row], now: datetime) -> bool:
        """A stalled send (expired lease) is never held back: it is already in flight. A pending notice waits
        while anything of its key is in flight, or older and still pending."""
        if record.state is NoticeState.SENDING:
            return False
        for other in rows:
            o = other.record
            if o.id == record.id or (o.citizen, o.recipient) != (record.citizen, record.recipient):
                continue
            if o.state is NoticeState.SENDING:
                return True
            if o.state is NoticeState.PENDING and o.sequence < record.sequence:
                return True
        return False

    def _row(self, notice_id: str) -> _Row:
        row = self._rows.get(notice_id)
        if row is None:
            raise IssueError.single(
                "not-found", f"no notice {notice_id} in the outbox", message_id="outbox.notice-unknown"
            )
        return row

    def _copy(self, notice_id: str) -> NoticeRecord:
        # Callers get their own copy of the message: mutating it must not change the outbox.
        record = self._rows[notice_id].record
        return dataclasses.replace(record, message=copy.deepcopy(record.message))


def _apply(record: NoticeRecord, step: NextStep, at: datetime) -> NoticeRecord:
    match step:
        case Acknowledge(ack=ack):
            return dataclasses.replace(
                record, state=NoticeState.ACKNOWLEDGED, sent_at=at, ack=ack, last_error=None, ack_due_at=None
            )
        case AwaitAck(ack_due_at=due):
            return dataclasses.replace(record, state=NoticeState.SENT, sent_at=at, ack_due_at=due, last_error=None)
        case Retry(due_at=due):
            return dataclasses.replace(record, state=NoticeState.PENDING, due_at=due)
        case DeadLetter(reason=reason, ack=ack):
            return dataclasses.replace(
                record, state=NoticeState.DEAD, last_error=reason, ack=ack or record.ack, ack_due_at=None
            )
    raise AssertionError(f"unknown step {step!r}")  # pragma: no cover - NextStep is a closed union
