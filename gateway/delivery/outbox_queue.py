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

from sqlalchemy import Connection, bindparam, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from gateway.delivery.outbox import OPEN_STATES, NoticeState
from gateway.store import tables as t
from gateway.store.dates import format_instant

n, q = t.outbox_notice, t.outbox_queue
Key = tuple[str, str]
_OPEN = tuple(state.value for state in OPEN_STATES)

# The statements a worker runs for every notice, built once: building a SQLAlchemy statement and its cache key
# each time was about a third of the worker's CPU per notice (bench/README.md, "The worker's statements").
_HEAD_COLUMNS = (n.c.sequence, n.c.id, n.c.state, n.c.due_at, n.c.lease_expires_at)
_SAME_KEY = (n.c.citizen == bindparam("key_citizen")) & (n.c.recipient == bindparam("key_recipient"))
# Two index probes: the one notice in flight (uq_outbox_notice_in_flight), else the oldest open one
# (ix_outbox_notice_open); neither reads the rest of the queue.
_IN_FLIGHT = select(*_HEAD_COLUMNS).where(_SAME_KEY, n.c.state == NoticeState.SENDING.value)
_OLDEST_OPEN = select(*_HEAD_COLUMNS).where(_SAME_KEY, n.c.state.in_(_OPEN)).order_by(n.c.sequence).limit(1)
_SET_HEAD = (
    update(q)
    .where(q.c.citizen == bindparam("key_citizen"), q.c.recipient == bindparam("key_recipient"))
    .values(
        ready_at=bindparam("head_ready_at"), next_sequence=bindparam("head_sequence"), held_by=bindparam("head_held_by")
    )
)
_READY = (
    select(q.c.citizen, q.c.recipient, q.c.next_sequence)
    .where(q.c.ready_at.is_not(None), q.c.ready_at <= bindparam("now"))
    .order_by(q.c.ready_at, q.c.next_sequence)
    .limit(bindparam("candidates"))
)
_READY_LOCKED = _READY.with_for_update(skip_locked=True)
_CREATE_KEY_SQLITE = sqlite.insert(q).on_conflict_do_nothing()
_CREATE_KEY_POSTGRESQL = postgresql.insert(q).on_conflict_do_nothing()
_LOCK_KEYS_POSTGRESQL = (
    select(q.c.citizen)
    .where(tuple_(q.c.citizen, q.c.recipient).in_(bindparam("keys", expanding=True)))
    .order_by(q.c.citizen, q.c.recipient)
    .with_for_update()
)


def lock(connection: Connection, keys: Iterable[Key]) -> None:
    """Create the keys' queue rows if missing and lock them until the transaction ends (PostgreSQL)."""
    wanted = sorted(set(keys))
    if not wanted:
        return
    rows = [{"citizen": citizen, "recipient": recipient} for citizen, recipient in wanted]
    if connection.dialect.name == "postgresql":
        connection.execute(_CREATE_KEY_POSTGRESQL, rows)
        connection.execute(_LOCK_KEYS_POSTGRESQL, {"keys": wanted})
    else:
        connection.execute(_CREATE_KEY_SQLITE, rows)


def refresh(connection: Connection, keys: Iterable[Key]) -> None:
    """Recompute the queue rows of `keys` from their notices (the caller holds their locks)."""
    for citizen, recipient in sorted(set(keys)):
        key = {"key_citizen": citizen, "key_recipient": recipient}
        head = connection.execute(_IN_FLIGHT, key).first() or connection.execute(_OLDEST_OPEN, key).first()
        values: dict[str, str | int | None] = {"head_ready_at": None, "head_sequence": None, "head_held_by": None}
        if head is not None:
            values["head_sequence"] = head.sequence
            if head.state == NoticeState.SENDING.value:
                values["head_ready_at"] = head.lease_expires_at  # a stalled send is taken up again at lease expiry
            elif head.state == NoticeState.PENDING.value:
                values["head_ready_at"] = head.due_at
            else:
                values["head_held_by"] = head.id
        connection.execute(_SET_HEAD, key | values)


def ready(connection: Connection, now: datetime, limit: int) -> list[tuple[Key, int]]:
    """Keys with a claimable notice and that notice's sequence, longest ready first; locked rows (being claimed
    or changed by another transaction) are skipped."""
    statement = _READY_LOCKED if connection.dialect.name == "postgresql" else _READY
    found = connection.execute(statement, {"now": format_instant(now), "candidates": limit})
    return [((row.citizen, row.recipient), row.next_sequence) for row in found]


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
