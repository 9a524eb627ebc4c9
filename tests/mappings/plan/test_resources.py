"""What the plan mapping emits: R4 structure (fhir.resources R4B models), profiles, codes and requests."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from mappings.documents.plan import PlanDocument, parse_plan_document
from mappings.plan import (
    PlanContext,
    care_plan_from_plan,
    care_team_from_plan,
    consent_from_plan,
    crisis_plans_from_plan,
    goals_from_plan,
    organizations_from_plan,
    patient_from_plan,
    resources_from_plan,
    transaction_from_plan,
)
from mappings.plan.codes import GLN_SYSTEM, SOR_SYSTEM

from .strategies import plan_documents

ROOT = Path(__file__).resolve().parents[3]
CTX = PlanContext()
BASE = CTX.base
DK = "http://hl7.dk/fhir/core/StructureDefinition/"


def doc(name: str = "kip-slagelse-botilbud.json") -> PlanDocument:
    return parse_plan_document(json.loads((ROOT / "fixtures/samples/plans" / name).read_text("utf-8")))


def r4_model(resource_type: str) -> Any:
    return getattr(importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}"), resource_type)


def all_references(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [ref for item in value.values() for ref in all_references(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in all_references(item)]
    return []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan_documents)
def test_every_emitted_resource_and_the_bundle_are_valid_r4_structures(document: PlanDocument) -> None:
    bundle = transaction_from_plan(document, CTX)
    r4_model("Bundle").model_validate(bundle)
    for entry in bundle["entry"]:
        r4_model(entry["resource"]["resourceType"]).model_validate(entry["resource"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan_documents)
def test_every_reference_points_at_a_full_url_of_the_bundle(document: PlanDocument) -> None:
    bundle = transaction_from_plan(document, CTX)
    full_urls = {entry["fullUrl"] for entry in bundle["entry"]}
    assert len(full_urls) == len(bundle["entry"])
    for entry in bundle["entry"]:
        assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"
        assert set(all_references(entry["resource"])) <= full_urls


def test_every_resource_claims_its_profile() -> None:
    profiles = {(r["resourceType"], r["meta"]["profile"][0]) for r in resources_from_plan(doc(), CTX)}
    assert profiles == {
        ("Patient", DK + "dk-core-patient"),
        ("Organization", DK + "dk-core-organization"),
        ("Organization", f"{BASE}/StructureDefinition/kip-organization"),
        ("Practitioner", DK + "dk-core-practitioner"),
        ("RelatedPerson", DK + "dk-core-related-person"),
        ("CareTeam", f"{BASE}/StructureDefinition/kip-careteam"),
        ("Goal", f"{BASE}/StructureDefinition/kip-goal"),
        ("CarePlan", f"{BASE}/StructureDefinition/kip-careplan"),
        ("Consent", f"{BASE}/StructureDefinition/kip-consent"),
        ("Consent", f"{BASE}/StructureDefinition/kip-crisis-plan"),
    }


def test_patient_follows_dk_core() -> None:
    patient = patient_from_plan(doc(), CTX)
    assert patient["identifier"] == [{"use": "official", "system": "urn:oid:1.2.208.176.1.2", "value": "2509479989"}]
    assert patient["name"] == [{"use": "official", "family": "Østergård", "given": ["Søren", "Ærling"]}]
    extension = patient["address"][0]["extension"][0]
    assert extension["url"] == "http://hl7.dk/fhir/core/StructureDefinition/dk-core-municipalityCodes"
    assert extension["valueCodeableConcept"]["coding"][0] == {
        "system": "http://hl7.dk/fhir/core/CodeSystem/dk-core-municipality-codes",
        "code": "0330",
        "display": "Slagelse",
    }
    assert patient["generalPractitioner"][0]["identifier"]["system"] == SOR_SYSTEM


def test_organisations_appear_once_with_all_their_identifiers() -> None:
    organizations = organizations_from_plan(doc(), CTX)
    sors = [identifier["value"] for org in organizations for identifier in org["identifier"]
            if identifier["system"] == SOR_SYSTEM]  # fmt: skip
    assert len(sors) == len(set(sors)) == 5
    club = next(org for org in organizations if org["name"].startswith("Slagelse Boldklub"))
    assert club["identifier"] == [{"system": GLN_SYSTEM, "value": "5790001234560"}]
    assert club["meta"]["profile"] == [f"{BASE}/StructureDefinition/kip-organization"]


def test_care_team_marks_the_coordinator_and_keeps_on_behalf_of_for_practitioners_only() -> None:
    team = care_team_from_plan(doc(), CTX)
    assert team["category"][0]["coding"][0]["code"] == "LA28865-6"
    coordinator_role = {"system": f"{BASE}/CodeSystem/team-role", "code": "coordinator", "display": "Coordinator"}
    marked = [p for p in team["participant"] if coordinator_role in [c for r in p["role"] for c in r["coding"]]]
    assert [p["extension"][0]["valueString"] for p in marked] == ["bo1"]
    resources = {f"urn:uuid:{r['id']}": r for r in resources_from_plan(doc(), CTX)}
    for participant in team["participant"]:
        member = resources[participant["member"]["reference"]]
        if "onBehalfOf" in participant:  # R4 ctm-1
            assert member["resourceType"] == "Practitioner"
    gp = next(p for p in team["participant"] if p["extension"][0]["valueString"] == "gp1")
    assert {"system": "http://snomed.info/sct", "code": "62247001", "display": "Family medicine specialist"} in gp[
        "role"
    ][0]["coding"]


def test_care_plan_has_author_goals_interventions_and_next_meeting() -> None:
    plan = care_plan_from_plan(doc(), CTX)
    assert plan["identifier"] == [
        {"system": "https://sor2.sum.dsdn.dk/#id=265161000016000", "value": "KIP-2025-000417"}
    ]
    assert plan["intent"] == "plan" and plan["created"] == "2025-03-04"
    assert plan["author"]["display"] == "Mette Kjærgaard"
    assert len(plan["goal"]) == 3 + 3
    meeting = plan["activity"][-1]["detail"]
    assert meeting["code"]["coding"][0]["code"] == "coordination-meeting"
    assert meeting["scheduledPeriod"] == {"start": "2025-06-03"}
    assert plan["activity"][0]["detail"]["scheduledPeriod"] == {"end": "2025-06-03"}


def test_wishes_are_goals_expressed_by_the_citizen() -> None:
    goals = goals_from_plan(doc(), CTX)
    wish = goals[0]
    assert wish["expressedBy"] == wish["subject"]
    assert wish["category"][0]["coding"][0]["code"] == "dream"
    assert goals[3]["target"] == [{"dueDate": "2025-06-03"}] and goals[3]["startDate"] == "2025-03-04"


def test_consent_permits_members_and_denies_the_father() -> None:
    consent = consent_from_plan(doc(), CTX)
    assert consent["status"] == "active"
    assert consent["scope"]["coding"][0]["code"] == "patient-privacy"
    provision = consent["provision"]
    assert provision["period"] == {"start": "2025-03-04", "end": "2026-03-03"}
    roles = [actor["role"]["coding"][0]["code"] for actor in provision["actor"]]
    assert roles.count("PRCP") == 5 and "SIS" in roles
    deny = provision["provision"][0]
    assert deny["type"] == "deny"
    assert deny["actor"][0]["role"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
        "code": "FTH",
        "display": "father",
    }


@pytest.mark.parametrize(
    ("decision", "status"), [("given", "active"), ("refused", "rejected"), ("withdrawn", "inactive")]
)
def test_consent_decision_maps_to_status(decision: str, status: str) -> None:
    document = doc()
    consent = document.consent.model_copy(update={"decision": decision, "permitted": []})
    assert consent_from_plan(document.model_copy(update={"consent": consent}), CTX)["status"] == status


def test_crisis_plan_text_is_a_utf8_attachment() -> None:
    crisis = crisis_plans_from_plan(doc(), CTX)[0]
    assert crisis["scope"]["coding"][0]["code"] == "adr"
    assert crisis["category"][0]["coding"][0]["code"] == "acd"
    assert crisis["sourceAttachment"]["contentType"] == "text/plain; charset=utf-8"


def test_transaction_requests_are_conditional() -> None:
    requests = {e["resource"]["resourceType"]: e["request"] for e in transaction_from_plan(doc(), CTX)["entry"]}
    assert requests["Patient"] == {"method": "PUT", "url": "Patient?identifier=urn:oid:1.2.208.176.1.2|2509479989"}
    assert requests["CarePlan"] == {
        "method": "PUT",
        "url": "CarePlan?identifier=https://sor2.sum.dsdn.dk/%23id%3D265161000016000|KIP-2025-000417",
    }
    assert requests["Organization"]["method"] == "POST"
    assert requests["Organization"]["ifNoneExist"].startswith("identifier=")
    assert requests["CareTeam"]["url"].startswith("CareTeam?identifier=urn:ietf:rfc:3986|urn:uuid:")
