"""The store's write generation: one number, moved by every transaction that writes resources or plan access data.

A reader that keeps what it derived from the store (`gateway.services.plan_cache`) reads the number in the same
read transaction (first) and trusts the kept value only while the number is the same. The number is a row of the
database (`store_generation`), moved inside the writing transaction, so it holds for every gateway process on the
database (several instances behind a load balancer, the CLI) and is exactly as visible as the writes it stands
for: on SQLite the read transaction's snapshot shows both or neither; on PostgreSQL (read committed) a commit that
lands between the reader's statements leaves it with the old number, so what it keeps is never trusted again.

`SqlResourceStore.writing()` moves it once, just before the commit (the row lock is held only for the commit:
concurrent writers on PostgreSQL queue on that row for no longer than that); a transaction on a bare connection
(`SqlResourceTransaction(connection, clock)`) moves it at its first write.
"""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from gateway.store import tables as t

_ROW = t.store_generation.c.id == 1
# Built once: every kept lookup and every write runs one of them.
_CURRENT = select(t.store_generation.c.value).where(_ROW)
_MOVE = update(t.store_generation).where(_ROW).values(value=t.store_generation.c.value + 1)


def current(connection: Connection) -> int:
    value = connection.execute(_CURRENT).scalar()
    return int(value or 0)


def move(connection: Connection) -> None:
    connection.execute(_MOVE)
