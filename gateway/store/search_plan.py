"""How a search is put to the database: which of its conditions drives the query (issue 18).

A search is the resource rows of one type, not deleted, meeting every criterion and the access rule, in sort
order, one page of them, and (usually) their count. Each criterion on an index table is an `IdSet`
(`search_filters`), the access rule a set too (`visibility.visible_ids`). Two shapes answer it:

* **driven**: the smallest set holds at most `DRIVE_LIMIT` ids. It is evaluated once (`id IN (...)` over its
  covering `*_lookup` index), every other condition is probed per candidate (`EXISTS`, the `*_owner` index; the
  access rule through `plan_member`'s and `plan_grant`'s keys), and at most `DRIVE_LIMIT` rows are counted and
  sorted: the cost follows the matches, not the table.
* **walked**: every set is larger (a broad `status=active`, an author seeing all its plans). The page walks
  `ix_fhir_resource_type_updated` in sort order probing each row and stops at the page's end, instead of building
  and sorting every match: about `count / selectivity` rows. The exact count of a broad search still reads every
  match (driven by one of its sets, the others probed): `Bundle.total` is what costs there.

A caller whose part is the access rule's (an organisation seeing what it wrote and what consents grant it) walks
its own rows of `resource_access` in sort order instead (`ix_resource_access_updated`, or its primary key for
`_id`), each row joined to its resource by primary key and decided by the access rule and the criteria: about
`count / selectivity among what it may reach` rows, whatever the number of plans. A set of a page's size still
drives; a larger one drives only where the walk would read more rows than the set holds (issue 18: `status=active`
driven through 900 of 1,000 plans was slower than walking to the page's end).

Each set is sized with `SELECT count(*) FROM (set LIMIT DRIVE_LIMIT + 1)` first (an index range of at most that
many entries); a set whose size depends only on what is stored (a criterion's, not one narrowed by the caller or
the time) names that in its `memo_key`, and the store keeps its size while its write generation holds. SQLite's
planner cannot make this choice itself (it evaluates `IN (subquery)` in full and cannot rewrite it into a walk);
PostgreSQL could from its statistics, but gets the same statements so that one
query-plan document (`bench/QUERY_PLANS.md`) describes both.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, Table, func, select

from gateway.store import tables as t
from gateway.store.ports import Viewer
from gateway.store.search_filters import IdSet, criterion_ids, row_clause
from gateway.store.search_query import SearchQuery
from gateway.store.visibility import OPEN_TYPES, visible, visible_ids, visible_probe, visible_set

#: A set of at most this many ids drives a search (evaluated in full, its matches counted and sorted).
DRIVE_LIMIT = 1000
#: A set this small drives the search without the access rule being sized.
ENOUGH = 100
#: Runs `capped_size` on a set; the key (or None) says what the set's size depends on when that is only what is
#: stored, so the store may answer it from the sizes it kept (`SqlResourceTransaction.size`).
Sizer = Callable[[Select[tuple[str]], Hashable | None], int]
Shape = Literal["driven", "walked", "by id"]


@dataclass(frozen=True)
class SearchConditions:
    """The WHERE of a search's page (`where`) and of its count and stored result (`count_where`: driven by a set
    even when the page walks), with the shape chosen and what drives it: a parameter's name, "access rule", "_id",
    or "sort order"."""

    where: list[ColumnElement[bool]]
    #: Built when asked (most first pages count nothing): the conditions are SQLAlchemy objects, ~0.1 ms each set.
    count_where: Callable[[], list[ColumnElement[bool]]]
    shape: Shape
    driver: str
    #: The table whose `last_updated` and `id` order the page: `fhir_resource`, or `resource_access` for a walk of
    #: the caller's rows there (the same values: they are written together).
    order_rows: Table = t.resource


@dataclass(frozen=True)
class SearchStatements:
    count: Select[Any]
    page: Select[Any]
    #: A later pass of the search's stored result (`SqlResourceTransaction._fill`): the next matches not stored yet.
    later_pass: Select[Any]
    shape: Shape
    driver: str


def not_stored(search_id: str) -> ColumnElement[bool]:
    """A `fhir_resource` row whose id is not stored under `search_id` yet (a later pass appends only those; read
    from `ix_fhir_search_result_entry_resource`)."""
    entry, r = t.search_result_entry, t.resource
    return ~select(entry.c.resource_id).where(entry.c.search_id == search_id, entry.c.resource_id == r.c.id).exists()


def capped_size(ids: Select[tuple[str]], drive_limit: int = DRIVE_LIMIT) -> Select[int]:
    """How many ids `ids` selects, counting no further than `drive_limit + 1`."""
    return select(func.count()).select_from(ids.limit(drive_limit + 1).subquery())


def search_conditions(
    query: SearchQuery, viewer: Viewer | None, size: Sizer, drive_limit: int = DRIVE_LIMIT
) -> SearchConditions:
    """The conditions of `query` for `viewer`, shaped; `size` runs `capped_size` (a set over `drive_limit` ids
    walks instead of driving)."""
    r = t.resource
    kind = query.resource_type
    conditions: list[ColumnElement[bool]] = [r.c.resource_type == kind, r.c.deleted.is_(False)]
    sets: list[tuple[str, IdSet]] = []
    by_id = False
    for criterion in query.criteria:
        ids = criterion_ids(kind, criterion, viewer)
        if ids is None:
            conditions.append(row_clause(criterion))
            by_id = by_id or (criterion.name == "_id" and criterion.modifier == "")
        else:
            sets.append((criterion.name, ids))
    rule = visible_ids(viewer, kind) if viewer is not None else None

    def filtered(driver: str | None) -> list[ColumnElement[bool]]:
        """The conditions with the set named `driver` evaluated once (`IN`), every other one probed per row."""
        clauses = list(conditions)
        clauses += [ids.contains(r.c.id) if name == driver else ids.probe(r.c.id) for name, ids in sets]
        if viewer is None:
            return clauses
        if driver == "access rule":
            clauses.append(visible_set(viewer, kind, r.c.id))
        elif rule is None:
            clauses.append(visible(viewer, kind, r.c.id, r.c.author))
        else:
            clauses.append(visible_probe(viewer, kind, r.c.id, r.c.author))
        return clauses

    if by_id:  # the primary key drives: a handful of rows
        shape: Shape = "by id"
        driver = "_id"
        where = filtered(None)
        count_where = _same(where)
    elif viewer is not None and _walks_access(query, viewer):
        return _access_walk(query, viewer, sets, size, drive_limit, filtered)
    else:
        sizes = [(size(ids.ids, ids.memo_key), name) for name, ids in sets if not ids.negated]
        # A criterion of a page's size drives whatever the caller may see: the access rule is not sized then
        # (sizing it reads up to `drive_limit` ids of what the caller sees, the larger part of a lookup by patient).
        if rule is not None and min(sizes, default=(drive_limit + 1, ""))[0] > min(ENOUGH, drive_limit):
            sizes.append((sum(size(part, key) for part, key in rule), "access rule"))
        smallest = min(sizes, default=None)
        if smallest is not None and smallest[0] <= drive_limit:
            shape, driver = "driven", smallest[1]
            where = filtered(driver)
            count_where = _same(where)
        else:
            shape, driver = "walked", "sort order"
            where = filtered(None)
            # The exact count of a broad search reads every match: from one set's index, the rest probed.
            count_where = functools.partial(filtered, smallest[1] if smallest is not None else None)
    return SearchConditions(where, count_where, shape, driver)


def _same(where: list[ColumnElement[bool]]) -> Callable[[], list[ColumnElement[bool]]]:
    return lambda: where


def _walks_access(query: SearchQuery, viewer: Viewer) -> bool:
    """Whether `viewer`'s rows of `resource_access` can walk `query` in its order: an organisation under the full
    access rule, a plan type, an ascending order by `_lastUpdated` or `_id` (what the table's indexes hold)."""
    return (
        viewer.sor is not None
        and viewer.cpr is None
        and not viewer.own_only
        and query.resource_type not in OPEN_TYPES
        and query.sort in ("_lastUpdated", "_id")
    )


def reach(viewer: Viewer, resource_type: str) -> Select[tuple[str]]:
    """The ids of `resource_type` in `viewer`'s rows of `resource_access` (a superset of what it sees now)."""
    a = t.resource_access
    return select(a.c.id).where(a.c.sor == viewer.sor, a.c.resource_type == resource_type)


def _access_walk(
    query: SearchQuery,
    viewer: Viewer,
    sets: list[tuple[str, IdSet]],
    size: Sizer,
    drive_limit: int,
    filtered: Callable[[str | None], list[ColumnElement[bool]]],
) -> SearchConditions:
    """Driven by a criterion's set where that reads fewer rows, else walked through `viewer`'s `resource_access`
    rows. A walk to the page's end reads about `needed * reached / matches` rows (the matches spread evenly in the
    order); driving reads the set's `matches`."""
    a, r = t.resource_access, t.resource
    sizes = sorted((size(ids.ids, ids.memo_key), name) for name, ids in sets if not ids.negated)
    smallest = sizes[0] if sizes else None
    if smallest is not None and smallest[0] <= min(ENOUGH, drive_limit):
        where = filtered(smallest[1])
        return SearchConditions(where, _same(where), "driven", smallest[1])

    @functools.cache
    def reached_size() -> int:  # sized once, and only where it decides something
        return size(reach(viewer, query.resource_type), ("reach", viewer.sor, query.resource_type))

    if smallest is not None and smallest[0] <= drive_limit:  # a set over the limit, or none, walks in any case
        needed = query.offset + query.count + 1
        if reached_size() > drive_limit or smallest[0] * smallest[0] < needed * reached_size():
            where = filtered(smallest[1])
            return SearchConditions(where, _same(where), "driven", smallest[1])

    def count_where() -> list[ColumnElement[bool]]:
        """The exact count reads every match: from the smaller of a criterion's set and what the caller sees."""
        by_set = smallest is not None and smallest[0] <= reached_size()
        return filtered(smallest[1] if smallest is not None and by_set else "access rule")

    walk = [a.c.sor == viewer.sor, a.c.resource_type == query.resource_type, r.c.id == a.c.id]
    return SearchConditions([*walk, *filtered(None)], count_where, "walked", "access order", a)


def search_statements(
    query: SearchQuery, viewer: Viewer | None, size: Sizer, drive_limit: int = DRIVE_LIMIT
) -> SearchStatements:
    """Count and page statements of `query` sorted by `_lastUpdated` or `_id` (what `query_plans` explains; the
    store orders by every `_sort` key through its own `_ordering`, the same way for these two)."""
    r = t.resource
    shaped = search_conditions(query, viewer, size, drive_limit)
    count = select(func.count()).select_from(r).where(*shaped.count_where())
    descending = query.sort.startswith("-")
    rows = shaped.order_rows
    by_id = query.sort.lstrip("-") == "_id"
    keys: list[ColumnElement[str]] = [rows.c.id] if by_id else [rows.c.last_updated, rows.c.id]
    if shaped.shape != "walked":
        # At most `drive_limit` rows are sorted; ordering by the bare columns would let SQLite walk the whole type
        # in index order and probe the driving set per row (`|| ''` leaves the order, hides the index).
        keys = [key + "" for key in keys]
    ordering = [keys[0].desc() if descending else keys[0].asc(), *(key.asc() for key in keys[1:])]
    page = select(r).where(*shaped.where).order_by(*ordering).limit(query.count).offset(query.offset)
    later_pass = select(r.c.id).where(*shaped.where, not_stored("a-search")).order_by(*ordering).limit(2 * query.count)
    return SearchStatements(count, page, later_pass, shaped.shape, shaped.driver)
