"""Rows of the SQL outbox ↔ outbox records: the column values each step writes, and records read back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Select, and_, select

from gateway.delivery.outbox import (
    Acknowledge,
    AckRecord,
    Attempt,
    AttemptRecord,
    AwaitAck,
    DeadLetter,
    NewNotice,
    NextStep,
    NoticeRecord,
    NoticeState,
    Retry,
)
from gateway.delivery.outcome import OutcomeKind
from gateway.store import tables as t
from gateway.store.dates import format_instant

n, q = t.outbox_notice, t.outbox_queue


def notices_with_queue() -> Select[Any]:
    """`SELECT` of notices with their key's `held_by` (for `NoticeRecord.held_behind`)."""
    on_key = and_(q.c.citizen == n.c.citizen, q.c.recipient == n.c.recipient)
    return select(n, q.c.held_by).select_from(n.outerjoin(q, on_key))


def new_row(inbound_message_id: str, notice: NewNotice, now: datetime) -> dict[str, Any]:
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


def step_values(step: NextStep, at: datetime) -> dict[str, Any]:
    match step:
        case Acknowledge(ack=ack):
            return {
                "state": "acknowledged",
                "sent_at": format_instant(at),
                "ack": dump_ack(ack),
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
                values["ack"] = dump_ack(ack)
            return values
    raise AssertionError(f"unknown step {step!r}")  # pragma: no cover - NextStep is a closed union


def instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def dump_ack(ack: AckRecord) -> str:
    return orjson.dumps(
        {
            "message_header_id": ack.message_header_id,
            "bundle_id": ack.bundle_id,
            "code": ack.code,
            "received_at": format_instant(ack.received_at),
            "reason": ack.reason,
        }
    ).decode()


def load_ack(text: str | None) -> AckRecord | None:
    if text is None:
        return None
    data = orjson.loads(text)
    received = instant(data["received_at"])
    assert received is not None
    return AckRecord(data["message_header_id"], data["bundle_id"], data["code"], received, data["reason"])


def record(row: Any) -> NoticeRecord:
    created = instant(row["created_at"])
    assert created is not None
    state = NoticeState(row["state"])
    held_by = row.get("held_by")
    return NoticeRecord(
        id=row["id"],
        inbound_message_id=row["inbound_message_id"],
        message_header_id=row["message_header_id"],
        citizen=row["citizen"],
        recipient=row["recipient"],
        endpoint=row["endpoint"],
        kind=row["kind"],
        message=orjson.loads(row["message"]),
        state=state,
        sequence=row["sequence"],
        created_at=created,
        due_at=instant(row["due_at"]),
        lease_expires_at=instant(row["lease_expires_at"]),
        attempts=row["attempts"],
        resends=row["resends"],
        sent_at=instant(row["sent_at"]),
        ack_due_at=instant(row["ack_due_at"]),
        last_error=row["last_error"],
        ack=load_ack(row["ack"]),
        held_behind=held_by if state is NoticeState.PENDING and held_by not in (None, row["id"]) else None,
        corrects=row["corrects"],
    )


def attempt_row(notice_id: str, number: int, attempt: Attempt) -> dict[str, Any]:
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


def attempt_record(row: Any) -> AttemptRecord:
    started, finished = instant(row["started_at"]), instant(row["finished_at"])
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
