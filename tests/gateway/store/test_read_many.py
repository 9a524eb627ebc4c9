"""`read_current_many`: several current rows in one statement per type, on SQLite and PostgreSQL, and the plan's
reference closure built from it (`gateway.services.plans.reference_closure`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from gateway.clock import FixedClock
from gateway.services.plans import reference_closure
from gateway.store.ports import StoredResource
from gateway.store.sql import SqlResourceStore
from tests.support.engines import empty_engine

CLOCK = FixedClock(datetime(2026, 6, 1, tzinfo=UTC))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlResourceStore]:
    with empty_engine(request, tmp_path) as engine:
        yield SqlResourceStore(engine, CLOCK)


def _patient(number: int) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": f"Testesen {number}"}]}


def _statements(engine: Engine) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: seen.append(str(args[2])))
    return seen


def test_reads_what_exists_tombstones_included_in_one_statement_per_type(store: SqlResourceStore) -> None:
    with store.writing() as tx:
        for number in range(3):
            tx.create(_patient(number), resource_id=f"p{number}")
        tx.create({"resourceType": "Organization", "name": "Botilbuddet"}, resource_id="o1")
        tx.delete("Patient", "p2")
    keys = [("Patient", "p0"), ("Organization", "o1"), ("Patient", "p2"), ("Patient", "never"), ("Patient", "p1")]
    seen = _statements(store.engine)
    with store.reading() as tx:
        found = tx.read_current_many(keys)
    reads = [sql for sql in seen if "fhir_resource" in sql]
    assert len(reads) == 2  # Patient, Organization
    assert set(found) == {("Patient", "p0"), ("Patient", "p1"), ("Patient", "p2"), ("Organization", "o1")}
    assert found[("Patient", "p2")].deleted
    assert (found[("Patient", "p1")].resource or {}).get("name") == _patient(1)["name"]
    with store.reading() as tx:
        one_by_one = {key: tx.read_current(*key) for key in keys}
    assert {key: _same(value) for key, value in found.items()} == {
        key: _same(value) for key, value in one_by_one.items() if value is not None
    }


def test_more_ids_than_one_statement_binds(store: SqlResourceStore) -> None:
    with store.writing() as tx:
        for number in range(1_203):
            tx.create(_patient(number), resource_id=f"p{number}")
    with store.reading() as tx:
        found = tx.read_current_many([("Patient", f"p{number}") for number in range(1_203)])
    assert len(found) == 1_203


def test_the_closure_reads_a_level_at_a_time_in_reference_order(store: SqlResourceStore) -> None:
    with store.writing() as tx:
        tx.create({"resourceType": "Organization", "name": "Kommunen"}, resource_id="org")
        tx.create({**_patient(1), "managingOrganization": {"reference": "Organization/org"}}, resource_id="p1")
        for goal in ("g2", "g1", "g3"):
            tx.create(
                {
                    "resourceType": "Goal",
                    "lifecycleStatus": "active",
                    "description": {"text": goal},
                    "subject": {"reference": "Patient/p1"},
                },
                resource_id=goal,
            )
    plan = {
        "resourceType": "CarePlan",
        "id": "plan",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/p1"},
        "goal": [{"reference": f"Goal/{goal}"} for goal in ("g2", "g1", "missing", "g3", "g1")],
    }
    seen = _statements(store.engine)
    with store.reading() as tx:
        closure = reference_closure(tx, plan)
    assert [goal["id"] for goal in closure["Goal"]] == ["g2", "g1", "g3"]
    assert [patient["id"] for patient in closure["Patient"]] == ["p1"]
    assert [organization["id"] for organization in closure["Organization"]] == ["org"]
    # level 1: Patient and Goal; level 2: Organization (each Goal's subject is already read)
    assert len([sql for sql in seen if "fhir_resource" in sql]) == 3


def _same(stored: StoredResource | None) -> tuple[Any, ...]:
    assert stored is not None
    return stored.resource_type, stored.id, stored.version_id, stored.last_updated, stored.resource, stored.author
