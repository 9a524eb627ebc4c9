"""The audit trail: AuditEvents in an append-only table, written in the transaction of what they record.

An AuditEvent is written once and never changes, so it is not stored like the plan's resources (a current row, a
history row and search-index rows per version: 12,924 events took 50 MB, issue 18). Here it is one row holding
the event's JSON and the columns its single-valued search parameters need (`recorded`, `action`, `outcome`,
`type`, `subtype`, `patient`), plus a row in `audit_event_index` per agent identifier, agent reference and entity.

`SqlResourceTransaction` hands `AuditEvent` reads, searches and history here, so `/fhir/AuditEvent` keeps
answering through the FHIR layer (scopes, search parsing, Bundles) while the storage is this table. Supported
search parameters: `_id`, `date`/`_lastUpdated` (AuditEvent.recorded), `action`, `outcome`, `type`, `subtype`,
`patient`, `entity`, `agent` (agent.who as a reference; the gateway's own events name agents by identifier),
`agent-identifier` (FHIR R4 search semantics: repetitions AND, commas OR).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Column, Connection, Select, and_, exists, false, func, insert, not_, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from gateway.store import tables as t
from gateway.store.dates import date_range, fhir_instant, parse_search_date
from gateway.store.ports import HistoryPage, Resource, SearchPage, StoredResource
from gateway.store.search_params import parse_reference
from gateway.store.search_query import Criterion, SearchQuery, sort_keys
from mappings.issues import IssueError

a, idx = t.audit_event, t.audit_event_index
ACTION_SYSTEM = "http://hl7.org/fhir/audit-event-action"
OUTCOME_SYSTEM = "http://hl7.org/fhir/audit-event-outcome"
_PATIENT_ROLE = "1"  # object-role 1: Patient (BALP)
_TEXT = 512


#: The statements of `append`, built once: every audited request writes one event, and a statement built per call
#: (`insert(a).values(**row)`) cost a third of the write in SQLAlchemy's construction and cache-key walk (issue 18).
#: The values travel as parameters, so these compile once per dialect and stay in the compiled cache.
_INSERT_EVENT = insert(a)
_INSERT_EVENT_ONCE = {
    "postgresql": postgresql.insert(a).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(a).on_conflict_do_nothing(),
}
_INSERT_KEYS = insert(idx)


def append(connection: Connection, event: Resource, *, once: bool = False) -> bool:
    """Store one AuditEvent (it must carry its `id`). `once`: an event whose id is stored already is left as it
    is (for events whose id is derived from what they count, written by several instances); returns whether it
    was written."""
    row, keys = _row(event), list(_index_rows(event))
    if once:
        dialect = "postgresql" if connection.dialect.name == "postgresql" else "sqlite"
        if not connection.execute(_INSERT_EVENT_ONCE[dialect], row).rowcount:
            return False
    else:
        connection.execute(_INSERT_EVENT, row)
    if keys:
        connection.execute(_INSERT_KEYS, keys)
    return True


def read(connection: Connection, event_id: str) -> StoredResource | None:
    row = connection.execute(select(a.c.id, a.c.recorded, a.c.content).where(a.c.id == event_id)).first()
    return None if row is None else _stored(row)


def search(connection: Connection, query: SearchQuery) -> SearchPage:
    count, page = search_statements(query)
    total = connection.execute(count).scalar_one()
    if query.summary_count or query.count == 0:
        return SearchPage([], [], total)
    return SearchPage([_stored(row) for row in connection.execute(page)], [], total)


def search_statements(query: SearchQuery) -> tuple[Select[int], Select[Any]]:
    """The count and the page statement of an AuditEvent search (what `search` runs, and what
    `gateway.store.query_plans` asks the database to explain)."""
    conditions = [_criterion(criterion) for criterion in query.criteria]
    ordering: list[Any] = [
        (column.desc() if descending else column.asc())
        for name, descending in sort_keys(query.sort)
        for column in [a.c.id if name == "_id" else a.c.recorded]
    ]
    ordering.append(a.c.id)
    count = select(func.count()).select_from(a).where(*conditions)
    page = (
        select(a.c.id, a.c.recorded, a.c.content)
        .where(*conditions)
        .order_by(*ordering)
        .limit(query.count)
        .offset(query.offset)
    )
    return count, page


def history(connection: Connection, event_id: str | None, *, since: str | None, count: int, offset: int) -> HistoryPage:
    """AuditEvents as a history (each has exactly one version), newest first."""
    conditions = [a.c.id == event_id] if event_id else []
    if since:
        conditions.append(a.c.recorded >= since)
    total = connection.execute(select(func.count()).select_from(a).where(*conditions)).scalar_one()
    statement = (
        select(a.c.id, a.c.recorded, a.c.content)
        .where(*conditions)
        .order_by(a.c.recorded.desc(), a.c.id)
        .limit(count)
        .offset(offset)
    )
    return HistoryPage([_stored(row) for row in connection.execute(statement)], total)


# -- writing ------------------------------------------------------------------------------------------------------


def _row(event: Resource) -> dict[str, Any]:
    if not event.get("id") or not event.get("recorded"):
        raise IssueError.single(
            "required", "an AuditEvent to store needs its id and recorded time", message_id="audit.incomplete"
        )
    event_type = event.get("type") or {}
    subtype = (event.get("subtype") or [{}])[0]
    return {
        "id": event["id"],
        "recorded": date_range(event["recorded"])[0],
        "action": event.get("action"),
        "outcome": event.get("outcome"),
        "type_system": event_type.get("system"),
        "type_code": event_type.get("code"),
        "subtype_system": subtype.get("system"),
        "subtype_code": subtype.get("code"),
        "patient": _patient(event),
        "content": orjson.dumps(event).decode(),
    }


def _patient(event: Resource) -> str | None:
    for entity in event.get("entity", []):
        if (entity.get("role") or {}).get("code") == _PATIENT_ROLE:
            parsed = parse_reference((entity.get("what") or {}).get("reference", ""))
            if parsed is not None:
                return parsed[1][: t.ID_LEN]
    return None


def _index_rows(event: Resource) -> Iterator[dict[str, Any]]:
    seen: set[tuple[str, str | None, str]] = set()
    for agent in event.get("agent", []):
        identifier = (agent.get("who") or {}).get("identifier") or {}
        if identifier.get("value"):
            seen.add(("agent-identifier", identifier.get("system"), str(identifier["value"])[:_TEXT]))
        reference = (agent.get("who") or {}).get("reference")
        if isinstance(reference, str) and parse_reference(reference) is not None:
            seen.add(("agent", None, reference[:_TEXT]))
    for entity in event.get("entity", []):
        reference = (entity.get("what") or {}).get("reference")
        if isinstance(reference, str) and parse_reference(reference) is not None:
            seen.add(("entity", None, reference[:_TEXT]))
    for param, system, value in sorted(seen, key=lambda key: (key[0], key[1] or "", key[2])):
        yield {"event_id": event["id"], "param": param, "system": system, "value": value}


def _stored(row: Any) -> StoredResource:
    event: Resource = orjson.loads(row.content)
    # Every AuditEvent has one version; the FHIR layer shows it with the meta a stored resource has.
    event["meta"] = {**event.get("meta", {}), "versionId": "1", "lastUpdated": fhir_instant(_moment(row.recorded))}
    return StoredResource("AuditEvent", row.id, 1, row.recorded, "POST", event)


def _moment(recorded: str) -> datetime:
    return datetime.fromisoformat(recorded.replace("Z", "+00:00"))


# -- searching ----------------------------------------------------------------------------------------------------

_TOKEN_COLUMNS: dict[str, tuple[Column[Any] | None, Column[Any]]] = {
    "action": (None, a.c.action),
    "outcome": (None, a.c.outcome),
    "type": (a.c.type_system, a.c.type_code),
    "subtype": (a.c.subtype_system, a.c.subtype_code),
}
_FIXED_SYSTEMS = {"action": ACTION_SYSTEM, "outcome": OUTCOME_SYSTEM}


def _criterion(criterion: Criterion) -> ColumnElement[bool]:
    name, modifier = criterion.name, criterion.modifier
    if name == "_id":
        matched: ColumnElement[bool] = a.c.id.in_(criterion.values)
    elif name in ("date", "_lastUpdated"):
        matched = or_(*(_date(value, name) for value in criterion.values))
    elif name in _TOKEN_COLUMNS:
        system_column, code_column = _TOKEN_COLUMNS[name]
        if modifier == "missing":
            return code_column.is_(None) if criterion.values[0] == "true" else code_column.is_not(None)
        matched = or_(*(_token(name, system_column, code_column, value) for value in criterion.values))
    elif name == "patient":
        if modifier == "missing":
            return a.c.patient.is_(None) if criterion.values[0] == "true" else a.c.patient.is_not(None)
        matched = a.c.patient.in_([_reference_id(criterion, value, "Patient") for value in criterion.values])
    elif name in ("entity", "agent", "agent-identifier"):
        owned = and_(idx.c.event_id == a.c.id, idx.c.param == name)
        if modifier == "missing":
            present = exists(select(idx.c.event_id).where(owned))
            return not_(present) if criterion.values[0] == "true" else present
        values = [_index_value(criterion, value) for value in criterion.values]
        # An uncorrelated IN, read once from `ix_audit_event_index_lookup`: a correlated EXISTS would be probed for
        # every event of the trail (SQLite scanned `audit_event` for it).
        matched = a.c.id.in_(select(idx.c.event_id).where(idx.c.param == name, or_(*values)))
    else:
        raise IssueError.single(
            "not-supported",
            f"AuditEvent search does not support {name!r}",
            expression=name,
            message_id="search.unknown-parameter",
            status=400,
        )
    return not_(matched) if modifier == "not" else matched


def _date(value: str, parameter: str) -> ColumnElement[bool]:
    """`recorded` is an instant (a point), so each prefix compares the point with the searched range."""
    prefix, low, high = parse_search_date(value, parameter=parameter)
    recorded = a.c.recorded
    return {
        "eq": and_(recorded >= low, recorded <= high),
        "ne": or_(recorded < low, recorded > high),
        "gt": recorded > high,
        "sa": recorded > high,
        "lt": recorded < low,
        "eb": recorded < low,
        "ge": recorded >= low,
        "le": recorded <= high,
        "ap": and_(recorded >= low, recorded <= high),
    }.get(prefix, and_(recorded >= low, recorded <= high))


def _token(name: str, system_column: Column[Any] | None, code_column: Column[Any], value: str) -> ColumnElement[bool]:
    system, bar, code = value.rpartition("|") if "|" in value else ("", "", value)
    if not bar:
        return code_column == code
    if system_column is None:
        known = _FIXED_SYSTEMS[name]
        if system not in ("", known):
            return false()
        return code_column == code if code else code_column.is_not(None)
    by_system = system_column.is_(None) if system == "" else system_column == system
    return and_(by_system, code_column == code) if code else by_system


def _reference_id(criterion: Criterion, value: str, expected_type: str) -> str:
    parsed = parse_reference(value)
    if parsed is None and "/" in value:
        raise IssueError.single(
            "invalid",
            f"Search parameter {criterion.name!r}: {value!r} is not a reference of the form [Type/]id",
            expression=criterion.name,
            message_id="search.invalid-reference",
            status=400,
        )
    if parsed is not None and parsed[0] != expected_type:
        return ""
    return parsed[1] if parsed else value


def _index_value(criterion: Criterion, value: str) -> ColumnElement[bool]:
    if criterion.name == "agent-identifier":
        return _token(criterion.name, idx.c.system, idx.c.value, value)
    parsed = parse_reference(value)
    if parsed is not None:
        if criterion.target_type and criterion.target_type != parsed[0]:
            return false()
        return idx.c.value == value
    _reference_id(criterion, value, "")  # refuses a malformed reference with 400
    if criterion.target_type:
        return idx.c.value == f"{criterion.target_type}/{value}"
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return idx.c.value.like(f"%/{escaped}", escape="\\")
