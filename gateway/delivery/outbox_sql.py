"""`SqlOutbox`: the outbox in the gateway's database (SQLite or PostgreSQL), keeping the `Outbox` contract.

Every method is one database transaction (run in a worker thread; SQLAlchemy here is synchronous). Enqueue
writes the inbound message row and all its notices together, so once intake has answered 2xx nothing can be
lost. Claims take the oldest due notice whose `(citizen, recipient)` key has nothing older still in flight; on
PostgreSQL with `FOR UPDATE SKIP LOCKED`, so concurrent workers never block on or double-claim a row, and the
partial unique index `uq_outbox_notice_in_flight` makes "one in flight per key" a database fact
(procrastinate's `sql/schema.sql` uses the same two devices).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import orjson
from sqlalchemy import Connection, Engine, and_, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError

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
from gateway.delivery.outcome import OutcomeKind
from gateway.store import tables as t
from gateway.store.database import IMMEDIATE
from gateway.store.dates import format_instant
from mappings.issues import IssueError

T = TypeVar("T")
n = t.outbox_notice
#: How many claimable rows one claim looks at before giving up this round (a conflict moves on to the next).
CLAIM_CANDIDATES = 8


@dataclasses.dataclass(frozen=True, slots=True)
class InboundRecord:
    """What intake stores about the message it accepted (shown by `GET /messages/{id}`)."""

    content_type: str
    summary: dict[str, Any]
    body: str | None = None


#: Called inside `record_attempt`'s transaction (the delivery audit trail is written with the attempt).
AttemptHook = Callable[[Connection, Claim, Attempt], None]


class IdMatch(NamedTuple):
    """An id a person may have meant: an inbound message's, or a notice's (with its inbound message)."""

    kind: str
    id: str
    inbound_message_id: str


class SqlOutbox:
    def __init__(self, engine: Engine, *, on_attempt: AttemptHook | None = None) -> None:
        self.engine = engine
        self.on_attempt = on_attempt
        self._postgresql = engine.dialect.name == "postgresql"

    async def _write(self, work: Callable[[Connection], T]) -> T:
        def run() -> T:
            with self.engine.connect() as connection:
                connection = connection.execution_options(**{IMMEDIATE: True})
                with connection.begin():
                    return work(connection)

        return await asyncio.to_thread(run)

    async def _read(self, work: Callable[[Connection], T]) -> T:
        def run() -> T:
            with self.engine.connect() as connection, connection.begin():
                return work(connection)

        return await asyncio.to_thread(run)

    # -- enqueue ---------------------------------------------------------------------------------------------

    async def enqueue(
        self,
        inbound_message_id: str,
        notices: Sequence[NewNotice],
        now: datetime,
        *,
        inbound: InboundRecord | None = None,
        also: Callable[[Connection], None] | None = None,
    ) -> EnqueueResult:
        """`also` writes more rows in the same transaction (intake's AuditEvents), only when the notices are new."""
        return await self._write(
            lambda connection: self.enqueue_in(connection, inbound_message_id, notices, now, inbound=inbound, also=also)
        )

    def enqueue_in(
        self,
        connection: Connection,
        inbound_message_id: str,
        notices: Sequence[NewNotice],
        now: datetime,
        *,
        inbound: InboundRecord | None = None,
        also: Callable[[Connection], None] | None = None,
    ) -> EnqueueResult:
        """`enqueue` inside the caller's own write transaction (synchronous callers such as the plan write path)."""
        existing = connection.execute(
            select(t.inbound_message.c.notice_ids).where(t.inbound_message.c.id == inbound_message_id)
        ).scalar()
        if existing is not None:
            return EnqueueResult(False, tuple(self._by_ids(connection, orjson.loads(existing))))
        record = inbound or InboundRecord("", {})
        try:
            with connection.begin_nested():
                connection.execute(
                    insert(t.inbound_message).values(
                        id=inbound_message_id,
                        received_at=format_instant(now),
                        content_type=record.content_type,
                        summary=orjson.dumps(record.summary).decode(),
                        body=record.body,
                        notice_ids=orjson.dumps([x.id for x in notices]).decode(),
                    )
                )
                for notice in notices:
                    connection.execute(insert(n).values(**_new_row(inbound_message_id, notice, now)))
                if also is not None:
                    also(connection)
        except IntegrityError as error:
            raise IssueError.single(
                "conflict",
                "a notice id or MessageHeader.id is already in the outbox",
                message_id="outbox.duplicate-notice",
            ) from error
        return EnqueueResult(True, tuple(self._by_ids(connection, [x.id for x in notices])))

    # -- claim and record ------------------------------------------------------------------------------------

    async def claim(self, now: datetime, lease: timedelta, token: str) -> Claim | None:
        at = format_instant(now)

        def work(connection: Connection) -> Claim | None:
            other = n.alias("other")
            same_key = (other.c.citizen == n.c.citizen) & (other.c.recipient == n.c.recipient)
            statement = (
                select(n)
                .where(
                    # A stalled send (lease expired) is taken up again first: it is already in flight.
                    ((n.c.state == "sending") & (n.c.lease_expires_at <= at))
                    # A pending notice waits while anything of its key is in flight or older and still pending.
                    | (
                        (n.c.state == "pending")
                        & (n.c.due_at <= at)
                        & ~exists().where(
                            same_key,
                            other.c.sequence != n.c.sequence,
                            (other.c.state == "sending")
                            | ((other.c.state == "pending") & (other.c.sequence < n.c.sequence)),
                        )
                    )
                )
                .order_by(n.c.sequence)
                .limit(CLAIM_CANDIDATES)
            )
            if self._postgresql:
                statement = statement.with_for_update(skip_locked=True, of=n)
            for row in connection.execute(statement).mappings().all():
                try:
                    with connection.begin_nested():
                        connection.execute(
                            update(n)
                            .where(n.c.sequence == row["sequence"])
                            .values(
                                state="sending",
                                lease_expires_at=format_instant(now + lease),
                                lease_token=token,
                                due_at=None,
                            )
                        )
                except IntegrityError:
                    continue  # another worker put a notice of this key in flight first: try the next candidate
                return Claim(self._one(connection, row["id"]), token)
            return None

        return await self._write(work)

    async def record_attempt(self, claim: Claim, attempt: Attempt, step: NextStep) -> bool:
        def work(connection: Connection) -> bool:
            notice_id = claim.notice.id
            if self._postgresql:  # serialise attempts of one notice: numbering below must not collide
                connection.execute(select(n.c.sequence).where(n.c.id == notice_id).with_for_update())
            number = connection.execute(
                select(func.count()).select_from(t.outbox_attempt).where(t.outbox_attempt.c.notice_id == notice_id)
            ).scalar_one()
            connection.execute(insert(t.outbox_attempt).values(**_attempt_row(notice_id, number + 1, attempt)))
            if self.on_attempt is not None:
                self.on_attempt(connection, claim, attempt)
            current = connection.execute(select(n.c.state, n.c.lease_token, n.c.attempts).where(n.c.id == notice_id))
            row = current.mappings().first()
            if row is None or row["state"] != "sending" or row["lease_token"] != claim.token:
                return False
            values: dict[str, Any] = {
                "attempts": row["attempts"] + 1,
                "lease_expires_at": None,
                "lease_token": None,
                "due_at": None,
            }
            values |= _step_values(step, attempt.finished_at)
            connection.execute(update(n).where(n.c.id == notice_id).values(**values))
            return True

        return await self._write(work)

    async def record_ack(self, acknowledged_header_id: str, ack: AckRecord) -> NoticeRecord | None:
        def work(connection: Connection) -> NoticeRecord | None:
            row = connection.execute(
                select(n.c.id, n.c.state).where(n.c.message_header_id == acknowledged_header_id)
            ).first()
            if row is None:
                return None
            if row.state != NoticeState.ACKNOWLEDGED.value:
                connection.execute(
                    update(n)
                    .where(n.c.id == row.id)
                    .values(
                        state="acknowledged" if ack.positive else "dead",
                        ack=_dump_ack(ack),
                        due_at=None,
                        lease_expires_at=None,
                        lease_token=None,
                        ack_due_at=None,
                        last_error=None if ack.positive else f"negative acknowledgement: {ack.reason or ack.code}",
                    )
                )
            return self._one(connection, row.id)

        return await self._write(work)

    # -- resend, dead letters --------------------------------------------------------------------------------

    async def overdue_acks(self, now: datetime, limit: int) -> list[NoticeRecord]:
        at = format_instant(now)

        def work(connection: Connection) -> list[NoticeRecord]:
            rows = connection.execute(
                select(n)
                .where(n.c.state == "sent", n.c.ack_due_at.is_not(None), n.c.ack_due_at <= at)
                .order_by(n.c.ack_due_at, n.c.sequence)
                .limit(limit)
            ).mappings()
            return [_record(row) for row in rows]

        return await self._read(work)

    async def resend(self, notice_id: str, now: datetime) -> NoticeRecord:
        def work(connection: Connection) -> NoticeRecord:
            current = self._one(connection, notice_id)
            if current.state in (NoticeState.PENDING, NoticeState.SENDING):
                raise IssueError.single(
                    "conflict",
                    f"notice {notice_id} is {current.state}: it is already on its way",
                    message_id="outbox.not-resendable",
                )
            connection.execute(
                update(n)
                .where(n.c.id == notice_id)
                .values(
                    state="pending",
                    due_at=format_instant(now),
                    attempts=0,
                    resends=current.resends + 1,
                    ack_due_at=None,
                )
            )
            return self._one(connection, notice_id)

        return await self._write(work)

    async def dead_letter(self, notice_id: str, reason: str, now: datetime) -> NoticeRecord:
        def work(connection: Connection) -> NoticeRecord:
            current = self._one(connection, notice_id)
            if current.state not in (NoticeState.PENDING, NoticeState.SENT):
                raise IssueError.single(
                    "conflict",
                    f"notice {notice_id} is {current.state}; only pending or sent notices can be given up",
                    message_id="outbox.not-dead-letterable",
                )
            connection.execute(
                update(n)
                .where(n.c.id == notice_id)
                .values(state="dead", due_at=None, ack_due_at=None, last_error=reason)
            )
            return self._one(connection, notice_id)

        return await self._write(work)

    async def retry_dead(self, now: datetime, notice_ids: Sequence[str] | None = None) -> list[NoticeRecord]:
        def work(connection: Connection) -> list[NoticeRecord]:
            condition = n.c.state == "dead"
            if notice_ids is not None:
                condition = and_(condition, n.c.id.in_(list(notice_ids)))
            ids = list(connection.execute(select(n.c.id).where(condition).order_by(n.c.sequence)).scalars())
            if ids:
                connection.execute(
                    update(n).where(n.c.id.in_(ids)).values(state="pending", due_at=format_instant(now), attempts=0)
                )
            return self._by_ids(connection, ids)

        return await self._write(work)

    # -- queries ---------------------------------------------------------------------------------------------

    async def get(self, notice_id: str) -> NoticeDetail | None:
        def work(connection: Connection) -> NoticeDetail | None:
            row = connection.execute(select(n).where(n.c.id == notice_id)).mappings().first()
            if row is None:
                return None
            a = t.outbox_attempt
            attempts = connection.execute(select(a).where(a.c.notice_id == notice_id).order_by(a.c.number))
            return NoticeDetail(_record(row), tuple(_attempt_record(r) for r in attempts.mappings()))

        return await self._read(work)

    async def list_notices(
        self, state: NoticeState | None = None, *, limit: int = 50, offset: int = 0
    ) -> list[NoticeRecord]:
        def work(connection: Connection) -> list[NoticeRecord]:
            statement = select(n).order_by(n.c.sequence).limit(limit).offset(offset)
            if state is not None:
                statement = statement.where(n.c.state == state.value)
            return [_record(row) for row in connection.execute(statement).mappings()]

        return await self._read(work)

    async def for_inbound(self, inbound_message_id: str) -> list[NoticeRecord]:
        def work(connection: Connection) -> list[NoticeRecord]:
            ids = connection.execute(
                select(t.inbound_message.c.notice_ids).where(t.inbound_message.c.id == inbound_message_id)
            ).scalar()
            return self._by_ids(connection, orjson.loads(ids)) if ids else []

        return await self._read(work)

    async def inbound(self, inbound_message_id: str) -> dict[str, Any] | None:
        """The stored inbound message (id, received time, content type, summary, body); None if unknown."""

        def work(connection: Connection) -> dict[str, Any] | None:
            row = (
                connection.execute(select(t.inbound_message).where(t.inbound_message.c.id == inbound_message_id))
                .mappings()
                .first()
            )
            if row is None:
                return None
            return {
                "id": row["id"],
                "receivedAt": row["received_at"],
                "contentType": row["content_type"],
                "summary": orjson.loads(row["summary"]) if row["summary"] else {},
                "body": row["body"],
            }

        return await self._read(work)

    async def ids_starting_with(self, prefix: str, limit: int = 10) -> list[IdMatch]:
        """Inbound messages and notices whose id starts with `prefix` (at most `limit` of each), so a person can
        name either by a unique prefix (`gateway messages show`)."""

        def work(connection: Connection) -> list[IdMatch]:
            i = t.inbound_message
            inbound = connection.execute(
                select(i.c.id).where(i.c.id.startswith(prefix, autoescape=True)).order_by(i.c.id).limit(limit)
            ).scalars()
            notices = connection.execute(
                select(n.c.id, n.c.inbound_message_id)
                .where(n.c.id.startswith(prefix, autoescape=True))
                .order_by(n.c.id)
                .limit(limit)
            )
            return [IdMatch("inbound message", id_, id_) for id_ in inbound] + [
                IdMatch("notice", id_, inbound_id) for id_, inbound_id in notices
            ]

        return await self._read(work)

    async def for_citizen(self, citizen: str, limit: int = 100) -> list[NoticeRecord]:
        """The newest notices about one citizen (the outbox's pseudonymous citizen key), newest first."""

        def work(connection: Connection) -> list[NoticeRecord]:
            rows = connection.execute(
                select(n).where(n.c.citizen == citizen).order_by(n.c.sequence.desc()).limit(limit)
            ).mappings()
            return [_record(row) for row in rows]

        return await self._read(work)

    def recent_for_key(self, citizen: str, recipient: str, kind: str, limit: int = 50) -> list[NoticeRecord]:
        """Synchronous, for intake's worker thread: the newest notices of `kind` for one ordering key."""
        with self.engine.connect() as connection, connection.begin():
            rows = connection.execute(
                select(n)
                .where(n.c.citizen == citizen, n.c.recipient == recipient, n.c.kind == kind)
                .order_by(n.c.sequence.desc())
                .limit(limit)
            ).mappings()
            return [_record(row) for row in rows]

    def _one(self, connection: Connection, notice_id: str) -> NoticeRecord:
        row = connection.execute(select(n).where(n.c.id == notice_id)).mappings().first()
        if row is None:
            raise IssueError.single(
                "not-found", f"no notice {notice_id} in the outbox", message_id="outbox.notice-unknown"
            )
        return _record(row)

    def _by_ids(self, connection: Connection, ids: Sequence[str]) -> list[NoticeRecord]:
        if not ids:
            return []
        rows = connection.execute(select(n).where(n.c.id.in_(list(ids))).order_by(n.c.sequence)).mappings()
        return [_record(row) for row in rows]


def _new_row(inbound_message_id: str, notice: NewNotice, now: datetime) -> dict[str, Any]:
    return {
        "id": notice.id,
        "inbound_message_id": inbound_message_id,
        "message_header_id": notice.message_header_id,
        "citizen": notice.citizen,
        "recipient": notice.recipient,
        "endpoint": notice.endpoint,
        "kind": notice.kind,
        "message": orjson.dumps(notice.message).decode(),
        "state": "pending",
        "created_at": format_instant(now),
        "due_at": format_instant(now),
        "attempts": 0,
        "resends": 0,
    }


def _step_values(step: NextStep, at: datetime) -> dict[str, Any]:
    match step:
        case Acknowledge(ack=ack):
            return {
                "state": "acknowledged",
                "sent_at": format_instant(at),
                "ack": _dump_ack(ack),
                "last_error": None,
                "ack_due_at": None,
            }
        case AwaitAck(ack_due_at=due):
            return {
                "state": "sent",
                "sent_at": format_instant(at),
                "ack_due_at": format_instant(due),
                "last_error": None,
            }
        case Retry(due_at=due):
            return {"state": "pending", "due_at": format_instant(due)}
        case DeadLetter(reason=reason, ack=ack):
            values: dict[str, Any] = {"state": "dead", "last_error": reason, "ack_due_at": None}
            if ack is not None:
                values["ack"] = _dump_ack(ack)
            return values
    raise AssertionError(f"unknown step {step!r}")  # pragma: no cover - NextStep is a closed union


def _instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def _dump_ack(ack: AckRecord) -> str:
    return orjson.dumps(
        {
            "message_header_id": ack.message_header_id,
            "bundle_id": ack.bundle_id,
            "code": ack.code,
            "received_at": format_instant(ack.received_at),
            "reason": ack.reason,
        }
    ).decode()


def _load_ack(text: str | None) -> AckRecord | None:
    if text is None:
        return None
    data = orjson.loads(text)
    received = _instant(data["received_at"])
    assert received is not None
    return AckRecord(data["message_header_id"], data["bundle_id"], data["code"], received, data["reason"])


def _record(row: Any) -> NoticeRecord:
    created = _instant(row["created_at"])
    assert created is not None
    return NoticeRecord(
        id=row["id"],
        inbound_message_id=row["inbound_message_id"],
        message_header_id=row["message_header_id"],
        citizen=row["citizen"],
        recipient=row["recipient"],
        endpoint=row["endpoint"],
        kind=row["kind"],
        message=orjson.loads(row["message"]),
        state=NoticeState(row["state"]),
        sequence=row["sequence"],
        created_at=created,
        due_at=_instant(row["due_at"]),
        lease_expires_at=_instant(row["lease_expires_at"]),
        attempts=row["attempts"],
        resends=row["resends"],
        sent_at=_instant(row["sent_at"]),
        ack_due_at=_instant(row["ack_due_at"]),
        last_error=row["last_error"],
        ack=_load_ack(row["ack"]),
    )


def _attempt_row(notice_id: str, number: int, attempt: Attempt) -> dict[str, Any]:
    return {
        "notice_id": notice_id,
        "number": number,
        "bundle_id": attempt.bundle_id,
        "started_at": format_instant(attempt.started_at),
        "finished_at": format_instant(attempt.finished_at),
        "outcome": attempt.outcome.value,
        "failure": attempt.failure,
        "status": attempt.status,
        "detail": attempt.detail,
    }


def _attempt_record(row: Any) -> AttemptRecord:
    started, finished = _instant(row["started_at"]), _instant(row["finished_at"])
    assert started is not None and finished is not None
    attempt = Attempt(
        bundle_id=row["bundle_id"],
        started_at=started,
        finished_at=finished,
        outcome=OutcomeKind(row["outcome"]),
        failure=row["failure"],
        status=row["status"],
        detail=row["detail"],
    )
    return AttemptRecord(row["notice_id"], row["number"], attempt)
