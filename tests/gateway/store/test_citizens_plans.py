"""Which of a citizen's plans counts (`plans.citizens_plan`), and what the store says of them (`plans_of_citizen`,
`plan.first_active`) on SQLite and PostgreSQL: every plan whoever keeps it, never a page of them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, select

from gateway.clock import FixedClock, SequenceIds
from gateway.fhir.interactions import FhirService
from gateway.services.plans import PlanService, citizens_plan
from gateway.store import tables as t
from gateway.store.database import alembic_config
from gateway.store.dates import format_instant
from gateway.store.ports import CitizenPlan, PlanRecord
from gateway.store.sql import SqlResourceStore, SqlResourceTransaction
from mappings.plan import PlanContext
from mappings.plan.codes import CPR_SYSTEM
from tests.support import scenario
from tests.support.engines import empty_engine

CPR, OTHER_CPR = "2509479989", "0101709998"
KEEPER, X, GP = "329631000016003", "111111111111", "481561000016002"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 6, 1, tzinfo=UTC))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock) -> Iterator[SqlResourceStore]:
    with empty_engine(request, tmp_path) as engine:
        yield SqlResourceStore(engine, clock)


def _patient(tx: SqlResourceTransaction, patient_id: str, cpr: str, author: str) -> None:
    patient = {"resourceType": "Patient", "identifier": [{"system": CPR_SYSTEM, "value": cpr}]}
    tx.create(patient, resource_id=patient_id, author=author)


def _plan(tx: SqlResourceTransaction, plan_id: str, patient_id: str, author: str, status: str = "active") -> None:
    care_plan = {"resourceType": "CarePlan", "status": status, "intent": "plan",
                 "subject": {"reference": f"Patient/{patient_id}"}}  # fmt: skip
    tx.create(care_plan, resource_id=plan_id, author=author)
    tx.save_plan(PlanRecord(plan_id, patient_id, author, f"https://sor2.sum.dsdn.dk/#id={author}", plan_id), [], [])


def _status(tx: SqlResourceTransaction, plan_id: str, status: str) -> None:
    current = tx.read("CarePlan", plan_id).resource
    assert current is not None
    tx.update(current | {"status": status}, resource_id=plan_id)


def test_lists_every_plan_of_the_citizen_whoever_keeps_it(store: SqlResourceStore, clock: FixedClock) -> None:
    with store.writing() as tx:
        assert isinstance(tx, SqlResourceTransaction)
        _patient(tx, "keepers-record", CPR, KEEPER)
        _patient(tx, "xs-record", CPR, X)
        _patient(tx, "someone-else", OTHER_CPR, KEEPER)
        _plan(tx, "kip", "keepers-record", KEEPER)
        _plan(tx, "ended", "keepers-record", KEEPER, status="completed")
        _plan(tx, "gone", "keepers-record", KEEPER)
        _plan(tx, "theirs", "someone-else", KEEPER)
        tx.delete("CarePlan", "gone")
        for number in range(30):  # more than any page: the keeper's plan must not drop out of the list
            _plan(tx, f"x{number:02}", "xs-record", X)
    with store.reading() as tx:
        plans = {plan.record.plan_id: plan for plan in tx.plans_of_citizen(CPR)}
    assert set(plans) == {"kip", "ended", *(f"x{number:02}" for number in range(30))}
    assert (plans["kip"].status, plans["ended"].status) == ("active", "completed")
    assert plans["kip"].record.author == KEEPER


def _first_actives(engine: Engine) -> dict[str, str | None]:
    with engine.connect() as connection:
        return {
            plan_id: first for plan_id, first in connection.execute(select(t.plan.c.plan_id, t.plan.c.first_active))
        }


def test_first_active_is_kept_by_every_plan_write_as_the_migration_derives_it(
    store: SqlResourceStore, clock: FixedClock
) -> None:
    plans = PlanService(FhirService(store, clock, SequenceIds()), PlanContext())
    drafted, at_once, never = (scenario.plan_document() for _ in range(3))
    for document, value, status in ((drafted, "drafted", "draft"), (at_once, "at-once", "active"),
                                    (never, "never", "draft")):  # fmt: skip
        document["source"]["value"], document["status"] = value, status
        plans.accept("http://gateway.test/fhir", document)
    start = clock.now()
    clock.advance(timedelta(minutes=1))
    drafted["status"], at_once["status"] = "active", "on-hold"
    for document in (drafted, at_once):
        plans.accept("http://gateway.test/fhir", document)
    clock.advance(timedelta(minutes=1))
    at_once["status"] = "active"
    plans.accept("http://gateway.test/fhir", at_once)
    kept = _first_actives(store.engine)
    assert sorted(kept.values(), key=str) == sorted(
        [format_instant(start + timedelta(minutes=1)), format_instant(start), None], key=str
    ), "the draft when it was made active; the other since its first version, pause or not; one never"
    config = alembic_config(store.engine.url.render_as_string(hide_password=False))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0014")
        command.upgrade(config, "head")
    assert _first_actives(store.engine) == kept, "migration 0015 derives from the history what the writes kept"


def _plan_of(
    plan_id: str, author: str | None, updated: str, *, status: str = "active", since: str | None = None
) -> CitizenPlan:
    return CitizenPlan(PlanRecord(plan_id, "p", author, "urn:example", plan_id, since), status, updated)


#: The keeper's old plan is ended now, its new one active since after X's.
KIP_OLD = _plan_of("kip-old", KEEPER, "2026-03-02T00:00:00.000Z", status="completed", since="2026-01-01T00:00:00.000Z")
KIP_NEW = _plan_of("kip-new", KEEPER, "2026-03-01T00:00:00.000Z", since="2026-03-01T00:00:00.000Z")
FORGED = _plan_of("forged", X, "2026-04-01T00:00:00.000Z", since="2026-02-15T00:00:00.000Z")


def test_the_keeper_is_who_had_an_active_plan_first_and_its_newest_active_plan_counts() -> None:
    everything = [FORGED, KIP_NEW, KIP_OLD]
    assert citizens_plan(everything, None) == KIP_NEW, "an ended plan keeps its keeper's place"
    assert citizens_plan(everything, GP) == KIP_NEW, "an organisation with no plan of its own"
    assert citizens_plan([FORGED, KIP_NEW], None) == FORGED, "without its old plan: X was first"


def test_an_organisations_own_active_plan_counts_for_it_alone() -> None:
    assert citizens_plan([FORGED, KIP_NEW, KIP_OLD], X) == FORGED
    assert citizens_plan([FORGED, KIP_NEW, KIP_OLD], KEEPER) == KIP_NEW
    assert citizens_plan([KIP_OLD], KEEPER) is None, "ended plans count for no one"


def test_a_tie_of_first_activations_goes_to_the_lower_plan_id() -> None:
    twin = _plan_of("another", X, "2026-05-01T00:00:00.000Z", since=KIP_OLD.record.first_active)
    assert citizens_plan([twin, KIP_NEW, KIP_OLD], None) == twin


def test_without_authentication_every_plan_is_the_same_keepers_and_the_newest_active_counts() -> None:
    unauthored = [
        _plan_of(p.record.plan_id, None, p.last_updated, status=p.status, since=p.record.first_active)
        for p in (FORGED, KIP_NEW, KIP_OLD)
    ]
    assert citizens_plan(unauthored, None) == unauthored[0]


def test_a_keeper_whose_plan_is_paused_keeps_its_place_and_no_one_else_takes_it() -> None:
    paused = _plan_of(
        "kip-old", KEEPER, "2026-05-01T00:00:00.000Z", status="on-hold", since=KIP_OLD.record.first_active
    )
    assert citizens_plan([FORGED, paused], None) is None, "X's plan is not the citizen's"
    assert citizens_plan([FORGED, paused], GP) is None
    assert citizens_plan([FORGED, paused], X) == FORGED, "X's own, for X"


def test_a_plan_never_active_gives_its_organisation_no_place() -> None:
    drafted = _plan_of("forged", X, "2026-04-01T00:00:00.000Z", status="on-hold")  # on hold before it was active
    assert citizens_plan([drafted, KIP_NEW], None) == KIP_NEW


def test_the_citizens_own_page_still_holds_the_keepers_paused_plan_and_nothing_else() -> None:
    """While the keeper's plan is on hold (an admission, say) it steers nothing, but the citizen still sees it
    and decides who may see what (`paused`, the citizen's page only)."""
    paused = _plan_of(
        "kip-old", KEEPER, "2026-05-01T00:00:00.000Z", status="on-hold", since=KIP_OLD.record.first_active
    )
    assert citizens_plan([FORGED, paused], None, paused=True) == paused, "the keeper's, not X's active one"
    assert citizens_plan([FORGED, paused], None) is None, "what steers notices is unchanged"
    assert citizens_plan([FORGED, paused, KIP_NEW], None, paused=True) == KIP_NEW, "an active plan comes first"
    drafted = _plan_of("forged", X, "2026-04-01T00:00:00.000Z", status="on-hold")  # never active
    assert citizens_plan([drafted], None, paused=True) is None, "a plan never in force was never agreed on"
    assert citizens_plan([drafted, paused], None, paused=True) == paused
    ended = _plan_of("kip-old", KEEPER, "2026-05-01T00:00:00.000Z", status="completed", since="2026-01-01T00:00:00Z")
    assert citizens_plan([ended], None, paused=True) is None, "an ended plan is not shown as paused"
