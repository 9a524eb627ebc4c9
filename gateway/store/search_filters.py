"""SQL conditions for search criteria, over the index tables (FHIR R4 search semantics).

Each criterion on an index table becomes an `IdSet` (the ids of the index rows matching any of its ORed values);
criteria are ANDed by the caller (`gateway.store.search_plan` decides which set drives the query). Date
comparisons follow http://hl7.org/fhir/R4/search.html#prefix with inclusive ranges [low, high] for both the
stored value and the search value.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from sqlalchemy import Select, Table, and_, exists, false, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import FromClause

from gateway.store import tables as t
from gateway.store.dates import parse_search_date
from gateway.store.ports import Viewer
from gateway.store.search_params import normalize_string, parse_reference
from gateway.store.search_query import Criterion
from gateway.store.visibility import visible
from mappings.issues import IssueError

_TABLES: dict[str, Table] = {
    "token": t.search_token,
    "reference": t.search_reference,
    "date": t.search_date,
    "string": t.search_string,
}


@dataclass(frozen=True, slots=True)
class IdSet:
    """The ids of the resources (of the searched type) that one criterion selects, as a one-column subquery over an
    index table; `negated`: the criterion is its complement (`:not`, `:missing=true`). `gateway.store.search_plan`
    decides whether a set drives the query (`id IN (ids)`, evaluated once) or is probed per candidate row
    (`EXISTS (probe_ids AND id = row's id)`, one `*_owner` index probe). `probe_ids` is `ids` with its value
    comparisons kept off the value indexes where a database would rather range over those than probe."""

    ids: Select[tuple[str]]
    negated: bool = False
    probe_ids: Select[tuple[str]] | None = None
    #: What the set's size depends on when that is only the stored data (the type and criterion; a chain's set
    #: is narrowed by what the caller may see, so it has none): the store keeps such sizes (`search_plan.Sizer`).
    memo_key: Hashable | None = None

    def contains(self, resource_id: ColumnElement[str]) -> ColumnElement[bool]:
        found = resource_id.in_(self.ids)
        return not_(found) if self.negated else found

    def probe(self, resource_id: ColumnElement[str]) -> ColumnElement[bool]:
        ids = self.ids if self.probe_ids is None else self.probe_ids
        # `LIMIT 1 OFFSET 0` (one row answers EXISTS) keeps PostgreSQL from turning the EXISTS into a join over the
        # whole set, a hash of every `status=active` row under a walk that needs a page of them (its
        # simplify_EXISTS_query, subselect.c, gives up on a query with an offset); SQLite probes per row either way.
        found = exists(ids.where(ids.selected_columns[0] == resource_id).limit(1).offset(0))
        return not_(found) if self.negated else found


def criterion_clause(
    resource_type: str, criterion: Criterion, viewer: Viewer | None = None, *, rows: FromClause = t.resource
) -> ColumnElement[bool]:
    """The condition on `rows` (`fhir_resource` or an alias of it) for one criterion (the `id IN (...)` form).
    `viewer` narrows what a chain or `_has` may match through: only resources the caller may see (the access
    rule), never hidden ones."""
    ids = criterion_ids(resource_type, criterion, viewer)
    return row_clause(criterion, rows) if ids is None else ids.contains(rows.c.id)


def row_clause(criterion: Criterion, rows: FromClause = t.resource) -> ColumnElement[bool]:
    """A criterion on the resource row's own columns (`_id`, `_lastUpdated`: `fhir_resource`'s primary key and
    `ix_fhir_resource_type_updated`)."""
    r = rows
    if criterion.name == "_id":
        clause = r.c.id.in_(criterion.values)
        return not_(clause) if criterion.modifier == "not" else clause
    # comma-separated values OR, like every other parameter
    return or_(*(_date_match(r.c.last_updated, r.c.last_updated, v, "_lastUpdated") for v in criterion.values))


def criterion_ids(resource_type: str, criterion: Criterion, viewer: Viewer | None = None) -> IdSet | None:
    """The id set of a criterion over an index table; None for the row's own columns (`row_clause`)."""
    if criterion.chain is not None:
        return IdSet(_chain_ids(resource_type, criterion, criterion.chain, viewer))
    if criterion.name in ("_id", "_lastUpdated"):
        return None
    table = _TABLES[criterion.type]
    # Uncorrelated, the database evaluates the index lookup once (the `*_lookup` indexes) instead of once per
    # resource row, which a correlated EXISTS over every row costs (issue 18: 14.2 ms against 0.09 ms).
    of_param = and_(table.c.resource_type == resource_type, table.c.param == criterion.name)
    memo_key = ("criterion", resource_type, criterion)
    if criterion.modifier == "missing":
        return IdSet(select(table.c.id).where(of_param), negated=criterion.values[0] == "true", memo_key=memo_key)
    matches = or_(*(_value_match(table, criterion, value) for value in criterion.values))
    ids = select(table.c.id).where(of_param, matches)
    probe_ids = None
    if criterion.type == "date":
        # `|| ''` leaves the values and hides the bounds from the value indexes: SQLite otherwise ranges over
        # `ix_fhir_search_date_high` for every probed row instead of reading the row's own dates (`_owner`).
        low, high = table.c.low + "", table.c.high + ""
        hidden = or_(*(_date_match(low, high, value, criterion.name) for value in criterion.values))
        probe_ids = select(table.c.id).where(of_param, hidden)
    return IdSet(ids, negated=criterion.modifier == "not", probe_ids=probe_ids, memo_key=memo_key)


def _visible_ids(resource_type: str, criterion: Criterion, viewer: Viewer | None) -> Select[tuple[str]]:
    """Ids of the live `resource_type` resources matching `criterion` that `viewer` may see."""
    other = t.resource.alias(f"chained_{resource_type.lower()}")
    conditions = [
        other.c.resource_type == resource_type,
        other.c.deleted.is_(False),
        criterion_clause(resource_type, criterion, viewer, rows=other),
    ]
    if viewer is not None:
        conditions.append(visible(viewer, resource_type, other.c.id, other.c.author))
    return select(other.c.id).where(*conditions)


def _chain_ids(resource_type: str, criterion: Criterion, inner: Criterion, viewer: Viewer | None) -> Select[tuple[str]]:
    """Ids of a chain (`subject:Patient.identifier=x`, R4 search.html#chaining): the resource refers through
    `criterion`'s reference parameter to a visible target matching `inner`. `_has` (search.html#has) the other
    way round: a visible resource of the source type matching `inner` refers to this one through `criterion.via`."""
    ref = t.search_reference
    other_type = criterion.target_type or ""
    if criterion.via is not None:  # _has:Source:via:inner
        referring = select(ref.c.target_id).where(
            ref.c.resource_type == other_type,
            ref.c.param == criterion.via,
            ref.c.target_type == resource_type,
            ref.c.id.in_(_visible_ids(other_type, inner, viewer)),
        )
        return referring
    referring = select(ref.c.id).where(
        ref.c.resource_type == resource_type,
        ref.c.param == criterion.name,
        ref.c.target_type == other_type,
        ref.c.target_id.in_(_visible_ids(other_type, inner, viewer)),
    )
    return referring


def _value_match(table: Table, criterion: Criterion, value: str) -> ColumnElement[bool]:
    if criterion.type == "token":
        return _token_match(table, value)
    if criterion.type == "reference":
        return _reference_match(table, criterion, value)
    if criterion.type == "date":
        return _date_match(table.c.low, table.c.high, value, criterion.name)
    return _string_match(table, criterion.modifier, value)


def _token_match(table: Table, value: str) -> ColumnElement[bool]:
    if "|" not in value:
        return table.c.code == value
    system, _, code = value.partition("|")
    if system == "":
        return and_(table.c.system.is_(None), table.c.code == code)
    if code == "":
        return table.c.system == system
    return and_(table.c.system == system, table.c.code == code)


def _reference_match(table: Table, criterion: Criterion, value: str) -> ColumnElement[bool]:
    parsed = parse_reference(value)
    if parsed is None:
        if "/" in value:
            raise IssueError.single(
                "invalid",
                f"Search parameter {criterion.name!r}: {value!r} is not a reference of the form [Type/]id",
                expression=criterion.name,
                message_id="search.invalid-reference",
                status=400,
            )
        target_id = value
        condition = table.c.target_id == target_id
        if criterion.target_type:
            condition = and_(condition, table.c.target_type == criterion.target_type)
        return condition
    target_type, target_id = parsed
    if criterion.target_type and criterion.target_type != target_type:
        return false()
    return and_(table.c.target_type == target_type, table.c.target_id == target_id)


def _date_match(low: ColumnElement[str], high: ColumnElement[str], value: str, parameter: str) -> ColumnElement[bool]:
    """The prefix's condition, with the bound it implies on `low` or `high` spelled out (`ge`: either case has
    high >= the search's low; `le`: low <= its high; `eq`: low <= its high) so that every prefix but `ne` is a range
    on one index column (`ix_fhir_search_date_lookup` on low, `ix_fhir_search_date_high` on high)."""
    prefix, search_low, search_high = parse_search_date(value, parameter=parameter)
    contained = and_(low >= search_low, high <= search_high)
    match prefix:
        case "eq":
            return and_(low <= search_high, contained)
        case "ne":
            return not_(contained)
        case "gt":
            return high > search_high
        case "lt":
            return low < search_low
        case "ge":
            return and_(high >= search_low, or_(high > search_high, contained))
        case "le":
            return and_(low <= search_high, or_(low < search_low, contained))
        case "sa":
            return low > search_high
        case "eb":
            return high < search_low
        case "ap":
            return and_(low <= search_high, high >= search_low)
    return true()


def _string_match(table: Table, modifier: str, value: str) -> ColumnElement[bool]:
    if modifier == "exact":
        return table.c.exact == value
    normalized = normalize_string(value)
    escaped = normalized.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if modifier == "contains":
        return table.c.normalized.like(f"%{escaped}%", escape="\\")
    return table.c.normalized.like(f"{escaped}%", escape="\\")
