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
from typing import Any

from gateway.delivery.outbox import (
    OPEN_STATES,
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
    message_header_id,
    refuse_if_refused,
    require_dead,
    require_resendable,
    require_withholdable,
    still_overdue,
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
        ready: list[tuple[datetime, int, _Row]] = []
        for key in {(r.record.citizen, r.record.recipient) for r in self._rows.values()}:
            head = self._head(key)
            if head is None:
                continue
            record = head.record
            at = record.lease_expires_at if record.state is NoticeState.SENDING else record.due_at
            if record.state is not NoticeState.DEAD and at is not None and at <= now:
                ready.append((at, record.sequence, head))
        if not ready:
            return None
        row = min(ready, key=lambda item: item[:2])[2]
        row.record = dataclasses.replace(
            row.record, state=NoticeState.SENDING, lease_expires_at=now + lease, due_at=None
        )
        row.lease_token = token
        return Claim(self._copy(row.record.id), token)

    def _head(self, key: tuple[str, str]) -> _Row | None:
        """The key's notice in flight, else its oldest open notice (see the ordering rule in outbox.py)."""
        rows = [r for r in self._rows.values() if (r.record.citizen, r.record.recipient) == key]
        in_flight = [r for r in rows if r.record.state is NoticeState.SENDING]
        open_rows = sorted((r for r in rows if r.record.state in OPEN_STATES), key=lambda r: r.record.sequence)
        return (in_flight or open_rows or [None])[0]

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

    async def notice_for_header(self, header_id: str) -> NoticeRecord | None:
        notice_id = self._by_header.get(header_id)
        if notice_id is None:
            return None
        return self._copy(notice_id)

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

    async def resend(
        self, notice_id: str, now: datetime, *, overdue: NoticeRecord | None = None, ack: AckRecord | None = None
    ) -> NoticeRecord:
        row = self._row(notice_id)
        if overdue is not None and not still_overdue(row.record, overdue, now):
            return self._copy(notice_id)
        require_resendable(row.record)
        row.record = dataclasses.replace(
            row.record,
            state=NoticeState.PENDING,
            due_at=now,
            attempts=0,
            resends=row.record.resends + 1,
            ack_due_at=None,
            ack=ack if ack is not None else row.record.ack,
        )
        return self._copy(notice_id)

    async def dead_letter(
        self, notice_id: str, reason: str, now: datetime, *, overdue: NoticeRecord | None = None
    ) -> NoticeRecord:
        row = self._row(notice_id)
        if overdue is not None and not still_overdue(row.record, overdue, now):
            return self._copy(notice_id)
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
        chosen = [
            row
            for row in sorted(self._rows.values(), key=lambda r: r.record.sequence)
            if row.record.state is NoticeState.DEAD and (wanted is None or row.record.id in wanted)
        ]
        if wanted is not None:
            for row in chosen:
                refuse_if_refused(row.record, "retried")
        revived: list[NoticeRecord] = []
        for row in chosen:
            if not row.record.refused:
                row.record = dataclasses.replace(row.record, state=NoticeState.PENDING, due_at=now, attempts=0)
                revived.append(self._copy(row.record.id))
        return revived

    async def withhold(self, notice_id: str, reason: str, now: datetime, *, token: str | None = None) -> NoticeRecord:
        row = self._row(notice_id)
        require_withholdable(row.record, row.lease_token, token)
        row.lease_token = None
        row.record = dataclasses.replace(
            row.record,
            state=NoticeState.SKIPPED,
            due_at=None,
            ack_due_at=None,
            lease_expires_at=None,
            last_error=reason,
        )
        return self._copy(notice_id)

    async def skip(self, notice_id: str, reason: str, now: datetime) -> NoticeRecord:
        row = self._dead_row(notice_id)
        row.record = dataclasses.replace(
            row.record, state=NoticeState.SKIPPED, last_error=f"{row.record.last_error or 'dead'}; skipped: {reason}"
        )
        return self._copy(notice_id)

    async def correct(self, notice_id: str, message: dict[str, Any], now: datetime) -> NoticeRecord:
        row = self._dead_row(notice_id)
        header_id = message_header_id(message)
        if header_id in self._by_header:
            raise IssueError.single("conflict", "MessageHeader.id used before", message_id="outbox.duplicate-notice")
        self._by_header[header_id] = notice_id
        row.record = dataclasses.replace(
            row.record,
            state=NoticeState.PENDING,
            message=copy.deepcopy(message),
            message_header_id=header_id,
            corrects=row.record.message_header_id,
            due_at=now,
            attempts=0,
            resends=0,
            sent_at=None,
            ack=None,
            ack_due_at=None,
            last_error=None,
        )
        return self._copy(notice_id)

    async def repair(self, now: datetime, limit: int = 500) -> int:
        return 0  # nothing derived to keep in step

    def _dead_row(self, notice_id: str) -> _Row:
        row = self._row(notice_id)
        require_dead(row.record, "changed")
        return row

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
        head = self._head((record.citizen, record.recipient))
        held = (
            head.record.id
            if record.state is NoticeState.PENDING and head is not None and head.record.state is NoticeState.DEAD
            else None
        )
        return dataclasses.replace(record, message=copy.deepcopy(record.message), held_behind=held)


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
