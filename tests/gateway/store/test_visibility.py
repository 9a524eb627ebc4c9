"""The database's reading of the access rule agrees with `may_disclose`, on SQLite and PostgreSQL.

For generated consents, the plan's grants are stored as a plan write stores them; then whether a viewer (an
organisation at an instant) sees the plan's CarePlan (category `careplan`) and its Patient (any category) through
`gateway.store.visibility` must be what `may_disclose` decides. Authorship and the open directory are checked too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from gateway.clock import FixedClock
from gateway.store.database import make_engine, upgrade
from gateway.store.dates import format_instant
from gateway.store.ports import PlanRecord, Viewer
from gateway.store.sql import SqlResourceStore
from mappings.plan import DATA_KINDS, Recipient, may_disclose, plan_grants
from tests.support.consents import SORS, consents, instants

AUTHOR = "999999999999"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlResourceStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('visibility') / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine: Engine = make_engine(url)
    upgrade(engine)
    yield SqlResourceStore(engine, FixedClock(datetime(2026, 1, 1, tzinfo=UTC)))
    engine.dispose()


def _plan(store: SqlResourceStore, consent: dict[str, Any]) -> tuple[str, str]:
    plan_id, patient_id = str(uuid.uuid4()), str(uuid.uuid4())
    with store.writing() as tx:
        tx.create({"resourceType": "Patient"}, resource_id=patient_id, author=AUTHOR)
        tx.create(
            {"resourceType": "CarePlan", "status": "active", "intent": "plan"}, resource_id=plan_id, author=AUTHOR
        )
        members = [("CarePlan", plan_id, "careplan"), *(("Patient", patient_id, kind) for kind in DATA_KINDS)]
        tx.save_plan(PlanRecord(plan_id, patient_id, AUTHOR, "urn:test", plan_id), members, plan_grants(consent))
    return plan_id, patient_id


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(consent=consents(), data=st.data())
def test_the_database_sees_what_may_disclose_permits(
    store: SqlResourceStore, consent: dict[str, Any], data: st.DataObject
) -> None:
    plan_id, patient_id = _plan(store, consent)
    at = data.draw(instants(consent))
    with store.reading() as tx:
        for sor in SORS:
            viewer = Viewer(sor, format_instant(at))
            decide = {kind: may_disclose(consent, Recipient(sor=sor), kind, at).permit for kind in DATA_KINDS}
            assert (tx.read_current("CarePlan", plan_id, viewer) is not None) == decide["careplan"], (sor, at)
            assert (tx.read_current("Patient", patient_id, viewer) is not None) == any(decide.values()), (sor, at)


def test_authors_see_their_own_and_everyone_sees_the_directory(store: SqlResourceStore) -> None:
    with store.writing() as tx:
        tx.create({"resourceType": "Patient"}, resource_id="mine", author="11111111111")
        tx.create({"resourceType": "Organization", "name": "x"}, resource_id="directory", author="11111111111")
    at = format_instant(store.clock.now())
    with store.reading() as tx:
        assert tx.read_current("Patient", "mine", Viewer("11111111111", at)) is not None
        assert tx.read_current("Patient", "mine", Viewer("22222222222", at)) is None
        assert tx.read_current("Patient", "mine", Viewer("11111111111", at, own_only=True)) is not None
        assert tx.read_current("Organization", "directory", Viewer("22222222222", at)) is not None
        assert tx.read_current("Organization", "directory", Viewer("22222222222", at, own_only=True)) is None
        assert tx.read_current("Organization", "directory", Viewer(None, at)) is not None
