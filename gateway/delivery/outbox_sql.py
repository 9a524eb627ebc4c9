"""`SqlOutbox`: the outbox in the gateway's database (SQLite or PostgreSQL), keeping the `Outbox` contract.

Every method is one short database transaction (run in a worker thread; SQLAlchemy here is synchronous). Enqueue
writes the inbound message row and all its notices together, so once intake has answered 2xx nothing can be
lost. Each change to a key's notices locks the key's `outbox_queue` row first and refreshes it before commit
(`gateway.delivery.outbox_queue`); a claim reads only ready keys, with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so
concurrent workers never block on or double-claim a row, and the partial unique index `uq_outbox_notice_in_flight`
makes "one in flight per key" a database fact (procrastinate's `sql/schema.sql` uses the same two devices).

Callers that must record what they did in the same transaction (the audit trail) pass `audit`: it runs inside
the transaction with the notices the operation returns.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import orjson
from sqlalchemy import Connection, Engine, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.delivery import outbox_queue as queue
from gateway.delivery import outbox_reads as reads
from gateway.delivery import outbox_rows as rows
from gateway.delivery.outbox import (
    AckRecord,
    Attempt,
    Claim,
    EnqueueResult,
    NewNotice,
    NextStep,
    NoticeDetail,
    NoticeRecord,
    NoticeState,
    RecentNotice,
    message_header_id,
    refuse_if_refused,
    require_dead,
    require_resendable,
    require_withholdable,
    still_overdue,
)
from gateway.store import tables as t
from gateway.store.database import IMMEDIATE
from gateway.store.dates import format_instant
from mappings.issues import IssueError

T = TypeVar("T")
n = t.outbox_notice
#: How many ready keys one claim looks at (a key changed meanwhile is refreshed and skipped).
CLAIM_CANDIDATES = 4


@dataclasses.dataclass(frozen=True, slots=True)
class InboundRecord:
    """What intake stores about the message it accepted (shown by `GET /messages/{id}`)."""

    content_type: str
    summary: dict[str, Any]
    body: str | None = None
    #: The SOR code of the organisation that posted it (None: no caller, the local CLI)
    poster: str | None = None


#: Called inside `record_attempt`'s transaction (the delivery audit trail is written with the attempt).
AttemptHook = Callable[[Connection, Claim, Attempt], None]
#: Called inside an operation's transaction with the notices it returns (the operator's audit trail).
AuditHook = Callable[[Connection, Sequence[NoticeRecord]], None]


class IdMatch(NamedTuple):
    """An id a person may have meant: an inbound message's, or a notice's (with its inbound message)."""

    kind: str
    id: str
    inbound_message_id: str


# The worker's statements for every claim and attempt, built once (building each statement and its cache key
# every time was a large part of the worker's CPU per notice: bench/README.md, "The worker's statements").
_CLAIMABLE = select(n.c.id, n.c.state, n.c.due_at, n.c.lease_expires_at).where(
    n.c.sequence == bindparam("claim_sequence")
)
_TAKE = (
    update(n)
    .where(n.c.id == bindparam("claim_id"))
    .values(
        state="sending", lease_expires_at=bindparam("lease_until"), lease_token=bindparam("claim_token"), due_at=None
    )
)
_ATTEMPTS_SO_FAR = (
    select(func.count())
    .select_from(t.outbox_attempt)
    .where(t.outbox_attempt.c.notice_id == bindparam("attempt_notice"))
)
_ADD_ATTEMPT = insert(t.outbox_attempt)
_LEASE_OF = select(n.c.state, n.c.lease_token, n.c.attempts).where(n.c.id == bindparam("attempt_notice"))


class SqlOutbox:
    def __init__(
        self,
        engine: Engine,
        *,
        on_attempt: AttemptHook | None = None,
        on_enqueued: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.on_attempt = on_attempt
        #: Called on the event loop after `enqueue` committed new notices (wakes the worker of this process).
        #: `enqueue_in` does not call it: its caller's transaction has not committed yet, and runs in a thread.
        self.on_enqueued = on_enqueued

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
        result = await self._write(
            lambda connection: self.enqueue_in(connection, inbound_message_id, notices, now, inbound=inbound, also=also)
        )
        if result.created and result.notices and self.on_enqueued is not None:
            self.on_enqueued()
        return result

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
        keys = [(x.citizen, x.recipient) for x in notices]
        queue.lock(connection, keys)
        record = inbound or InboundRecord("", {})
        existing = reads.enqueued(connection, inbound_message_id, record.poster)
        if existing is not None:
            return existing
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
                        poster=record.poster,
                    )
                )
                if notices:
                    connection.execute(insert(n), [rows.new_row(inbound_message_id, x, now) for x in notices])
                if also is not None:
                    also(connection)
        except IntegrityError as error:
            # The same message accepted concurrently by another instance won the race: answer as a repeat.
            existing = reads.enqueued(connection, inbound_message_id, record.poster)
            if existing is not None:
                return existing
            raise IssueError.single(
                "conflict",
                "a notice id or MessageHeader.id is already in the outbox",
                message_id="outbox.duplicate-notice",
            ) from error
        queue.refresh(connection, keys)
        return EnqueueResult(True, tuple(reads.by_ids(connection, [x.id for x in notices])))

    # -- claim and record ------------------------------------------------------------------------------------

    async def claim(self, now: datetime, lease: timedelta, token: str) -> Claim | None:
        at = format_instant(now)

        def work(connection: Connection) -> Claim | None:
            for key, sequence in queue.ready(connection, now, CLAIM_CANDIDATES):
                row = connection.execute(_CLAIMABLE, {"claim_sequence": sequence}).first()
                stalled = row is not None and row.state == "sending" and row.lease_expires_at <= at
                due = row is not None and row.state == "pending" and row.due_at is not None and row.due_at <= at
                if row is None or not (stalled or due):
                    queue.refresh(connection, [key])  # out of date (cannot happen under the key locks): repair
                    continue
                lease_until = format_instant(now + lease)
                connection.execute(_TAKE, {"claim_id": row.id, "lease_until": lease_until, "claim_token": token})
                queue.refresh(connection, [key])
                return Claim(reads.one(connection, row.id), token)
            return None

        return await self._write(work)

    async def record_attempt(self, claim: Claim, attempt: Attempt, step: NextStep) -> bool:
        notice_id = claim.notice.id

        def work(connection: Connection) -> bool:
            key = (claim.notice.citizen, claim.notice.recipient)
            queue.lock(connection, [key])  # also serialises the attempt numbering of this notice
            number = connection.execute(_ATTEMPTS_SO_FAR, {"attempt_notice": notice_id}).scalar_one()
            connection.execute(_ADD_ATTEMPT, rows.attempt_row(notice_id, number + 1, attempt))
            if self.on_attempt is not None:
                self.on_attempt(connection, claim, attempt)
            row = connection.execute(_LEASE_OF, {"attempt_notice": notice_id}).mappings().first()
            if row is None or row["state"] != "sending" or row["lease_token"] != claim.token:
                return False
            values: dict[str, Any] = {
                "attempts": row["attempts"] + 1,
                "lease_expires_at": None,
                "lease_token": None,
                "due_at": None,
            }
            values |= rows.step_values(step, attempt.finished_at)
            connection.execute(update(n).where(n.c.id == notice_id).values(**values))
            queue.refresh(connection, [key])
            return True

        return await self._write(work)

    async def record_ack(self, acknowledged_header_id: str, ack: AckRecord) -> NoticeRecord | None:
        def work(connection: Connection) -> NoticeRecord | None:
            notice_id = connection.execute(
                select(n.c.id).where(n.c.message_header_id == acknowledged_header_id)
            ).scalar()
            if notice_id is None:
                return None

            def apply(connection: Connection, current: NoticeRecord) -> dict[str, Any] | None:
                if current.state is NoticeState.ACKNOWLEDGED:
                    return None
                return {
                    "state": "acknowledged" if ack.positive else "dead",
                    "ack": rows.dump_ack(ack),
                    "due_at": None,
                    "lease_expires_at": None,
                    "lease_token": None,
                    "ack_due_at": None,
                    "last_error": None if ack.positive else f"negative acknowledgement: {ack.reason or ack.code}",
                }

            return self._change_in(connection, notice_id, apply)

        return await self._write(work)

    # -- resend, dead letters, skips and corrections ---------------------------------------------------------

    async def notice_for_header(self, header_id: str) -> NoticeRecord | None:
        def read(connection: Connection) -> NoticeRecord | None:
            notice_id = connection.execute(select(n.c.id).where(n.c.message_header_id == header_id)).scalar()
            return None if notice_id is None else reads.one(connection, notice_id)

        return await self._read(read)

    async def overdue_acks(self, now: datetime, limit: int) -> list[NoticeRecord]:
        at = format_instant(now)
        return await self._read(lambda connection: reads.overdue(connection, at, limit))

    async def resend(
        self,
        notice_id: str,
        now: datetime,
        *,
        audit: AuditHook | None = None,
        overdue: NoticeRecord | None = None,
        ack: AckRecord | None = None,
    ) -> NoticeRecord:
        def apply(connection: Connection, current: NoticeRecord) -> dict[str, Any] | None:
            if overdue is not None and not still_overdue(current, overdue, now):
                return None
            if ack is not None and (current.state is not NoticeState.SENT or _same_ack(current.ack, ack)):
                return None  # that acknowledgement asked already, or the notice no longer waits for one
            require_resendable(current)
            return {
                "state": "pending",
                "due_at": format_instant(now),
                "attempts": 0,
                "resends": current.resends + 1,
                "ack_due_at": None,
                **({"ack": rows.dump_ack(ack)} if ack is not None else {}),
            }

        return await self._change(notice_id, apply, audit)

    async def dead_letter(
        self, notice_id: str, reason: str, now: datetime, *, overdue: NoticeRecord | None = None
    ) -> NoticeRecord:
        def apply(connection: Connection, current: NoticeRecord) -> dict[str, Any] | None:
            if overdue is not None and not still_overdue(current, overdue, now):
                return None
            if current.state not in (NoticeState.PENDING, NoticeState.SENT):
                raise IssueError.single(
                    "conflict",
                    f"notice {notice_id} is {current.state}; only pending or sent notices can be given up",
                    message_id="outbox.not-dead-letterable",
                )
            return {"state": "dead", "due_at": None, "ack_due_at": None, "last_error": reason}

        return await self._change(notice_id, apply)

    async def withhold(self, notice_id: str, reason: str, now: datetime, *, token: str | None = None) -> NoticeRecord:
        def apply(connection: Connection, current: NoticeRecord) -> dict[str, Any]:
            lease_token = connection.execute(select(n.c.lease_token).where(n.c.id == notice_id)).scalar()
            require_withholdable(current, lease_token, token)
            return {
                "state": "skipped",
                "due_at": None,
                "ack_due_at": None,
                "lease_expires_at": None,
                "lease_token": None,
                "last_error": reason,
            }

        return await self._change(notice_id, apply)

    async def skip(self, notice_id: str, reason: str, now: datetime, *, audit: AuditHook | None = None) -> NoticeRecord:
        def apply(connection: Connection, current: NoticeRecord) -> dict[str, Any]:
            require_dead(current, "skipped")
            return {"state": "skipped", "last_error": f"{current.last_error or 'dead'}; skipped: {reason}"}

        return await self._change(notice_id, apply, audit)

    async def correct(
        self, notice_id: str, message: dict[str, Any], now: datetime, *, audit: AuditHook | None = None
    ) -> NoticeRecord:
        header_id = message_header_id(message)

        def apply(connection: Connection, current: NoticeRecord) -> dict[str, Any]:
            require_dead(current, "corrected")
            return {
                "state": "pending",
                "message": orjson.dumps(message).decode(),
                "message_header_id": header_id,
                "corrects": current.message_header_id,
                "due_at": format_instant(now),
                "attempts": 0,
                "resends": 0,
                "sent_at": None,
                "ack": None,
                "ack_due_at": None,
                "last_error": None,
            }

        try:
            return await self._change(notice_id, apply, audit)
        except IntegrityError as error:
            raise IssueError.single(
                "conflict", f"MessageHeader.id {header_id} was used before", message_id="outbox.duplicate-notice"
            ) from error

    async def retry_dead(
        self, now: datetime, notice_ids: Sequence[str] | None = None, *, audit: AuditHook | None = None
    ) -> list[NoticeRecord]:
        def work(connection: Connection) -> list[NoticeRecord]:
            condition = n.c.state == "dead"
            if notice_ids is not None:
                condition = condition & n.c.id.in_(list(notice_ids))
            keys = {
                (r.citizen, r.recipient)
                for r in connection.execute(select(n.c.citizen, n.c.recipient).where(condition))
            }
            queue.lock(connection, keys)
            dead = [rows.record(r) for r in connection.execute(rows.notices_with_queue().where(condition)).mappings()]
            for record in dead:
                if notice_ids is not None:
                    refuse_if_refused(record, "retried")
            ids = [r.id for r in sorted(dead, key=lambda r: r.sequence) if not r.refused]
            if ids:
                connection.execute(
                    update(n).where(n.c.id.in_(ids)).values(state="pending", due_at=format_instant(now), attempts=0)
                )
            queue.refresh(connection, keys)
            revived = reads.by_ids(connection, ids)
            if audit is not None:
                audit(connection, revived)
            return revived

        return await self._write(work)

    async def _change(
        self,
        notice_id: str,
        apply: Callable[[Connection, NoticeRecord], dict[str, Any] | None],
        audit: AuditHook | None = None,
    ) -> NoticeRecord:
        def work(connection: Connection) -> NoticeRecord:
            changed = self._change_in(connection, notice_id, apply)
            if audit is not None:
                audit(connection, [changed])
            return changed

        return await self._write(work)

    def _change_in(
        self,
        connection: Connection,
        notice_id: str,
        apply: Callable[[Connection, NoticeRecord], dict[str, Any] | None],
    ) -> NoticeRecord:
        """Lock the notice's key, re-read the notice under the lock, apply the values `apply` returns (None: no
        change) and refresh the key's queue row."""
        before = reads.one(connection, notice_id)
        key = (before.citizen, before.recipient)
        queue.lock(connection, [key])
        values = apply(connection, reads.one(connection, notice_id))
        if values:
            connection.execute(update(n).where(n.c.id == notice_id).values(**values))
            queue.refresh(connection, [key])
        return reads.one(connection, notice_id)

    # -- queries (gateway.delivery.outbox_reads) ------------------------------------------------------------

    async def get(self, notice_id: str) -> NoticeDetail | None:
        return await self._read(lambda connection: reads.detail(connection, notice_id))

    async def list_notices(
        self,
        state: NoticeState | None = None,
        *,
        limit: int = 50,
        offset: int = 0,
        audit: AuditHook | None = None,
        poster: str | None = None,
    ) -> list[NoticeRecord]:
        """`poster`: only the notices of messages that organisation posted (None: every notice)."""

        def work(connection: Connection) -> list[NoticeRecord]:
            found = reads.listed(connection, state, limit, offset, poster)
            if audit is not None:
                audit(connection, found)
            return found

        return await (self._read(work) if audit is None else self._write(work))

    async def for_inbound(self, inbound_message_id: str) -> list[NoticeRecord]:
        return await self._read(lambda connection: reads.for_inbound(connection, inbound_message_id))

    async def repeat_of(self, inbound_message_id: str, poster: str | None) -> EnqueueResult | None:
        """The notices of a message accepted before, posted again by `poster` (409 if another organisation posted
        it; None: never accepted)."""
        return await self._read(lambda connection: reads.enqueued(connection, inbound_message_id, poster))

    async def poster_of(self, inbound_message_id: str) -> str | None:
        """The SOR code of the organisation that posted an inbound message (None: unknown, or posted by no one)."""
        i = t.inbound_message
        statement = select(i.c.poster).where(i.c.id == inbound_message_id)
        return await self._read(lambda connection: connection.execute(statement).scalar())

    async def inbound(
        self, inbound_message_id: str, *, audit: AuditHook | None = None, poster: str | None = None
    ) -> tuple[dict[str, Any], list[NoticeDetail]] | None:
        """The stored inbound message and its notices with their attempts, in one transaction; None if unknown
        (or, with `poster`, posted by another organisation)."""

        def work(connection: Connection) -> tuple[dict[str, Any], list[NoticeDetail]] | None:
            found = reads.inbound(connection, inbound_message_id, poster)
            if found is not None and audit is not None:
                audit(connection, [d.notice for d in found[1]])
            return found

        return await (self._read(work) if audit is None else self._write(work))

    async def inbound_outline(self, inbound_message_id: str) -> tuple[tuple[str, ...], dict[str, Any]] | None:
        """An inbound message's notice ids in order and intake's summary (`reads.inbound_outline`)."""
        return await self._read(lambda connection: reads.inbound_outline(connection, inbound_message_id))

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
            statement = rows.notices_with_queue().where(n.c.citizen == citizen)
            found = connection.execute(statement.order_by(n.c.sequence.desc()).limit(limit)).mappings()
            return [rows.record(row) for row in found]

        return await self._read(work)

    def recent_for_key(self, citizen: str, recipient: str, kind: str, limit: int = 50) -> list[RecentNotice]:
        """Synchronous, for intake's worker thread: the newest notices of `kind` for one ordering key, newest first
        (their ids: `stored_message` reads the message of the one that is wanted)."""
        with self.engine.connect() as connection, connection.begin():
            return reads.recent(connection, citizen, recipient, kind, limit)

    def stored_message(self, notice_id: str) -> dict[str, Any] | None:
        """Synchronous, for intake's worker thread: one notice's message as stored, None when there is no such
        notice."""
        with self.engine.connect() as connection, connection.begin():
            return reads.stored_message(connection, notice_id)

    async def depths(self) -> dict[str, int]:
        """Notices per unfinished state, and `held` (pending behind a dead notice)."""
        return await self._read(queue.depths)

    async def repair(self, now: datetime, limit: int = 500) -> int:
        """Refresh the queue rows of keys left inconsistent by writers that do not keep them (an older gateway
        during a rolling upgrade); returns how many keys were repaired."""

        def work(connection: Connection) -> int:
            keys = queue.stale(connection, limit)
            queue.lock(connection, keys)
            queue.refresh(connection, keys)
            return len(keys)

        return await self._write(work)

    async def oldest_ready(self) -> datetime | None:
        """When the longest-waiting deliverable notice became deliverable (worker lag); None if none waits."""
        return rows.instant(await self._read(queue.oldest_ready))


def _same_ack(kept: AckRecord | None, ack: AckRecord) -> bool:
    return kept is not None and kept.bundle_id == ack.bundle_id
