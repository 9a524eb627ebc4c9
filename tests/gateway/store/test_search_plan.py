"""A search answers the same whichever set drives it, and no advertised parameter reads `fhir_resource` in full.

`gateway.store.search_plan` chooses between a driving id set and a walk in sort order by the sets' sizes; the
store's `drive_limit` forces either (0: every search walks; large: the smallest set drives). The same searches,
under the access rule for several callers, must give the same pages and totals both ways, on SQLite and PostgreSQL.

The query-plan checks ask the database for the plan of every advertised parameter's statements (both shapes, with
and without the access rule) and fail on a full read of the resource table: on SQLite a `SCAN fhir_resource`, or a
read of every row of the type (`SEARCH ... (resource_type=?)`) other than the walk in index order; on PostgreSQL a
`Seq Scan on fhir_resource` with sequential scans disabled (the question is whether an index plan exists: on a
table of a few rows the planner rightly prefers to read it all; `bench/QUERY_PLANS.md` shows the plans chosen on
10,000 plans).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from gateway.clock import FixedClock
from gateway.store import search_plan
from gateway.store import tables as t
from gateway.store.dates import format_instant
from gateway.store.ports import PlanRecord, Viewer
from gateway.store.query_plans import (
    advertised,
    audit_advertised,
    audit_statements,
    explain,
    full_scans,
    statements,
)
from gateway.store.search_plan import search_statements
from gateway.store.search_query import Criterion, SearchQuery
from gateway.store.sql import SqlResourceStore
from mappings.plan import Grant
from tests.support.engines import empty_engine

AUTHOR, GRANTEE, STRANGER = "11111111111", "22222222222", "33333333333"
AT = format_instant(datetime(2026, 6, 1, tzinfo=UTC))


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with empty_engine(request, tmp_path_factory.mktemp("search-plan")) as engine:
        clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
        _corpus(SqlResourceStore(engine, clock), clock)
        yield engine


def _corpus(store: SqlResourceStore, clock: FixedClock) -> None:
    """24 CarePlans of 6 patients, statuses and periods varied; the grantee may see the plans of even numbers,
    a stranger wrote two plans of its own."""
    with store.writing() as tx:
        for number in range(24):
            plan_id, patient_id = f"plan-{number:02d}", f"patient-{number % 6}"
            author = STRANGER if number in (5, 17) else AUTHOR
            resource = {
                "resourceType": "CarePlan",
                "status": "completed" if number % 4 == 3 else "active",
                "intent": "plan",
                "subject": {"reference": f"Patient/{patient_id}"},
                "period": {"start": f"{2024 + number % 4}-0{1 + number % 9}-01"},
            }
            clock.advance(timedelta(hours=number % 5))  # some plans share their instant: the tie-break orders them
            tx.create(resource, resource_id=plan_id, author=author)
            if number % 2 == 0:
                grants = [Grant("careplan", GRANTEE, None, None)]
                record = PlanRecord(plan_id, patient_id, AUTHOR, "urn:test", plan_id)
                tx.save_plan(record, [("CarePlan", plan_id, "careplan")], grants)


QUERIES = [
    (Criterion("status", "token", "", ("active",)),),
    (Criterion("status", "token", "not", ("active",)),),
    (Criterion("patient", "reference", "", ("Patient/patient-2",)),),
    (Criterion("date", "date", "", ("ge2026-01-01",)),),
    (Criterion("date", "date", "", ("lt2025-06-01",)), Criterion("status", "token", "", ("active",))),
    (Criterion("date", "date", "", ("eq2027",)),),
    (Criterion("_lastUpdated", "date", "", ("ge2026-01-01",)),),
    (Criterion("_id", "token", "", ("plan-02,plan-05,plan-07",)),),
    (),
]
VIEWERS = [None, Viewer(AUTHOR, AT), Viewer(GRANTEE, AT), Viewer(STRANGER, AT), Viewer(AUTHOR, AT, own_only=True)]


@pytest.mark.parametrize("criteria", QUERIES, ids=lambda criteria: "&".join(c.name for c in criteria) or "none")
def test_every_shape_answers_the_same(
    engine: Engine, criteria: tuple[Criterion, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Walked in sort order, driven by a set, mixed, and walked through `resource_access`, or not (the same stores
    with the access walk switched off): one answer."""
    clock = FixedClock(datetime(2026, 6, 1, tzinfo=UTC))
    stores = [SqlResourceStore(engine, clock, drive_limit=limit) for limit in (0, 1000, 4)]
    for viewer in VIEWERS:
        for sort in ("_lastUpdated", "-_lastUpdated", "_id", "-_id"):
            for count, offset in ((5, 0), (5, 5), (50, 0), (3, 20)):
                query = SearchQuery("CarePlan", criteria, count=count, offset=offset, sort=sort)
                answers = []
                for access_walk in (True, False):
                    monkeypatch.setattr(
                        search_plan, "_walks_access", search_plan._walks_access if access_walk else _never
                    )
                    for store in stores:
                        with store.reading() as tx:
                            page = tx.search(query, viewer)
                        answers.append(([m.id for m in page.matches], page.total))
                    monkeypatch.undo()
                assert all(answer == answers[0] for answer in answers), (viewer, sort, count, offset, answers)


def _never(query: SearchQuery, viewer: Viewer) -> bool:
    return False


def test_the_shapes_are_chosen_by_size(engine: Engine) -> None:
    clock = FixedClock(datetime(2026, 6, 1, tzinfo=UTC))
    query = SearchQuery("CarePlan", (Criterion("status", "token", "", ("active",)),))
    with SqlResourceStore(engine, clock, drive_limit=0).reading() as tx:
        assert tx.search(query).total == 18
    assert search_statements(query, None, lambda _ids, _key: 5, drive_limit=4).shape == "walked"
    assert search_statements(query, None, lambda _ids, _key: 4, drive_limit=4).shape == "driven"
    sizes = {"fhir_search_token": 9, "resource_access": 6}

    def sized(ids: Any, _key: object) -> int:
        return next((n for table, n in sizes.items() if table in str(ids)), 1)

    grantee = search_statements(query, Viewer(GRANTEE, AT), sized, 4)
    assert (grantee.shape, grantee.driver) == ("walked", "access order")  # status too large to drive
    sizes["fhir_search_token"] = 3
    grantee = search_statements(query, Viewer(GRANTEE, AT), sized, 4)
    assert (grantee.shape, grantee.driver) == ("driven", "status")  # a page's size drives
    # Over a page's size: driven where the walk would read more rows (about 21 * reached / matches) than the set.
    sizes["fhir_search_token"], sizes["resource_access"] = 300, 500
    grantee = search_statements(query, Viewer(GRANTEE, AT), sized, 1000)
    assert (grantee.shape, grantee.driver) == ("walked", "access order")  # 21 * 500 / 300: 35 rows, not 300
    sizes["resource_access"] = 1001  # more than the limit: it may be 50,000
    grantee = search_statements(query, Viewer(GRANTEE, AT), sized, 1000)
    assert (grantee.shape, grantee.driver) == ("driven", "status")
    sizes["fhir_search_token"] = 5000
    grantee = search_statements(query, Viewer(GRANTEE, AT), sized, 1000)
    assert (grantee.shape, grantee.driver) == ("walked", "access order")
    # A descending order is not in the table's indexes: the access rule's set drives, as before the table.
    descending = SearchQuery("CarePlan", query.criteria, sort="-_lastUpdated")
    grantee = search_statements(descending, Viewer(GRANTEE, AT), sized, 1000)
    assert (grantee.shape, grantee.driver) == ("driven", "access rule")


def _type_reads(lines: list[str]) -> list[str]:
    """SQLite steps reading every row of the type (only `resource_type` constrains them)."""
    return [line for line in lines if "fhir_resource USING" in line and line.rstrip().endswith("(resource_type=?)")]


@pytest.mark.parametrize("walked", [False, True], ids=["driven", "walked"])
def test_no_advertised_parameter_reads_the_resource_table_in_full(engine: Engine, walked: bool) -> None:
    checked = 0
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET enable_seqscan = off"))
        for asked in advertised():
            for viewer in (None, Viewer(GRANTEE, AT)):
                shown = statements(asked, viewer, walked=walked)
                for name, statement in (("count", shown.count), ("page", shown.page), ("pass", shown.later_pass)):
                    lines = explain(connection, statement)
                    assert full_scans(lines) == [], (asked.query, viewer, name, lines)
                    reads = _type_reads(lines)
                    if shown.shape == "walked" and name in ("page", "pass"):
                        # the walk in sort order, stopped by the page's LIMIT
                        reads = [line for line in reads if "ix_fhir_resource_type_updated" not in line]
                    assert reads == [], (asked.query, viewer, name, lines)
                    checked += 1
    assert checked == 2 * 3 * len(list(advertised()))  # two callers, three statements


def test_no_advertised_audit_parameter_reads_the_audit_trail_in_full(engine: Engine) -> None:
    """The audit trail grows with every audited request: each AuditEvent search reads an index, count and page."""
    checked = 0
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET enable_seqscan = off"))
        for asked in audit_advertised():
            for name, statement in zip(("count", "page"), audit_statements(asked), strict=True):
                lines = explain(connection, statement)
                assert full_scans(lines, "audit_event") == [], (asked.query, name, lines)
                checked += 1
    assert checked == 2 * len(list(audit_advertised())) > 20


def test_the_plan_checks_see_a_full_scan(engine: Engine) -> None:
    """The checks above can fail: a query on an unindexed column is caught."""
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET enable_seqscan = off"))
        lines = explain(connection, select(t.resource.c.id).where(t.resource.c.version_id == 3))
    assert full_scans(lines) != []
