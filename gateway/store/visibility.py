"""The access rule in SQL: which stored resources a caller may see (one clause builder for every query).

    visible(caller, resource) =  resource is an Organization (an open directory) or an AuditEvent (scope only)
                              or the caller's SOR code is the resource's author (`fhir_resource.author`)
                              or the resource belongs to a plan (`plan_member`, under a data category) whose own
                                 Consent grants the caller's SOR that category now (`plan_grant`)

Everything else is hidden, including plan and person resources written straight to `/fhir` by another
organisation. A citizen signed in to the pages (a viewer with a CPR number) sees their own plans whole: every
member of a plan whose Patient carries their CPR number, that Patient, and the AuditEvents about it.
`plan_grant` holds what `mappings.plan.plan_grants` computes from the plan's Consent (the rows `may_disclose` would
permit), so the database decides exactly as `may_disclose` does. Searches, `_include`,
`_revinclude`, histories and single reads all take their condition from here (HAPI FHIR's
SearchNarrowingInterceptor: narrow the query, do not filter its pages), so a search by a caller who may see little
costs what an unfiltered one does and its pages stay full.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    exists,
    false,
    or_,
    select,
    true,
    tuple_,
    union_all,
)

from gateway.store import tables as t
from gateway.store.ports import Viewer
from mappings.plan.codes import CPR_SYSTEM

#: Types every authenticated caller with the scope sees: the organisation directory, and the audit trail (whose
#: own rule is the auditor scope).
OPEN_TYPES = ("Organization", "AuditEvent")
#: One part of the access rule as an id set, with the key its size may be kept under (None: sized every time).
VisiblePart = tuple[Select[tuple[str]], Hashable | None]


def _granted(viewer: Viewer, *conditions: ColumnElement[bool]) -> Select[tuple[str]]:
    """Ids of the plan members (meeting `conditions`) whose plan grants `viewer` their category at `viewer.at`.

    Driven by the viewer's grants (`ix_plan_grant_sor`), then the members of those plans and categories
    (`ix_plan_member_plan`, covering): the cost follows what the viewer may see, not how many plans there are."""
    m, g = t.plan_member, t.plan_grant
    grants = select(g.c.plan_id, g.c.category).where(
        g.c.sor == viewer.sor, g.c.valid_from <= viewer.at, g.c.valid_to > viewer.at
    )
    return select(m.c.id).where(tuple_(m.c.plan_id, m.c.category).in_(grants), *conditions)


def visible(
    viewer: Viewer, resource_type: str | ColumnElement[str], resource_id: ColumnElement[str], author: ColumnElement[str]
) -> ColumnElement[bool]:
    """The condition on a row of `fhir_resource` (its type, id and author columns) under which `viewer` sees it.

    Give `resource_type` as a string when the query is for one type: the condition then becomes an uncorrelated
    `id IN (...)` that the database evaluates once (issue 18 measured correlated `EXISTS` at 150 times the cost)."""
    own = author == viewer.sor if viewer.sor is not None else false()
    if viewer.own_only:
        return own
    if viewer.cpr is not None:
        return _citizens(viewer.cpr, resource_type, resource_id)
    if viewer.sor is None:
        return resource_type.in_(OPEN_TYPES) if not isinstance(resource_type, str) else _open(resource_type)
    if isinstance(resource_type, str):
        if resource_type in OPEN_TYPES:
            return true()
        return or_(own, resource_id.in_(_granted(viewer, t.plan_member.c.resource_type == resource_type)))
    here = _granted(viewer, t.plan_member.c.resource_type == resource_type, t.plan_member.c.id == resource_id)
    return or_(resource_type.in_(OPEN_TYPES), own, exists(here))


def visible_read(resource_type: str, resource_id: str, viewer: Viewer | None) -> tuple[Select[Any], dict[str, str]]:
    """The statement reading one current row of `fhir_resource` as `viewer` sees it, and its parameters.

    For an organisation's viewer (every authenticated API read) the statement is built once per type with the
    viewer as bound parameters: building `visible`'s expression and SQLAlchemy's walk of it for the cache key
    were 0.2 ms of a 2 ms read (issue 18). The same rule: `visible` itself, given parameters for values."""
    if viewer is None:
        return unviewed_read(resource_type), {"read_id": resource_id}
    if viewer.own_only or viewer.cpr is not None or viewer.sor is None:
        r = t.resource
        statement = select(r).where(r.c.resource_type == resource_type, r.c.id == resource_id)
        return statement.where(visible(viewer, resource_type, r.c.id, r.c.author)), {}
    return _organisation_read(resource_type), {"read_id": resource_id, "viewer_sor": viewer.sor, "viewer_at": viewer.at}


@functools.lru_cache(maxsize=64)
def unviewed_read(resource_type: str) -> Select[Any]:
    """One current row by id, without an access rule (the gateway's own reads), built once per type."""
    r = t.resource
    return select(r).where(r.c.resource_type == resource_type, r.c.id == bindparam("read_id"))


@functools.lru_cache(maxsize=64)
def unviewed_reads(resource_type: str) -> Select[Any]:
    """`unviewed_read` of several ids at once (`read_ids`, an expanding parameter)."""
    r = t.resource
    return select(r).where(r.c.resource_type == resource_type, r.c.id.in_(bindparam("read_ids", expanding=True)))


@functools.lru_cache(maxsize=64)
def _organisation_read(resource_type: str) -> Select[Any]:
    r = t.resource
    # The viewer's values are bound parameters here; `visible` only compares them, so they stand in for strings.
    viewer = Viewer(sor=cast(str, bindparam("viewer_sor")), at=cast(str, bindparam("viewer_at")))
    return select(r).where(
        r.c.resource_type == resource_type,
        r.c.id == bindparam("read_id"),
        visible(viewer, resource_type, r.c.id, r.c.author),
    )


def visible_probe(
    viewer: Viewer, resource_type: str, resource_id: ColumnElement[str], author: ColumnElement[str]
) -> ColumnElement[bool]:
    """`visible` for a query of one type, checked per candidate row (the author column, then one probe of
    `plan_member`'s primary key joined to `plan_grant`'s) instead of building the whole visible set: for a search
    that walks its matches in sort order and stops at the page's end. The same rule as `visible`."""
    if viewer.own_only or viewer.cpr is not None or viewer.sor is None or resource_type in OPEN_TYPES:
        return visible(viewer, resource_type, resource_id, author)
    m, g = t.plan_member, t.plan_grant
    granted = select(m.c.id).where(
        m.c.resource_type == resource_type,
        m.c.id == resource_id,
        exists(
            select(g.c.plan_id).where(
                g.c.plan_id == m.c.plan_id,
                g.c.category == m.c.category,
                g.c.sor == viewer.sor,
                g.c.valid_from <= viewer.at,
                g.c.valid_to > viewer.at,
            )
        ),
    )
    return or_(author == viewer.sor, exists(granted))


def visible_set(viewer: Viewer, resource_type: str, resource_id: ColumnElement[str]) -> ColumnElement[bool]:
    """`visible` for a query of one type as one id set (`id IN (own UNION ALL granted)`), for a search the access
    rule drives: both parts are index lookups of what the viewer may see, where `visible`'s `OR` over the rows
    makes SQLite read every row of the type."""
    parts = visible_ids(viewer, resource_type)
    if parts is None:
        return visible(viewer, resource_type, resource_id, t.resource.c.author)
    return resource_id.in_(union_all(*(part for part, _key in parts)))


def visible_ids(viewer: Viewer, resource_type: str) -> tuple[VisiblePart, ...] | None:
    """Subqueries whose union is the ids of `resource_type` that `viewer` may see (the organisation's own, and
    what its grants reach), for a search to size before choosing what drives it; None where the rule is not of
    that shape (open types, a citizen, a caller without organisation).

    Each part comes with the key its size may be kept under while the stored data holds (`ResourceTransaction
    .size`): what the organisation wrote depends on the store alone; what its grants reach depends on the time too
    (a grant's period), so it has none and is sized every time."""
    if viewer.cpr is not None or viewer.sor is None or resource_type in OPEN_TYPES:
        return None
    r = t.resource
    own = select(r.c.id).where(r.c.resource_type == resource_type, r.c.author == viewer.sor)
    own_part: VisiblePart = (own, ("own", viewer.sor, resource_type))
    if viewer.own_only:
        return (own_part,)
    return own_part, (_granted(viewer, t.plan_member.c.resource_type == resource_type), None)


def _citizens(
    cpr: str, resource_type: str | ColumnElement[str], resource_id: ColumnElement[str]
) -> ColumnElement[bool]:
    """What a citizen sees: their Patients (by CPR number), the members of their plans, the AuditEvents about
    their Patients, and the open directory."""
    token, reference, p, m = t.search_token, t.search_reference, t.plan, t.plan_member
    patients = select(token.c.id).where(
        token.c.resource_type == "Patient",
        token.c.param == "identifier",
        token.c.system == CPR_SYSTEM,
        token.c.code == cpr,
    )
    plans = select(p.c.plan_id).where(p.c.patient_id.in_(patients))
    audited = select(reference.c.id).where(
        reference.c.resource_type == "AuditEvent",
        reference.c.param == "patient",
        reference.c.target_type == "Patient",
        reference.c.target_id.in_(patients),
    )

    def of_type(name: str) -> ColumnElement[bool]:
        if name == "Organization":
            return true()
        if name == "Patient":
            return resource_id.in_(patients)
        if name == "AuditEvent":
            return resource_id.in_(audited)
        return resource_id.in_(select(m.c.id).where(m.c.resource_type == name, m.c.plan_id.in_(plans)))

    if isinstance(resource_type, str):
        return of_type(resource_type)
    members = select(m.c.id).where(m.c.resource_type == resource_type, m.c.plan_id.in_(plans))
    return or_(
        resource_type == "Organization",
        and_(resource_type == "Patient", resource_id.in_(patients)),
        and_(resource_type == "AuditEvent", resource_id.in_(audited)),
        exists(members.where(m.c.id == resource_id)),
    )


def _open(resource_type: str) -> ColumnElement[bool]:
    return true() if resource_type in OPEN_TYPES else false()
