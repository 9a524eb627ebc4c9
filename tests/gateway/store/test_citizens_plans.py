"""Which of a citizen's active plans counts (`plans.citizens_plan`), and the store's list of them
(`active_plans_of_citizen`) on SQLite and PostgreSQL: every active plan whoever keeps it, never a page of them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.clock import FixedClock
from gateway.services.plans import citizens_plan
from gateway.store.ports import ActivePlan, PlanRecord
from gateway.store.sql import SqlResourceStore, SqlResourceTransaction
from mappings.plan.codes import CPR_SYSTEM
from tests.support.engines import empty_engine

CPR, OTHER_CPR = "2509479989", "0101709998"
KEEPER, X = "329631000016003", "111111111111"


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


def test_lists_every_active_plan_of_the_citizen_whoever_keeps_it(store: SqlResourceStore, clock: FixedClock) -> None:
    with store.writing() as tx:
        assert isinstance(tx, SqlResourceTransaction)
        _patient(tx, "keepers-record", CPR, KEEPER)
        _patient(tx, "xs-record", CPR, X)
        _patient(tx, "someone-else", OTHER_CPR, KEEPER)
        _plan(tx, "kip", "keepers-record", KEEPER)
        _plan(tx, "ended", "keepers-record", KEEPER, status="completed")
        _plan(tx, "gone", "keepers-record", KEEPER)
        _plan(tx, "theirs", "someone-else", KEEPER)
    clock.advance(timedelta(minutes=1))
    with store.writing() as tx:
        assert isinstance(tx, SqlResourceTransaction)
        tx.delete("CarePlan", "gone")
        for number in range(30):  # more than any page: the keeper's plan must not drop out of the list
            _plan(tx, f"x{number:02}", "xs-record", X)
    clock.advance(timedelta(minutes=1))
    with store.writing() as tx:
        kip = tx.read("CarePlan", "kip")
        assert kip.resource is not None
        tx.update(kip.resource | {"description": "after the coordination meeting"}, resource_id="kip")
    with store.reading() as tx:
        plans = {plan.record.plan_id: plan for plan in tx.active_plans_of_citizen(CPR)}
    assert set(plans) == {"kip", *(f"x{number:02}" for number in range(30))}
    assert plans["kip"].created < plans["x00"].created < plans["kip"].last_updated, "created: the first version"
    assert plans["kip"].record.author == KEEPER
    assert citizens_plan(list(plans.values()), None) == plans["kip"]


def _active(plan_id: str, author: str | None, created: str, updated: str) -> ActivePlan:
    return ActivePlan(PlanRecord(plan_id, "p", author, "urn:example", plan_id), created, updated)


KIP = _active("kip", KEEPER, "2026-01-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z")
KIP_NEW = _active("kip-2026", KEEPER, "2026-02-01T00:00:00.000Z", "2026-02-02T00:00:00.000Z")
FORGED = _active("forged", X, "2026-02-15T00:00:00.000Z", "2026-04-01T00:00:00.000Z")


def test_the_keeper_is_who_wrote_the_first_active_plan_and_their_newest_plan_counts() -> None:
    assert citizens_plan([FORGED, KIP_NEW, KIP], None) == KIP  # the keeper's newest (by update), not the forger's
    assert citizens_plan([FORGED, KIP_NEW], None) == KIP_NEW
    assert citizens_plan([FORGED, KIP_NEW, KIP], "481561000016002") == KIP, "an organisation with no plan of its own"


def test_an_organisations_own_plan_counts_for_it_alone() -> None:
    assert citizens_plan([FORGED, KIP_NEW, KIP], X) == FORGED
    assert citizens_plan([FORGED, KIP_NEW, KIP], KEEPER) == KIP


def test_no_plan_and_a_tie_of_first_writes() -> None:
    assert citizens_plan([], None) is None
    assert citizens_plan([], X) is None
    twin = _active("another", X, KIP.created, "2026-05-01T00:00:00.000Z")
    assert citizens_plan([twin, KIP], None) == twin, "the same instant: the lower plan id was first"


def test_without_authentication_every_plan_is_the_same_keepers_and_the_newest_counts() -> None:
    unauthored = [_active(p.record.plan_id, None, p.created, p.last_updated) for p in (FORGED, KIP_NEW, KIP)]
    assert citizens_plan(unauthored, None) == unauthored[0]
