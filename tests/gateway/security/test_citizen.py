"""CitizenAccess: a citizen sees their own plan content and audit trail, nothing of anybody else's, and writes
only what a plan document writes."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.clock import FixedClock, SequenceIds
from gateway.fhir.access import AuditRecord, Denied
from gateway.fhir.interactions import FhirService
from gateway.fhir.transactions import BundleProcessor
from gateway.security.citizen import CitizenAccess
from gateway.store.database import make_engine, upgrade
from gateway.store.sql import SqlResourceStore
from mappings.documents.plan import parse_plan_document
from mappings.plan import PlanContext, transaction_from_plan
from tests.support import scenario

OTHER_CPR = "0101010101"


@pytest.fixture
def fhir(tmp_path: Any, clock: FixedClock) -> FhirService:
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    upgrade(engine)
    service = FhirService(SqlResourceStore(engine, clock), clock, SequenceIds())
    for cpr, source in ((scenario.CPR, "KIP-1"), (OTHER_CPR, "KIP-2")):
        document = scenario.plan_document()
        document["citizen"]["cpr"] = cpr
        document["source"]["value"] = source
        bundle = transaction_from_plan(parse_plan_document(document), PlanContext())
        BundleProcessor(service).process("http://gateway.test/fhir", bundle)
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


def test_new_resources_carry_the_plans_author_and_existing_ones_keep_theirs(fhir: FhirService) -> None:
    author = "https://sor2.sum.dsdn.dk/#id=265161000016000"
    access = citizen(fhir, plan_author=author)
    assert access.stamp({"resourceType": "Goal"}, None)["meta"]["source"] == author
    assert citizen(fhir).stamp({"resourceType": "Goal"}, None) == {"resourceType": "Goal"}
