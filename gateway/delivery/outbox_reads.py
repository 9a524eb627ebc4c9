"""The SQL outbox's queries, as functions on an open connection (`SqlOutbox` runs them in its transactions)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, select

from gateway.delivery import outbox_rows as rows
from gateway.delivery.outbox import EnqueueResult, NoticeDetail, NoticeRecord, NoticeState, RecentNotice
from gateway.store import tables as t
from mappings.issues import IssueError

n = t.outbox_notice


#: One notice by id, built once: the worker reads one for every claim.
_ONE = rows.notices_with_queue().where(n.c.id == bindparam("notice_id"))


def one(connection: Connection, notice_id: str) -> NoticeRecord:
    row = connection.execute(_ONE, {"notice_id": notice_id}).mappings().first()
    if row is None:
        raise unknown_notice(notice_id)
    return rows.record(row)


def unknown_notice(notice_id: str) -> IssueError:
    """The answer for a notice the outbox does not have (and, word for word, for another organisation's)."""
    return IssueError.single(
        "not-found", f"no notice {notice_id} in the outbox", message_id="outbox.notice-unknown", status=404
    )


def by_ids(connection: Connection, ids: Sequence[str]) -> list[NoticeRecord]:
    if not ids:
        return []
    found = connection.execute(rows.notices_with_queue().where(n.c.id.in_(list(ids))).order_by(n.c.sequence))
    return [rows.record(row) for row in found.mappings()]


def enqueued(connection: Connection, inbound_message_id: str, poster: str | None = None) -> EnqueueResult | None:
    """The notices of an inbound message already enqueued (a repeat), or None. With `poster` (the organisation
    posting it again), one that another organisation posted is refused (409): its reply is that organisation's."""
    i = t.inbound_message
    row = connection.execute(select(i.c.notice_ids, i.c.poster).where(i.c.id == inbound_message_id)).first()
    if row is None:
        return None
    if poster is not None and row.poster != poster:
        raise IssueError.single(
            "conflict",
            f"a message with this identity ({inbound_message_id}) was accepted from another client; a message "
            "identifier (MSH-10, a letter's id, MessageHeader.id) must be new for each message its sender sends",
            message_id="intake.id-of-another-poster",
            status=409,
        )
    return EnqueueResult(False, tuple(by_ids(connection, orjson.loads(row.notice_ids))))


def detail(connection: Connection, notice_id: str) -> NoticeDetail | None:
    row = connection.execute(rows.notices_with_queue().where(n.c.id == notice_id)).mappings().first()
    if row is None:
        return None
    a = t.outbox_attempt
    attempts = connection.execute(select(a).where(a.c.notice_id == notice_id).order_by(a.c.number))
    return NoticeDetail(rows.record(row), tuple(rows.attempt_record(r) for r in attempts.mappings()))


def listed(
    connection: Connection, state: NoticeState | None, limit: int, offset: int, poster: str | None = None
) -> list[NoticeRecord]:
    statement = rows.notices_with_queue().order_by(n.c.sequence).limit(limit).offset(offset)
    if state is not None:
        statement = statement.where(n.c.state == state.value)
    if poster is not None:
        i = t.inbound_message
        statement = statement.where(n.c.inbound_message_id.in_(select(i.c.id).where(i.c.poster == poster)))
    return [rows.record(row) for row in connection.execute(statement).mappings()]


def overdue(connection: Connection, at: str, limit: int) -> list[NoticeRecord]:
    found = connection.execute(
        rows.notices_with_queue()
        .where(n.c.state == "sent", n.c.ack_due_at.is_not(None), n.c.ack_due_at <= at)
        .order_by(n.c.ack_due_at, n.c.sequence)
        .limit(limit)
    ).mappings()
    return [rows.record(row) for row in found]


def for_inbound(connection: Connection, inbound_message_id: str) -> list[NoticeRecord]:
    found = enqueued(connection, inbound_message_id)
    return list(found.notices) if found else []


def inbound(
    connection: Connection, inbound_message_id: str, poster: str | None = None
) -> tuple[dict[str, Any], list[NoticeDetail]] | None:
    """The stored inbound message (id, received time, content type, summary, body) with its notices' details; None
    when there is none, or (with `poster`) when another organisation posted it."""
    row = (
        connection.execute(select(t.inbound_message).where(t.inbound_message.c.id == inbound_message_id))
        .mappings()
        .first()
    )
    if row is None or (poster is not None and row["poster"] != poster):
        return None
    stored = {
        "id": row["id"],
        "receivedAt": row["received_at"],
        "contentType": row["content_type"],
        "summary": orjson.loads(row["summary"]) if row["summary"] else {},
        "body": row["body"],
    }
    details = [detail(connection, notice_id) for notice_id in orjson.loads(row["notice_ids"])]
    return stored, [d for d in details if d is not None]


_OUTLINE = select(t.inbound_message.c.notice_ids, t.inbound_message.c.summary).where(
    t.inbound_message.c.id == bindparam("inbound_id")
)


def inbound_outline(connection: Connection, inbound_message_id: str) -> tuple[tuple[str, ...], dict[str, Any]] | None:
    """An inbound message's notice ids, in the order intake made them, and intake's summary; None when unknown.
    What the consent gate needs of it, without reading and parsing every notice as `inbound` does."""
    row = connection.execute(_OUTLINE, {"inbound_id": inbound_message_id}).first()
    if row is None:
        return None
    summary = orjson.loads(row.summary) if row.summary else None
    if summary is not None and not isinstance(summary, dict):
        # Never read as "carries no plan content": the consent gate would then let the notice go unchecked.
        raise ValueError(f"inbound message {inbound_message_id}: its stored summary is not an object")
    return tuple(orjson.loads(row.notice_ids)), summary or {}


#: The newest notices of one kind for an ordering key, built once: intake reads them for every discharge.
_RECENT = (
    select(n.c.id, n.c.inbound_message_id, n.c.message_header_id)
    .where(n.c.citizen == bindparam("citizen"), n.c.recipient == bindparam("recipient"), n.c.kind == bindparam("kind"))
    .order_by(n.c.sequence.desc())
    .limit(bindparam("limit"))
)
_MESSAGE = select(n.c.message).where(n.c.id == bindparam("notice_id"))


def recent(connection: Connection, citizen: str, recipient: str, kind: str, limit: int) -> list[RecentNotice]:
    found = connection.execute(_RECENT, {"citizen": citizen, "recipient": recipient, "kind": kind, "limit": limit})
    return [RecentNotice(row.id, row.inbound_message_id, row.message_header_id) for row in found]


def stored_message(connection: Connection, notice_id: str) -> dict[str, Any] | None:
    """A notice's message as the outbox stores it (its Bundle before any send's envelope); None when unknown."""
    stored = connection.execute(_MESSAGE, {"notice_id": notice_id}).scalar()
    message: dict[str, Any] | None = None if stored is None else orjson.loads(stored)
    return message
