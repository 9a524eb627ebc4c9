"""Writes `bench/QUERY_PLANS.md`: the database's plan for every advertised search parameter, SQLite and PostgreSQL.

Builds the `bench.plan_corpus` corpus (10,000 plans by default) in a SQLite file and a throwaway PostgreSQL
database, then asks each for the plans of the statements the store runs (`gateway.store.query_plans`): per
parameter the page of a search as an organisation the consent grants one plan in a hundred (the access rule
probed per row), in both shapes (`gateway.store.search_plan`), with the indexes each plan reads; then the whole
plans of the searches `bench.http_load` times. PostgreSQL plans are taken after ANALYZE with the planner's own
choices (no settings changed); SQLite's without statistics, as the gateway runs it.

Run: .venv/bin/python -m bench.query_plans [--plans 10000] [--out bench/QUERY_PLANS.md]
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from bench import plan_corpus
from bench.http_load import _database
from gateway.store import audit_log
from gateway.store.dates import format_instant
from gateway.store.ports import Viewer
from gateway.store.query_plans import (
    Asked,
    advertised,
    audit_advertised,
    audit_statements,
    explain,
    full_scans,
    statements,
)
from mappings.audit import Action, AuditAgent, Outcome, Subtype, audit_event

HERE = Path(__file__).resolve().parent
_INDEX = re.compile(
    r"(?:USING (?:COVERING )?INDEX|Index(?: Only)? Scan(?: Backward)? using|Bitmap Index Scan on) (\w+)"
)
#: The searches `bench.http_load` times, with values that match in the corpus.
TIMED = ("patient", "status", "date")


def indexes(lines: list[str]) -> str:
    found = dict.fromkeys(match.group(1) for line in lines for match in _INDEX.finditer(line))
    return ", ".join(f"`{name}`" for name in found) or "—"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plans", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=20_000, help="AuditEvents in the trail")
    parser.add_argument("--out", type=Path, default=HERE / "QUERY_PLANS.md")
    arguments = parser.parse_args()
    at = format_instant(datetime.now(UTC))
    grantee = Viewer(plan_corpus.CLIENTS["slagelse"], at)
    per_database: dict[str, dict[str, list[str]]] = {}
    whole: dict[str, list[str]] = {}
    audits: dict[str, dict[str, list[str]]] = {}
    for database in ("sqlite", "postgresql"):
        with _database(database) as (url, folder):
            engine = plan_corpus.build(plan_corpus.settings_for(folder, url), arguments.plans)
            _audit_trail(engine, arguments.events)
            plan_corpus.analyse(engine)
            per_database[database], whole[database] = _plans(engine, grantee)
            audits[database] = _audit_plans(engine)
            engine.dispose()
    arguments.out.write_text(_document(arguments.plans, arguments.events, per_database, whole, audits), "utf-8")
    print(f"wrote {arguments.out}")


def _plans(engine: Engine, grantee: Viewer) -> tuple[dict[str, list[str]], list[str]]:
    rows: dict[str, list[str]] = {}
    details: list[str] = []
    with engine.connect() as connection:
        for asked in advertised():
            cells = []
            for walked in (False, True):
                lines = explain(connection, statements(asked, grantee, walked=walked).page)
                scan = " **full scan**" if full_scans(lines) else ""
                cells.append(indexes(lines) + scan)
            rows[asked.query] = cells
        ids = plan_corpus.one_of_each(engine)
        values = {"patient": f"Patient/{ids['patient']}", "status": "active", "date": "ge2026-01-01"}
        for name in TIMED:
            asked = Asked("CarePlan", name, values[name])
            for walked in (False, True):
                shown = statements(asked, grantee, walked=walked)
                for part in ("count", "page", "later_pass"):
                    lines = explain(connection, getattr(shown, part))
                    shown_part = part.replace("_", " ")
                    details.append(f"`{asked.query}` as the grantee, {shown.shape} ({shown.driver}), {shown_part}:")
                    details.append("```")
                    details.extend(lines)
                    details.append("```")
    return rows, details


def _audit_trail(engine: Engine, events: int) -> None:
    """`events` AuditEvents: reads, searches and writes of the corpus's patients by two organisations over a year,
    so that the planner sees a trail of some size (the corpus itself writes few)."""
    agents = [
        AuditAgent(client, (("urn:oid:1.2.208.176.1.1", sor),), client.title())
        for client, sor in plan_corpus.CLIENTS.items()
    ]
    kinds: list[tuple[Action, Subtype, Outcome]] = [
        ("R", "read", "0"),
        ("E", "search-type", "0"),
        ("U", "update", "0"),
        ("R", "read", "4"),
    ]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as connection:
        for n in range(events):
            action, subtype, outcome = kinds[n % len(kinds)]
            patient = f"Patient/bench-{n % 500}"
            audit_log.append(
                connection,
                audit_event(
                    action=action,
                    subtype=subtype,
                    outcome=outcome,
                    recorded=start + timedelta(minutes=26 * n),
                    agent=agents[n % len(agents)],
                    observer="http://gateway.bench/",
                    what=[f"CarePlan/bench-{n % 500}"],
                    patient=patient,
                    event_id=f"bench-audit-{n}",
                ),
            )


def _audit_plans(engine: Engine) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    with engine.connect() as connection:
        for asked in audit_advertised():
            cells = []
            for statement in audit_statements(asked):
                lines = explain(connection, statement)
                scan = " **full scan**" if full_scans(lines, "audit_event") else ""
                cells.append(indexes(lines) + scan)
            rows[asked.query] = cells
    return rows


def _document(
    plans: int,
    events: int,
    per_database: dict[str, dict[str, list[str]]],
    whole: dict[str, list[str]],
    audits: dict[str, dict[str, list[str]]],
) -> str:
    out = [
        "# Query plans of the advertised search parameters",
        "",
        f"Generated by `python -m bench.query_plans` on {plans:,} plans (`bench/plan_corpus.py`); do not edit.",
        "`tests/gateway/store/test_search_plan.py` checks on every run that no advertised parameter's plan reads",
        "`fhir_resource` in full (SQLite and PostgreSQL): its count, its page and a later pass of its stored result",
        "(the next matches not stored yet, `NOT EXISTS` over `ix_fhir_search_result_entry_resource`).",
        "",
        "A search is shaped by `gateway/store/search_plan.py`: **driven** when its smallest id set (a criterion's",
        "index rows, or what the access rule lets the caller see) holds at most 1,000 ids: that set is read once and",
        "every other condition probed per candidate; **walked** when every set is larger: the page walks",
        "`ix_fhir_resource_type_updated` in sort order, probing each row, and stops at the page's end. A search",
        "by an organisation walks its own rows of `resource_access` instead (`ix_resource_access_updated`, or its",
        "primary key for `_id`; the access rule still decides each row), so what it walks does not grow with the",
        "number of plans. Each cell",
        "lists the indexes the page's plan reads, for a search by an organisation the consent grants one plan in a",
        "hundred (the access rule is part of every plan). AuditEvents have their own table",
        "(`gateway/store/audit_log.py`): their plans follow the resources' table.",
        "",
        "| search | SQLite driven | SQLite walked | PostgreSQL driven | PostgreSQL walked |",
        "|---|---|---|---|---|",
    ]
    for query, sqlite_cells in per_database["sqlite"].items():
        postgres_cells = per_database["postgresql"][query]
        out.append(f"| `{query}` | " + " | ".join([*sqlite_cells, *postgres_cells]) + " |")
    out += [
        "",
        "## The audit trail",
        "",
        f"AuditEvent searches (`gateway/store/audit_log.py`, its own append-only table) over {events:,} events,",
        "count and page; the scope, not the consent, decides who may search them (auditors). Every event of the",
        "trail is recorded after 2026-01-01, so PostgreSQL rightly counts `date=ge2026-01-01` by reading the table;",
        "`tests/gateway/store/test_search_plan.py` checks that none reads `audit_event` in full.",
        "",
        "| search | SQLite count | SQLite page | PostgreSQL count | PostgreSQL page |",
        "|---|---|---|---|---|",
    ]
    for query, sqlite_cells in audits["sqlite"].items():
        out.append(f"| `{query}` | " + " | ".join([*sqlite_cells, *audits["postgresql"][query]]) + " |")
    for database, title in (("sqlite", "SQLite (EXPLAIN QUERY PLAN)"), ("postgresql", "PostgreSQL (EXPLAIN)")):
        out += ["", f"## The timed searches on {title}", ""]
        out += whole[database]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
