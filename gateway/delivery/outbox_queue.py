"""The per-key queue index of the SQL outbox: lock a key, refresh what its queue can deliver next.

`outbox_queue` holds one row per ordering key `(citizen, recipient)`: when its next notice becomes claimable
(`ready_at`), which one (`next_sequence`) and, when a dead notice heads the queue, that notice (`held_by`). It is
derived from `outbox_notice` by `refresh` after every change to a key's notices, inside the same transaction.

Why a table rather than a cleverer claim query: deciding per notice whether an older one of its key is still open
costs a probe per waiting notice, so a claim over a backlog of one citizen grew with the backlog (issue 18: 723 ms
with 717 pending). With the queue rows the claim reads only keys that are ready, head first (an index range
scan on `ix_outbox_queue_ready`), whatever the length of each queue.

Concurrency (PostgreSQL, READ COMMITTED): every writer of a key first locks its queue row (`lock`, rows in key
order so that two writers of the same keys cannot deadlock), so `refresh` always sees the key's latest committed
notices; claims skip locked rows (`FOR UPDATE SKIP LOCKED`), so workers never wait on each other. SQLite has one
writer at a time (`BEGIN IMMEDIATE`) and needs no row locks.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from gateway.delivery.outbox import OPEN_STATES, NoticeState
from gateway.store import tables as t
from gateway.store.dates import format_instant

n, q = t.outbox_notice, t.outbox_queue
Key = tuple[str, str]
_OPEN = tuple(state.value for state in OPEN_STATES)


def lock(connection: Connection, keys: Iterable[Key]) -> None:
    """Create the keys' queue rows if missing and lock them until the transaction ends (PostgreSQL)."""
    wanted = sorted(set(keys))
    if not wanted:
        return
    rows = [{"citizen": citizen, "recipient": recipient} for citizen, recipient in wanted]
    if connection.dialect.name == "postgresql":
        connection.execute(postgresql.insert(q).values(rows).on_conflict_do_nothing())
        connection.execute(
            select(q.c.citizen)
            .where(tuple_(q.c.citizen, q.c.recipient).in_(wanted))
            .order_by(q.c.citizen, q.c.recipient)
            .with_for_update()
        )
    else:
        connection.execute(sqlite.insert(q).values(rows).on_conflict_do_nothing())


def refresh(connection: Connection, keys: Iterable[Key]) -> None:
    """Recompute the queue rows of `keys` from their notices (the caller holds their locks)."""
    for citizen, recipient in sorted(set(keys)):
        same_key = (n.c.citizen == citizen) & (n.c.recipient == recipient)
        columns = (n.c.sequence, n.c.id, n.c.state, n.c.due_at, n.c.lease_expires_at)
        # Two index probes: the one notice in flight (uq_outbox_notice_in_flight), else the oldest open one
        # (ix_outbox_notice_open); neither reads the rest of the queue.
        in_flight = select(*columns).where(same_key, n.c.state == NoticeState.SENDING.value)
        oldest_open = select(*columns).where(same_key, n.c.state.in_(_OPEN)).order_by(n.c.sequence).limit(1)
        head = connection.execute(in_flight).first() or connection.execute(oldest_open).first()
        values: dict[str, str | int | None] = {"ready_at": None, "next_sequence": None, "held_by": None}
        if head is not None:
            values["next_sequence"] = head.sequence
            if head.state == NoticeState.SENDING.value:
                values["ready_at"] = head.lease_expires_at  # a stalled send is taken up again at lease expiry
            elif head.state == NoticeState.PENDING.value:
                values["ready_at"] = head.due_at
            else:
                values["held_by"] = head.id
        connection.execute(update(q).where(q.c.citizen == citizen, q.c.recipient == recipient).values(**values))


def ready(connection: Connection, now: datetime, limit: int) -> list[tuple[Key, int]]:
    """Keys with a claimable notice and that notice's sequence, longest ready first; locked rows (being claimed
    or changed by another transaction) are skipped."""
    statement = (
        select(q.c.citizen, q.c.recipient, q.c.next_sequence)
        .where(q.c.ready_at.is_not(None), q.c.ready_at <= format_instant(now))
        .order_by(q.c.ready_at, q.c.next_sequence)
        .limit(limit)
    )
    if connection.dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    return [((row.citizen, row.recipient), row.next_sequence) for row in connection.execute(statement)]


def oldest_ready(connection: Connection) -> str | None:
    """The earliest `ready_at` of any key (a stored instant), for the worker-lag check; None if none is ready."""
    return connection.execute(
        select(q.c.ready_at).where(q.c.ready_at.is_not(None)).order_by(q.c.ready_at).limit(1)
    ).scalar()


def stale(connection: Connection, limit: int) -> list[Key]:
    """Keys whose queue row disagrees with their notices in a way no claim would repair: open notices but no row
    (or an empty one), or a row held by a notice that is no longer dead. Writers that do not keep the queue rows
    (an older gateway during a rolling upgrade) leave such keys behind; `refresh` repairs them."""
    on_key = (q.c.citizen == n.c.citizen) & (q.c.recipient == n.c.recipient)
    unqueued = (
        select(n.c.citizen, n.c.recipient)
        .select_from(n.outerjoin(q, on_key))
        .where(n.c.state.in_(_OPEN), q.c.next_sequence.is_(None))
        .distinct()
        .limit(limit)
    )
    holder = n.alias("holder")
    released = (
        select(q.c.citizen, q.c.recipient)
        .select_from(q.join(holder, holder.c.id == q.c.held_by))
        .where(holder.c.state != NoticeState.DEAD.value)
        .limit(limit)
    )
    found = {(row.citizen, row.recipient) for row in connection.execute(unqueued)}
    found |= {(row.citizen, row.recipient) for row in connection.execute(released)}
    return sorted(found)[:limit]


def depths(connection: Connection) -> dict[str, int]:
    """Notices per unfinished state, and `held` (pending behind a dead notice); finished ones are not counted
    (the state index serves these counts without reading the finished history)."""
    unfinished = ("pending", "sending", "sent", "dead")
    counted = connection.execute(select(n.c.state, func.count()).where(n.c.state.in_(unfinished)).group_by(n.c.state))
    found = dict.fromkeys(unfinished, 0) | {state: int(count) for state, count in counted}
    held = connection.execute(
        select(func.count())
        .select_from(n.join(q, (q.c.citizen == n.c.citizen) & (q.c.recipient == n.c.recipient)))
        .where(n.c.state == NoticeState.PENDING.value, q.c.held_by.is_not(None))
    ).scalar_one()
    return found | {"held": int(held)}
