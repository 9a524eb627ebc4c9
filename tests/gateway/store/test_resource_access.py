"""`resource_access` stays what its sources say, on SQLite and PostgreSQL, and never shows anything by itself.

The oracle is migration 0013's backfill, which derives the table from `fhir_resource.author`, `plan_member` and
`plan_grant` alone: after each kind of write (resources, a plan's members, its grants, a delete) the rows kept by the
store must be the rows the backfill computes from scratch. A row names an organisation that may reach a resource at
*some* time; whether it sees the resource now is still the access rule's: an organisation whose grant has ended, or
not begun, keeps its rows and sees nothing through them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, select

from gateway.clock import FixedClock
from gateway.store import tables as t
from gateway.store.database import alembic_config
from gateway.store.dates import format_instant
from gateway.store.ports import PlanRecord, Viewer
from gateway.store.search_query import Criterion, SearchQuery
from gateway.store.sql import SqlResourceStore
from mappings.plan import Grant
from tests.support.engines import empty_engine

AUTHOR, TEAM, LATER, ENDED, OTHER = "11111111111", "22222222222", "33333333333", "44444444444", "55555555555"
START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with empty_engine(request, tmp_path) as engine:
        yield engine


def _kept(engine: Engine) -> set[tuple[str, str, str, str]]:
    a = t.resource_access
    with engine.connect() as connection:
        rows = connection.execute(select(a.c.sor, a.c.resource_type, a.c.id, a.c.last_updated))
        return {tuple(row) for row in rows}  # type: ignore[misc]


def _derived(engine: Engine) -> set[tuple[str, str, str, str]]:
    """The rows migration 0013 derives from the sources (the table dropped and backfilled anew)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0012")
        command.upgrade(config, "head")
    return _kept(engine)


def _agree(engine: Engine) -> set[tuple[str, str, str, str]]:
    kept = _kept(engine)
    assert kept == _derived(engine)
    with engine.connect() as connection:  # each row carries its resource's instant: the walk's order is the search's
        instants = dict(
            ((row.resource_type, row.id), row.last_updated)
            for row in connection.execute(
                select(t.resource.c.resource_type, t.resource.c.id, t.resource.c.last_updated)
            )
        )
    assert all(instants[(kind, rid)] == updated for _sor, kind, rid, updated in kept)
    return kept


def _reach(kept: set[tuple[str, str, str, str]]) -> set[tuple[str, str, str]]:
    return {(sor, kind, rid) for sor, kind, rid, _updated in kept}


def _save(store: SqlResourceStore, members: list[tuple[str, str, str]], grants: list[Grant]) -> None:
    with store.writing() as tx:
        tx.save_plan(PlanRecord("plan", "patient", AUTHOR, "urn:test", "plan"), members, grants)


def test_the_kept_rows_are_the_derived_rows_after_every_kind_of_write(engine: Engine) -> None:
    clock = FixedClock(START)
    store = SqlResourceStore(engine, clock)
    with store.writing() as tx:
        tx.create({"resourceType": "Patient"}, resource_id="patient", author=AUTHOR)
        tx.create({"resourceType": "CarePlan", "status": "active", "intent": "plan"}, resource_id="plan", author=AUTHOR)
        tx.create({"resourceType": "Goal", "lifecycleStatus": "active"}, resource_id="goal", author=AUTHOR)
        tx.create({"resourceType": "Patient"}, resource_id="elsewhere", author=OTHER)
    members = [("CarePlan", "plan", "careplan"), ("Goal", "goal", "careplan"), ("Patient", "patient", "contact")]
    grants = [
        Grant("careplan", TEAM, None, None),
        Grant("contact", TEAM, None, None),
        Grant("careplan", ENDED, None, START + timedelta(days=30)),
    ]
    _save(store, members, grants)
    reach = _reach(_agree(engine))
    assert ("22222222222", "Goal", "goal") in reach and ("44444444444", "CarePlan", "plan") in reach
    assert ("55555555555", "Patient", "elsewhere") in reach and ("22222222222", "Patient", "elsewhere") not in reach

    clock.advance(timedelta(hours=1))  # a member's update moves its instant in every organisation's row
    with store.writing() as tx:
        tx.update({"resourceType": "Goal", "lifecycleStatus": "completed"}, resource_id="goal")
    _agree(engine)

    # The plan rewritten: the goal leaves it, a grant starts later, the ended grant is gone, a member not written yet.
    members = [("CarePlan", "plan", "careplan"), ("Patient", "patient", "contact"), ("Goal", "new-goal", "careplan")]
    _save(
        store,
        members,
        [Grant("careplan", TEAM, None, None), Grant("careplan", LATER, START + timedelta(days=400), None)],
    )
    reach = _reach(_agree(engine))
    assert ("22222222222", "Goal", "goal") not in reach and ("11111111111", "Goal", "goal") in reach
    assert not any(sor == ENDED for sor, _kind, _rid in reach)
    assert ("22222222222", "Patient", "patient") not in reach  # its category is no longer granted

    with store.writing() as tx:  # the member written after the plan named it
        tx.create({"resourceType": "Goal", "lifecycleStatus": "active"}, resource_id="new-goal", author=AUTHOR)
    assert ("33333333333", "Goal", "new-goal") in _reach(_agree(engine))

    with store.writing() as tx:
        tx.delete("Goal", "new-goal")
    _agree(engine)


def test_rows_show_nothing_outside_the_grants_period(engine: Engine) -> None:
    """An organisation with rows here whose grant has ended, or not begun, finds nothing by any search shape."""
    clock = FixedClock(START)
    store = SqlResourceStore(engine, clock)
    with store.writing() as tx:
        for number in range(30):
            plan_id = f"plan-{number:02d}"
            tx.create(
                {"resourceType": "CarePlan", "status": "active", "intent": "plan"}, resource_id=plan_id, author=AUTHOR
            )
            grants = [
                Grant("careplan", ENDED, None, START + timedelta(days=10)),
                Grant("careplan", LATER, START + timedelta(days=400), None),
            ]
            tx.save_plan(
                PlanRecord(plan_id, "patient", AUTHOR, "urn:test", plan_id), [("CarePlan", plan_id, "careplan")], grants
            )
    reach = _reach(_kept(engine))
    assert {(sor, "CarePlan", f"plan-{n:02d}") for sor in (ENDED, LATER) for n in range(30)} <= reach
    at = format_instant(START + timedelta(days=100))
    status = (Criterion("status", "token", "", ("active",)),)
    for drive_limit in (0, 4, 1000):  # walked through the rows, mixed, driven
        shaped = SqlResourceStore(engine, clock, drive_limit=drive_limit)
        with shaped.reading() as tx:
            for sor in (ENDED, LATER):
                for criteria in ((), status):
                    for sort in ("_lastUpdated", "_id"):
                        query = SearchQuery("CarePlan", criteria, count=10, sort=sort, total_mode="accurate")
                        page = tx.search(query, Viewer(sor, at))
                        assert (page.matches, page.total) == ([], 0), (sor, criteria, sort, drive_limit)
                assert tx.read_current("CarePlan", "plan-00", Viewer(sor, at)) is None
            page = tx.search(SearchQuery("CarePlan", status, count=10), Viewer(ENDED, format_instant(START)))
            assert len(page.matches) == 10  # within its period it does see them: the check above can fail
