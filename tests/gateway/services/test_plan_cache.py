"""The citizen's plan is kept between discharges only while nothing it was read from has changed
(`gateway.services.plan_cache`): a plan or consent write, by this process or another one on the same database,
is seen by the very next discharge, and a grant that ends is honoured when it ends, without any write.
On SQLite and on PostgreSQL (the store generation is a row of the database; the grant window is SQL)."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI

from gateway.store.ports import Viewer
from tests.support import scenario
from tests.support.instances import Database

HL7 = "x-application/hl7-v2+er7"
GP = "Lægerne i Slagelse Bymidte"  # gp1 in the demo plan
WARD = "265161000016000"  # psy1 in the demo plan: the consent permits it until 2099-03-03 (Danish time)


@dataclass
class Looking:
    """The part of an `Access` the plan lookup reads: who looks, and whose own plans count first (an organisation
    authors as the organisation it sees as)."""

    viewer: Viewer | None

    @property
    def author(self) -> str | None:
        return self.viewer.sor if self.viewer is not None else None


@pytest.fixture
def app(database: Database) -> FastAPI:
    app = database.app()
    app.state.plans.accept("http://gateway.test", scenario.plan_document())
    asyncio.run(app.state.intake.accept(scenario.adt("adt_a01_inpatient_8859-1.hl7"), HL7))
    return app


def _discharge(app: FastAPI) -> dict[str, Any]:
    preview = app.state.intake.preview(scenario.adt("adt_a03_discharge_8859-1.hl7"), HL7)
    return {
        "to": sorted(notice.recipient.name for notice in preview.notices),
        "withheld": sorted((w.recipient, w.kind) for w in preview.withheld),
    }


def _without_gp(document: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    changed["consent"]["permitted"] = [key for key in changed["consent"]["permitted"] if key != "gp1"]
    return changed


def test_the_kept_plan_answers_the_next_discharge_while_nothing_changed(app: FastAPI) -> None:
    first = _discharge(app)
    cache = app.state.plans._current
    hits = cache.hits
    assert _discharge(app) == first
    assert cache.hits == hits + 1


def test_a_consent_change_is_seen_by_the_next_discharge(app: FastAPI) -> None:
    before = _discharge(app)
    assert not before["withheld"]
    app.state.plans.accept("http://gateway.test", _without_gp(scenario.plan_document()))
    after = _discharge(app)
    assert [recipient for recipient, _ in after["withheld"]] == [GP]


def test_a_plan_written_by_another_process_is_seen_by_the_next_discharge(app: FastAPI, database: Database) -> None:
    before = _discharge(app)
    other = database.app()  # another instance: its own engine on the same database
    other.state.plans.accept("http://gateway.test", _without_gp(scenario.plan_document()))
    assert _discharge(app) != before


def test_a_plan_withdrawn_by_status_is_no_longer_found(app: FastAPI) -> None:
    plans = app.state.plans
    assert plans.current_plan_for(scenario.CPR) is not None
    ended = scenario.plan_document() | {"status": "completed"}
    plans.accept("http://gateway.test", ended)
    assert plans.current_plan_for(scenario.CPR) is None


def test_a_grant_that_ends_is_honoured_when_it_ends_without_any_write(app: FastAPI) -> None:
    plans = app.state.plans
    before_end = Looking(Viewer(WARD, "2099-03-03T22:59:59.000000Z"))
    after_end = Looking(Viewer(WARD, "2099-03-03T23:00:00.000000Z"))  # 2099-03-04 00:00 in Copenhagen
    assert plans.current_plan_for(scenario.CPR, before_end) is not None
    assert plans.current_plan_for(scenario.CPR, before_end) is not None  # kept
    assert plans.current_plan_for(scenario.CPR, after_end) is None
    assert plans.current_plan_for(scenario.CPR, before_end) is not None


def test_another_organisation_never_gets_what_was_kept_for_one_it_permits(app: FastAPI) -> None:
    plans = app.state.plans
    assert plans.current_plan_for(scenario.CPR, Looking(Viewer(WARD, "2026-06-01T00:00:00.000000Z"))) is not None
    stranger = Looking(Viewer("999999999999999", "2026-06-01T00:00:00.000000Z"))
    assert plans.current_plan_for(scenario.CPR, stranger) is None


def test_a_citizen_viewer_is_never_kept(app: FastAPI) -> None:
    plans = app.state.plans
    misses = plans._current.misses
    citizen = Looking(Viewer(None, "2026-06-01T00:00:00.000000Z", cpr=scenario.CPR))
    plans.current_plan_for(scenario.CPR, citizen)
    plans.current_plan_for(scenario.CPR, citizen)
    assert plans._current.misses == misses  # neither kept nor answered from what was kept


def test_the_least_recently_used_citizen_is_dropped_beyond_the_size(app: FastAPI) -> None:
    from gateway.services.plan_cache import PlanLookupCache

    cache: PlanLookupCache[str] = PlanLookupCache(app.state.plans.fhir.store, size=2)
    read: list[str] = []

    def lookup_of(cpr: str) -> Any:
        return lambda tx: read.append(cpr) or cpr

    for cpr in ("0101010001", "0101010002", "0101010001", "0101010003", "0101010002", "0101010001"):
        assert cache.get(cpr, None, lookup_of(cpr)) == cpr
    # 0001 and 0002 read, 0001 kept, 0003 read (drops 0002), 0002 read again (drops 0001), 0001 read again
    assert read == ["0101010001", "0101010002", "0101010003", "0101010002", "0101010001"]
    assert len(cache._kept) == 2
