"""The audit trail's own append-only table: written in the caller's transaction, searched by its parameters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy import event as sa_event

from gateway.fhir.interactions import PARAM_TYPES
from gateway.store import audit_log
from gateway.store import tables as t
from gateway.store.database import make_engine, upgrade
from gateway.store.search_params import SEARCH_PARAMS
from gateway.store.search_query import parse_search
from mappings.audit import AuditAgent, audit_event
from mappings.issues import IssueError

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
REGION = AuditAgent("region", (("urn:oid:1.2.208.176.1.1", "265161000016000"),), "Psykiatrisk Center Øst")
SLAGELSE = AuditAgent("slagelse", (("urn:oid:1.2.208.176.1.1", "375431000016008"),), "Slagelse Kommune")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def event(n: int, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "action": "R",
        "subtype": "read",
        "outcome": "0",
        "recorded": T0 + timedelta(minutes=n),
        "agent": REGION,
        "observer": "http://gateway.test/",
        "what": [f"CarePlan/plan-{n}"],
        "patient": "Patient/p-1",
        "event_id": f"event-{n}",
    } | overrides
    return audit_event(**arguments)


def ids(engine: Engine, query: str) -> list[str]:
    pairs = [tuple(part.split("=", 1)) for part in query.split("&")] if query else []
    parsed = parse_search("AuditEvent", pairs, param_types=PARAM_TYPES)
    with engine.connect() as connection:
        return [m.id for m in audit_log.search(connection, parsed).matches]


@pytest.fixture
def trail(engine: Engine) -> Engine:
    with engine.begin() as connection:
        audit_log.append(connection, event(1))
        audit_log.append(connection, event(2, agent=SLAGELSE, outcome="4", patient="Patient/p-2"))
        audit_log.append(connection, event(3, action="C", subtype="create", what=["Consent/c-1"]))
        audit_log.append(connection, event(4, action="E", subtype="deliver", patient=None, what=[]))
    return engine


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["event-1", "event-2", "event-3", "event-4"]),
        ("_sort=-_lastUpdated&_count=2", ["event-4", "event-3"]),
        ("date=ge2026-03-01T09:02:00Z", ["event-2", "event-3", "event-4"]),
        ("date=lt2026-03-01T09:02:00Z", ["event-1"]),
        ("date=2026-03-01T09:03:00Z", ["event-3"]),
        ("action=C", ["event-3"]),
        ("action=http://hl7.org/fhir/audit-event-action|E", ["event-4"]),
        ("action=http://other|E", []),
        ("outcome=4", ["event-2"]),
        ("subtype=create", ["event-3"]),
        ("subtype=http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle|transmit", ["event-4"]),
        ("subtype:not=read", ["event-3", "event-4"]),
        ("patient=Patient/p-2", ["event-2"]),
        ("patient=p-1&action=R", ["event-1"]),
        ("patient:missing=true", ["event-4"]),
        ("entity=CarePlan/plan-1", ["event-1"]),
        ("entity=plan-2", ["event-2"]),
        ("entity:Consent=c-1", ["event-3"]),
        ("entity=Patient/p-2,Consent/c-1", ["event-2", "event-3"]),
        ("agent-identifier=slagelse", ["event-2"]),
        ("agent-identifier=urn:oid:1.2.208.176.1.1|265161000016000", ["event-1", "event-3", "event-4"]),
        ("agent-identifier=urn:careplan-gateway:client-id|slagelse", ["event-2"]),
        ("_id=event-3,event-1", ["event-1", "event-3"]),
    ],
)
def test_each_search_parameter_finds_its_events(trail: Engine, query: str, expected: list[str]) -> None:
    assert ids(trail, query) == expected


def test_events_live_in_their_own_table_not_as_fhir_resources(trail: Engine) -> None:
    with trail.connect() as connection:
        assert connection.execute(select(func.count()).select_from(t.resource)).scalar_one() == 0
        assert connection.execute(select(func.count()).select_from(t.resource_version)).scalar_one() == 0
        stored = audit_log.read(connection, "event-2")
        page = audit_log.history(connection, None, since=None, count=2, offset=0)
    assert stored is not None and stored.resource is not None
    assert stored.resource["outcome"] == "4" and stored.resource["meta"]["versionId"] == "1"
    assert [v.id for v in page.versions] == ["event-4", "event-3"] and page.total == 4


def test_an_event_written_once_by_id_is_not_written_twice(engine: Engine) -> None:
    with engine.begin() as connection:
        assert audit_log.append(connection, event(1), once=True)
        assert not audit_log.append(connection, event(1, outcome="4"), once=True)
        assert audit_log.search(connection, parse_search("AuditEvent", [], param_types=PARAM_TYPES)).total == 1


def test_a_rolled_back_transaction_takes_its_audit_with_it(engine: Engine) -> None:
    with pytest.raises(RuntimeError), engine.begin() as connection:
        audit_log.append(connection, event(1))
        raise RuntimeError("the operation failed")
    assert ids(engine, "") == []


def test_agent_searches_agent_references_and_the_gateways_own_events_name_none(engine: Engine) -> None:
    """`agent` is advertised (AuditEvent.agent.who as a reference): it matches an agent's `who.reference`, and
    the gateway's own events, whose agents carry identifiers only, match no reference (not a 400)."""
    referenced = event(1)
    referenced["agent"][1]["who"]["reference"] = "Organization/slagelse"
    with engine.begin() as connection:
        audit_log.append(connection, referenced)
        audit_log.append(connection, event(2))
    assert ids(engine, "agent=Organization/slagelse") == ["event-1"]
    assert ids(engine, "agent=slagelse") == ["event-1"]
    assert ids(engine, "agent:Practitioner=slagelse") == []
    assert ids(engine, "agent=Organization/region") == []


def test_a_malformed_reference_is_refused(trail: Engine) -> None:
    with pytest.raises(IssueError) as refused:
        ids(trail, "entity=a/b/c")
    assert refused.value.issues[0].message_id == "search.invalid-reference"


@pytest.mark.parametrize(
    "query",
    [
        "action=R",
        "outcome=0",
        "type=http://terminology.hl7.org/CodeSystem/audit-event-type|rest",
        "subtype=read",
        "subtype=http://hl7.org/fhir/restful-interaction|read",
        "patient=Patient/p-1",
        "date=ge2026-03-01",
        "entity=CarePlan/plan-1",
        "agent=Organization/slagelse",
        "agent-identifier=urn:oid:1.2.208.176.1.1|265161000016000",
    ],
)
def test_every_token_search_reads_an_index_not_the_table(engine: Engine, query: str) -> None:
    """The count and the page of each search are index-backed (SQLite's plan has no `SCAN audit_event`)."""
    with engine.begin() as connection:
        for n in range(30):
            audit_log.append(connection, event(n))
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    sa_event.listen(engine, "before_cursor_execute", seen)
    try:
        ids(engine, query)
    finally:
        sa_event.remove(engine, "before_cursor_execute", seen)
    assert len(statements) == 2  # the count and the page
    with engine.connect() as connection:
        for statement, parameters in statements:
            plan = [row[3] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
            assert not [step for step in plan if step.startswith("SCAN audit_event")], (query, plan)


@pytest.mark.parametrize("name", sorted(SEARCH_PARAMS["AuditEvent"]))
def test_every_advertised_parameter_is_answered(trail: Engine, name: str) -> None:
    """What the CapabilityStatement advertises for AuditEvent is searched, not refused as unknown."""
    kind = SEARCH_PARAMS["AuditEvent"][name].type
    value = {"token": "x", "reference": "Patient/p-1", "date": "ge2026-01-01", "string": "x"}[kind]
    ids(trail, f"{name}={value}")
