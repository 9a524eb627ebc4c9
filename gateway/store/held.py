"""`SqlHoldingArea`: XDIS91 letters waiting for the XBIN01 binaries they reference, and binaries that came first.

MedCom's conversion service waits 60 minutes for the other half of an XDIS91 + XBIN01 pair, either way round
(`UseCases-VANSKonverteringslosning_200126.pdf` §4.5 "Tidsgrænser" and use cases S1.A2/S1.A3); the gateway holds
the half it has, for a configurable time (`GATEWAY_XBIN01_WAIT_SECONDS`). A row is `held` until its letter became a
notice (`completed`, written in the outbox's enqueue transaction through `complete`) or until it was refused
(`refused`, with the reason). A held row whose time is up reads as refused at once, before anyone writes it
(`HeldRecord.state_at`), so the operator's list never shows a letter waiting past its deadline.

Held rows are not notices: the outbox knows nothing of them until the letter is complete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

import orjson
from sqlalchemy import Connection, Engine, insert, select, update

from gateway.store import tables as t
from gateway.store.database import IMMEDIATE
from gateway.store.dates import format_instant

T = TypeVar("T")
h = t.held_inbound
HeldKind = Literal["letter", "binary"]
HeldState = Literal["held", "completed", "refused"]


@dataclass(frozen=True, slots=True)
class HeldRecord:
    id: str
    kind: HeldKind
    sender: str
    object_keys: tuple[str, ...]
    content_type: str
    body: str
    received_at: datetime
    expires_at: datetime
    state: HeldState
    reason: str | None
    #: The SOR code of the organisation that posted it (None: no caller); `/messages` shows a caller only its own.
    poster: str | None = None

    def state_at(self, now: datetime) -> HeldState:
        """`refused` once a held row's time is up, whether or not that was written yet."""
        return "refused" if self.state == "held" and now >= self.expires_at else self.state

    def to_json(self, now: datetime, reason_when_expired: str) -> dict[str, Any]:
        state = self.state_at(now)
        reason = self.reason if state == self.state else reason_when_expired
        return {
            "id": self.id,
            "inboundMessageId": self.id,
            "kind": "xdis91-waiting-for-xbin01" if self.kind == "letter" else "xbin01-waiting-for-xdis91",
            "state": state,
            "objects": list(self.object_keys),
            "createdAt": self.received_at.isoformat(),
            "expiresAt": self.expires_at.isoformat(),
            "reason": reason,
        }


class SqlHoldingArea:
    """The `held_inbound` table; every method is one transaction (in a worker thread, like `SqlOutbox`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def _run(self, work: Callable[[Connection], T], *, write: bool) -> T:
        def run() -> T:
            with self.engine.connect() as connection:
                if write:
                    connection = connection.execution_options(**{IMMEDIATE: True})
                with connection.begin():
                    return work(connection)

        return await asyncio.to_thread(run)

    async def get(self, held_id: str, *, poster: str | None = None) -> HeldRecord | None:
        """The held row `held_id`; None when there is none, or (with `poster`) another organisation posted it."""

        def work(connection: Connection) -> HeldRecord | None:
            row = connection.execute(select(h).where(h.c.id == held_id)).mappings().first()
            if row is None or (poster is not None and row["poster"] != poster):
                return None
            return _record(row)

        return await self._run(work, write=False)

    async def hold(self, record: HeldRecord) -> bool:
        """Keep `record`; False when a row with its id is already there (the same input sent again)."""

        def work(connection: Connection) -> bool:
            if connection.execute(select(h.c.id).where(h.c.id == record.id)).first() is not None:
                return False
            connection.execute(insert(h).values(**_row(record)))
            return True

        return await self._run(work, write=True)

    async def pending(self, sender: str, kind: HeldKind) -> list[HeldRecord]:
        """The rows of `kind` from `sender` still `held` (time-outs included: callers check `state_at`)."""

        def work(connection: Connection) -> list[HeldRecord]:
            rows = connection.execute(
                select(h).where(h.c.sender == sender, h.c.kind == kind, h.c.state == "held").order_by(h.c.received_at)
            ).mappings()
            return [_record(row) for row in rows]

        return await self._run(work, write=False)

    async def refuse(self, held_id: str, reason: str) -> None:
        def work(connection: Connection) -> None:
            connection.execute(
                update(h).where(h.c.id == held_id, h.c.state == "held").values(state="refused", reason=reason)
            )

        await self._run(work, write=True)

    @staticmethod
    def complete(connection: Connection, held_ids: Sequence[str], reason: str) -> None:
        """Mark rows `completed` inside the caller's transaction (the outbox enqueue of the finished letter)."""
        if held_ids:
            connection.execute(update(h).where(h.c.id.in_(list(held_ids))).values(state="completed", reason=reason))

    async def listing(self, limit: int = 50, *, poster: str | None = None) -> list[HeldRecord]:
        """Rows not yet completed, newest first (what the operator must see); with `poster`, that organisation's."""

        def work(connection: Connection) -> list[HeldRecord]:
            statement = select(h).where(h.c.state != "completed")
            if poster is not None:
                statement = statement.where(h.c.poster == poster)
            rows = connection.execute(statement.order_by(h.c.received_at.desc()).limit(limit)).mappings()
            return [_record(row) for row in rows]

        return await self._run(work, write=False)


def _row(record: HeldRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "kind": record.kind,
        "sender": record.sender,
        "object_keys": orjson.dumps(list(record.object_keys)).decode(),
        "content_type": record.content_type,
        "body": record.body,
        "received_at": format_instant(record.received_at),
        "expires_at": format_instant(record.expires_at),
        "state": record.state,
        "reason": record.reason,
        "poster": record.poster,
    }


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _record(row: Any) -> HeldRecord:
    return HeldRecord(
        id=row["id"],
        kind=row["kind"],
        sender=row["sender"],
        object_keys=tuple(orjson.loads(row["object_keys"])),
        content_type=row["content_type"],
        body=row["body"],
        received_at=_instant(row["received_at"]),
        expires_at=_instant(row["expires_at"]),
        state=row["state"],
        reason=row["reason"],
        poster=row["poster"],
    )
