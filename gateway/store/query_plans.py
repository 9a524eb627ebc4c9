"""The database's plan for each advertised search parameter (`bench/query_plans.py` writes them to
`bench/QUERY_PLANS.md`; `tests/gateway/store/test_query_plans.py` checks that none reads `fhir_resource` in full).

A plan is asked for the statements the store runs (`search_plan.search_statements`), with a representative value
per parameter type, in both shapes (a driving id set, and the walk in sort order), with and without the access
rule. SQLite: `EXPLAIN QUERY PLAN`; PostgreSQL: `EXPLAIN (COSTS OFF)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, text

from gateway.store import audit_log
from gateway.store.ports import Viewer
from gateway.store.search_params import SEARCH_PARAMS
from gateway.store.search_plan import SearchStatements, search_statements
from gateway.store.search_query import Criterion, SearchQuery

#: A value of each parameter type the plan is asked for (what it matches does not change the plan's shape).
SAMPLE_VALUES = {"token": "active", "reference": "Patient/p1", "date": "ge2026-01-01", "string": "ann"}
#: AuditEvents live in their own table (`audit_log`): `audit_advertised` and `audit_statements` explain those.
EXPLAINED_TYPES = tuple(name for name in SEARCH_PARAMS if name != "AuditEvent")


@dataclass(frozen=True)
class Asked:
    resource_type: str
    parameter: str
    value: str

    @property
    def query(self) -> str:
        return f"{self.resource_type}?{self.parameter}={self.value}"


def advertised() -> Iterator[Asked]:
    """Every search parameter the REST API advertises on the resource tables, `_id` and `_lastUpdated` included."""
    for resource_type in EXPLAINED_TYPES:
        yield from _advertised_on(resource_type)


def audit_advertised() -> Iterator[Asked]:
    """Every search parameter the REST API advertises for AuditEvent (`_id` and `_lastUpdated` included)."""
    return _advertised_on("AuditEvent")


def _advertised_on(resource_type: str) -> Iterator[Asked]:
    yield Asked(resource_type, "_id", "x")
    yield Asked(resource_type, "_lastUpdated", "ge2026-01-01")
    for name, param in SEARCH_PARAMS[resource_type].items():
        yield Asked(resource_type, name, SAMPLE_VALUES[param.type])


def _search(asked: Asked) -> SearchQuery:
    """`asked` as the parsed search the store receives (one criterion)."""
    kind = {"_id": "token", "_lastUpdated": "date"}.get(asked.parameter)
    kind = kind or SEARCH_PARAMS[asked.resource_type][asked.parameter].type
    return SearchQuery(asked.resource_type, (Criterion(asked.parameter, kind, "", (asked.value,)),))


def statements(asked: Asked, viewer: Viewer | None, *, walked: bool) -> SearchStatements:
    """The statements of `asked` as the store would run them, the shape forced (driven by its set, or walked)."""
    # The sizer answers "small" to drive by the first set, "large" to walk.
    return search_statements(_search(asked), viewer, lambda _ids, _key: 2 if walked else 1, drive_limit=1)


def audit_statements(asked: Asked) -> tuple[Select[int], Select[Any]]:
    """The count and page statements of an AuditEvent search, as `audit_log.search` runs them."""
    return audit_log.search_statements(_search(asked))


def explain(connection: Connection, statement: Select[Any]) -> list[str]:
    """The database's plan of `statement`, one line per step (indented by depth)."""
    sql = str(statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    if connection.dialect.name == "postgresql":
        return [row[0] for row in connection.execute(text(f"EXPLAIN (COSTS OFF) {sql}"))]
    depth: dict[int, int] = {0: -1}
    lines = []
    for node, parent, _unused, detail in connection.execute(text(f"EXPLAIN QUERY PLAN {sql}")):
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + str(detail))
    return lines


def full_scans(lines: list[str], table: str = "fhir_resource") -> list[str]:
    """The steps of a plan that read `table` in full: SQLite's `SCAN table` (with or without an index: no
    constraint narrows it), PostgreSQL's `Seq Scan on table`."""
    found = []
    for line in lines:
        step = line.strip().removeprefix("->").strip()
        if step.startswith(f"SCAN {table}") and step[len(f"SCAN {table}") :][:1] in ("", " "):
            found.append(line)
        elif step.startswith(f"Seq Scan on {table}") and step[len(f"Seq Scan on {table}") :][:1] in ("", " "):
            found.append(line)
    return found
