"""CitizenAccess: a citizen sees their own plan content and audit trail, nothing of anybody else's, and writes
only what a plan document writes."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.clock import FixedClock, SequenceIds
from gateway.fhir.access import AuditRecord, Denied, OpenAccess
from gateway.fhir.interactions import FhirService
from gateway.security.citizen import CitizenAccess
from gateway.services.plans import PlanService
from gateway.store.database import make_engine, upgrade
from gateway.store.sql import SqlResourceStore
from mappings.plan import PlanContext
from tests.support import scenario

OTHER_CPR = "0101010101"


FACT_TEAM = "329631000016003"  # the demo plan's keeper (its source is this SOR's namespace)


class FactTeam(OpenAccess):
    """The plan's author writing without a request (no audit): what `/plans` stores for it."""

    author = FACT_TEAM


@pytest.fixture
def fhir(tmp_path: Any, clock: FixedClock) -> FhirService:
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    upgrade(engine)
    service = FhirService(SqlResourceStore(engine, clock), clock, SequenceIds())
    plans = PlanService(service, PlanContext())
    for cpr, source in ((scenario.CPR, "KIP-1"), (OTHER_CPR, "KIP-2")):
        document = scenario.plan_document()
        document["citizen"]["cpr"] = cpr
        document["source"]["value"] = source
        plans.accept("http://gateway.test/fhir", document, access=FactTeam())
    return service


def citizen(fhir: FhirService, cpr: str = scenario.CPR, **kwargs: Any) -> CitizenAccess:
    return CitizenAccess(cpr, fhir.store, fhir.clock, fhir.ids, "http://gateway.test/", **kwargs)


def visible_plans(fhir: FhirService, access: CitizenAccess) -> list[str]:
    bundle = fhir.search("http://gateway.test/fhir", "CarePlan", [], access).body or {}
    return [e["resource"]["identifier"][0]["value"] for e in bundle.get("entry", [])]


def test_a_citizen_sees_exactly_the_plans_whose_patient_carries_their_cpr(fhir: FhirService) -> None:
    assert visible_plans(fhir, citizen(fhir)) == ["KIP-1"]
    assert visible_plans(fhir, citizen(fhir, OTHER_CPR)) == ["KIP-2"]
    assert visible_plans(fhir, citizen(fhir, "3112999999")) == []
    goals = fhir.search("http://gateway.test/fhir", "Goal", [("_count", "100")], citizen(fhir)).body or {}
    assert goals["total"] == 6, "their own three wishes and three goals, not the other citizen's"


def test_the_citizen_may_not_delete_nor_read_other_kinds(fhir: FhirService) -> None:
    access = citizen(fhir)
    for resource_type, interaction in (("CarePlan", "d"), ("AuditEvent", "c"), ("Observation", "r")):
        with pytest.raises(Denied) as refused:
            access.require(resource_type, interaction)  # type: ignore[arg-type]
        assert refused.value.status == 403


def test_the_citizens_writes_are_audited_with_the_citizen_as_author(fhir: FhirService) -> None:
    access = citizen(fhir)
    with fhir.store.writing() as tx:
        access.record(tx, AuditRecord("U", "update", [{"resourceType": "Patient", "id": "p"}]))
        event = tx.search(fhir.parse_query("AuditEvent", [])).matches[0].resource
    assert event is not None
    author = next(a for a in event["agent"] if a["type"]["coding"][0]["code"] == "AUT")
    assert author["who"]["identifier"] == {"system": "urn:oid:1.2.208.176.1.2", "value": scenario.CPR}


def test_a_citizen_writes_their_own_plan_in_its_authors_name_and_no_other(fhir: FhirService) -> None:
    own = visible_plan_ids(fhir, citizen(fhir))[0]
    assert citizen(fhir).for_plan(own).author == FACT_TEAM, "what the citizen's write creates is the plan's"
    with fhir.store.reading() as tx:
        others = [plan.record.plan_id for plan in tx.plans_of_citizen(OTHER_CPR)]
    assert others and citizen(fhir).for_plan(others[0]).author is None, "another citizen's plan is not theirs"
    with pytest.raises(Denied):
        citizen(fhir).for_plan(others[0]).require_source("https://sor2.sum.dsdn.dk/#id=329631000016003", owned=True)


def visible_plan_ids(fhir: FhirService, access: CitizenAccess) -> list[str]:
    bundle = fhir.search("http://gateway.test/fhir", "CarePlan", [], access).body or {}
    return [e["resource"]["id"] for e in bundle.get("entry", [])]
