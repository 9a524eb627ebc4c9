"""Which of a citizen's plans counts (`plans.citizens_plan`), and what the store says of them (`plans_of_citizen`,
`first_active`) on SQLite and PostgreSQL: every plan whoever keeps it, never a page of them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.clock import FixedClock
from gateway.services.plans import citizens_plan
from gateway.store.dates import format_instant
from gateway.store.ports import CitizenPlan, PlanRecord
from gateway.store.sql import SqlResourceStore, SqlResourceTransaction
from mappings.plan.codes import CPR_SYSTEM
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


def test_first_active_is_the_first_version_with_status_active(store: SqlResourceStore, clock: FixedClock) -> None:
    with store.writing() as tx:
        assert isinstance(tx, SqlResourceTransaction)
        _patient(tx, "record", CPR, KEEPER)
        _plan(tx, "drafted-first", "record", KEEPER, status="draft")
        _plan(tx, "active-at-once", "record", KEEPER)
        _plan(tx, "never", "record", KEEPER, status="draft")
    clock.advance(timedelta(minutes=1))
    with store.writing() as tx:
        assert isinstance(tx, SqlResourceTransaction)
        _status(tx, "drafted-first", "active")
        _status(tx, "active-at-once", "on-hold")
    clock.advance(timedelta(minutes=1))
    with store.writing() as tx:
        assert isinstance(tx, SqlResourceTransaction)
        _status(tx, "active-at-once", "active")
    with store.reading() as tx:
        since = tx.first_active(["drafted-first", "active-at-once", "never", "no-such-plan"])
    start = datetime(2026, 6, 1, tzinfo=UTC)
    assert since == {
        "drafted-first": format_instant(start + timedelta(minutes=1)),  # the draft was made active then
        "active-at-once": format_instant(start),  # on hold and active again: still active since the first time
    }


def _plan_of(plan_id: str, author: str | None, updated: str, *, status: str = "active") -> CitizenPlan:
    return CitizenPlan(PlanRecord(plan_id, "p", author, "urn:example", plan_id), status, updated)


#: When each plan was first active; the keeper's old plan is ended now, its new one active since after X's.
SINCE = {"kip-old": "2026-01-01T00:00:00.000Z", "forged": "2026-02-15T00:00:00.000Z",
         "kip-new": "2026-03-01T00:00:00.000Z"}  # fmt: skip
KIP_OLD = _plan_of("kip-old", KEEPER, "2026-03-02T00:00:00.000Z", status="completed")
KIP_NEW = _plan_of("kip-new", KEEPER, "2026-03-01T00:00:00.000Z")
FORGED = _plan_of("forged", X, "2026-04-01T00:00:00.000Z")


class Seniority:
    def __init__(self, since: dict[str, str]) -> None:
        self.since = since
        self.asked: list[list[str]] = []

    def __call__(self, plan_ids: Sequence[str]) -> dict[str, str]:
        self.asked.append(list(plan_ids))
        return {plan_id: at for plan_id, at in self.since.items() if plan_id in plan_ids}


def test_the_keeper_is_who_had_an_active_plan_first_and_its_newest_active_plan_counts() -> None:
    everything = [FORGED, KIP_NEW, KIP_OLD]
    assert citizens_plan(everything, None, Seniority(SINCE)) == KIP_NEW, "an ended plan keeps its keeper's place"
    assert citizens_plan(everything, GP, Seniority(SINCE)) == KIP_NEW, "an organisation with no plan of its own"
    assert citizens_plan([FORGED, KIP_NEW], None, Seniority(SINCE)) == FORGED, "without its old plan: X was first"


def test_an_organisations_own_active_plan_counts_for_it_alone() -> None:
    assert citizens_plan([FORGED, KIP_NEW, KIP_OLD], X, Seniority(SINCE)) == FORGED
    assert citizens_plan([FORGED, KIP_NEW, KIP_OLD], KEEPER, Seniority(SINCE)) == KIP_NEW
    assert citizens_plan([KIP_OLD], KEEPER, Seniority(SINCE)) is None, "ended plans count for no one"


def test_history_is_read_only_when_two_organisations_have_active_plans() -> None:
    seniority = Seniority(SINCE)
    assert citizens_plan([KIP_NEW, KIP_OLD], GP, seniority) == KIP_NEW
    assert citizens_plan([], None, seniority) is None
    assert seniority.asked == []
    citizens_plan([FORGED, KIP_NEW, KIP_OLD], GP, seniority)
    assert sorted(seniority.asked[0]) == ["forged", "kip-new", "kip-old"]


def test_a_tie_of_first_activations_goes_to_the_lower_plan_id() -> None:
    twin = _plan_of("another", X, "2026-05-01T00:00:00.000Z")
    since = SINCE | {"another": SINCE["kip-old"]}
    assert citizens_plan([twin, KIP_NEW, KIP_OLD], None, Seniority(since)) == twin


def test_without_authentication_every_plan_is_the_same_keepers_and_the_newest_active_counts() -> None:
    unauthored = [_plan_of(p.record.plan_id, None, p.last_updated, status=p.status) for p in (FORGED, KIP_NEW, KIP_OLD)]
    assert citizens_plan(unauthored, None, Seniority(SINCE)) == unauthored[0]


def test_a_keeper_whose_plan_is_paused_keeps_its_place_and_no_one_else_takes_it() -> None:
    paused = _plan_of("kip-old", KEEPER, "2026-05-01T00:00:00.000Z", status="on-hold")
    assert citizens_plan([FORGED, paused], None, Seniority(SINCE)) is None, "X's plan is not the citizen's"
    assert citizens_plan([FORGED, paused], GP, Seniority(SINCE)) is None
    assert citizens_plan([FORGED, paused], X, Seniority(SINCE)) == FORGED, "X's own, for X"


def test_a_plan_never_active_gives_its_organisation_no_place() -> None:
    drafted = _plan_of("forged", X, "2026-04-01T00:00:00.000Z", status="on-hold")  # on hold before it was active
    assert citizens_plan([drafted, KIP_NEW], None, Seniority({"kip-new": SINCE["kip-new"]})) == KIP_NEW
