"""Plan → FHIR → plan is the identity: for generated documents, the hand-written samples and stored forms."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from mappings.documents.plan import PlanDocument, parse_plan_document
from mappings.issues import IssueError
from mappings.plan import PlanContext, plan_from_fhir, resources_from_plan, transaction_from_plan

from .strategies import plan_documents

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = sorted((ROOT / "fixtures" / "samples" / "plans").glob("*.json"))
CTX = PlanContext()


def load(path: Path) -> PlanDocument:
    return parse_plan_document(json.loads(path.read_text("utf-8")))


def stored_form(bundle: dict[str, Any]) -> dict[str, Any]:
    """What a FHIR server returns after the transaction: urn:uuid references rewritten to Type/id, metadata added,
    and the resources in a searchset Bundle whose fullUrls are absolute, in a different order."""
    ids = {
        entry["fullUrl"]: f"{entry['resource']['resourceType']}/{entry['resource']['id']}" for entry in bundle["entry"]
    }
    text = json.dumps([entry["resource"] for entry in bundle["entry"]])
    for full_url, target in ids.items():
        text = text.replace(f'"reference": "{full_url}"', f'"reference": "{target}"')
    resources = json.loads(text)
    for resource in resources:
        resource["meta"]["versionId"] = "3"
    entries = [{"fullUrl": f"http://gateway.test/fhir/{r['resourceType']}/{r['id']}", "resource": r} for r in resources]
    return {"resourceType": "Bundle", "type": "searchset", "entry": list(reversed(entries))}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan_documents)
def test_round_trip_is_identity_for_generated_documents(doc: PlanDocument) -> None:
    assert plan_from_fhir(transaction_from_plan(doc, CTX)) == doc


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan_documents)
def test_round_trip_is_identity_through_the_stored_form(doc: PlanDocument) -> None:
    assert plan_from_fhir(stored_form(transaction_from_plan(doc, CTX))) == doc


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.name)
def test_round_trip_of_hand_written_samples(path: Path) -> None:
    doc = load(path)
    assert plan_from_fhir(transaction_from_plan(doc, CTX)) == doc
    assert plan_from_fhir(stored_form(transaction_from_plan(doc, CTX))) == doc


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.name)
def test_round_trip_from_resources_grouped_by_type(path: Path) -> None:
    doc = load(path)
    grouped: dict[str, list[dict[str, Any]]] = {}
    for resource in resources_from_plan(doc, CTX):
        grouped.setdefault(resource["resourceType"], []).append(resource)
    assert plan_from_fhir(grouped) == doc


def test_round_trip_with_another_canonical_base_and_namespace() -> None:
    ctx = PlanContext(base="https://fhir.region.example/kip", id_namespace=uuid.UUID(int=7))
    doc = load(SAMPLES[0])
    bundle = transaction_from_plan(doc, ctx)
    assert "careplan-gateway.example" not in json.dumps(bundle)
    assert plan_from_fhir(bundle, ctx) == doc


def test_same_input_gives_byte_identical_output() -> None:
    doc = load(SAMPLES[0])
    first = json.dumps(transaction_from_plan(doc, CTX), ensure_ascii=False)
    again = json.dumps(transaction_from_plan(load(SAMPLES[0]), PlanContext()), ensure_ascii=False)
    assert first == again


def test_ids_depend_on_the_source_identifier_and_the_namespace() -> None:
    doc = load(SAMPLES[0])
    other = doc.model_copy(update={"source": doc.source.model_copy(update={"value": "KIP-2025-000418"})})

    def care_plan_id(document: PlanDocument, ctx: PlanContext) -> str:
        return next(r["id"] for r in resources_from_plan(document, ctx) if r["resourceType"] == "CarePlan")

    plan_id = care_plan_id(doc, CTX)
    assert care_plan_id(other, CTX) != plan_id
    assert care_plan_id(doc, PlanContext(id_namespace=uuid.UUID(int=1))) != plan_id


def test_a_dangling_reference_is_reported_with_its_location() -> None:
    bundle = transaction_from_plan(load(SAMPLES[0]), CTX)
    bundle = copy.deepcopy(bundle)
    plan = next(entry["resource"] for entry in bundle["entry"] if entry["resource"]["resourceType"] == "CarePlan")
    plan["activity"][0]["detail"]["performer"][0]["reference"] = "Practitioner/unknown"
    with pytest.raises(IssueError) as caught:
        plan_from_fhir(bundle)
    assert caught.value.issues[0].expression == "CarePlan.activity[0].detail.performer[0]"
    assert caught.value.issues[0].message_id == "plan.fhir-unresolvable"


def test_without_a_kip_care_plan_nothing_is_guessed() -> None:
    with pytest.raises(IssueError) as caught:
        plan_from_fhir({"resourceType": "Bundle", "type": "searchset", "entry": []})
    assert caught.value.issues[0].message_id == "plan.fhir-careplan-count"


def test_gln_written_with_http_as_dk_core_3_5_does_is_accepted() -> None:
    bundle = transaction_from_plan(load(SAMPLES[0]), CTX)
    text = json.dumps(bundle).replace("https://www.gs1.org/gln", "http://www.gs1.org/gln")
    assert plan_from_fhir(json.loads(text)) == load(SAMPLES[0])
