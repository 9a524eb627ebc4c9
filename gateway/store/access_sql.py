"""`resource_access` kept in step with the resources, plans and grants it is made of (see `tables.resource_access`).

`refresh` rewrites the rows of the given resources from what the database holds now: the author, and the SOR of
every grant of every plan a resource belongs to. The store calls it in the transaction that creates a resource and
in the one that rewrites a plan's members and grants; an update or delete changes neither, so `touch` only moves
the resource's instant. A committed search never walks rows that disagree with their sources.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, Connection, and_, delete, insert, select, tuple_, union, update

from gateway.store import tables as t

#: Resources per statement: well under SQLite's bound-parameter limit with two parameters each.
_BATCH = 400

ResourceKey = tuple[str, str]


def refresh(connection: Connection, keys: Iterable[ResourceKey]) -> None:
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), _BATCH):
        _refresh(connection, unique[start : start + _BATCH])


def _refresh(connection: Connection, keys: list[ResourceKey]) -> None:
    a, r, m, g = t.resource_access, t.resource, t.plan_member, t.plan_grant
    connection.execute(delete(a).where(_keyed(a.c.resource_type, a.c.id, keys)))
    own = select(r.c.author, r.c.resource_type, r.c.id, r.c.last_updated).where(
        _keyed(r.c.resource_type, r.c.id, keys), r.c.author.is_not(None)
    )
    granted = (
        select(g.c.sor, m.c.resource_type, m.c.id, r.c.last_updated)
        .select_from(
            m.join(g, and_(g.c.plan_id == m.c.plan_id, g.c.category == m.c.category)).join(
                r, and_(r.c.resource_type == m.c.resource_type, r.c.id == m.c.id)
            )
        )
        .where(_keyed(m.c.resource_type, m.c.id, keys))
    )
    # UNION, not UNION ALL: an author its own plan grants to, or two plans granting one SOR, is one row.
    rows = union(own, granted)
    connection.execute(insert(a).from_select(["sor", "resource_type", "id", "last_updated"], rows))


def touch(connection: Connection, key: ResourceKey, last_updated: str) -> None:
    """The resource's new instant in each of its rows (the walk's order follows its writes)."""
    a = t.resource_access
    connection.execute(update(a).where(_keyed(a.c.resource_type, a.c.id, [key])).values(last_updated=last_updated))


def _keyed(types: ColumnElement[str], ids: ColumnElement[str], keys: list[ResourceKey]) -> ColumnElement[bool]:
    if len(keys) == 1:  # a single resource's write: plain equalities, the primary key's own lookup
        ((resource_type, resource_id),) = keys
        return and_(types == resource_type, ids == resource_id)
    return tuple_(types, ids).in_(keys)


def plan_members(connection: Connection, plan_id: str) -> list[ResourceKey]:
    """The members of `plan_id` as stored now (before a plan write replaces them: their rows change too)."""
    m = t.plan_member
    rows = connection.execute(select(m.c.resource_type, m.c.id).where(m.c.plan_id == plan_id))
    return [(row.resource_type, row.id) for row in rows]
