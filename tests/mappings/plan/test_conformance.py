"""Our profiles, code systems and value sets: files current, codes the mapping uses defined, base configurable."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

import mappings.plan
from mappings.documents.plan import parse_plan_document
from mappings.plan import conformance_resources, resources_from_plan, terminology_resources
from mappings.plan.codes import TABLES
from profiles.__main__ import expected_files

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("name", sorted(expected_files()))
def test_generated_profile_file_is_current(name: str) -> None:
    path = ROOT / "profiles" / name
    assert path.exists(), f"run `python -m profiles` ({name} is missing)"
    assert path.read_text("utf-8") == expected_files()[name], f"run `python -m profiles` ({name} is stale)"


def test_there_is_one_example_per_profile() -> None:
    examples = {name for name in expected_files() if name.startswith("examples/")}
    profiles = {r["id"] for r in conformance_resources() if r["resourceType"] == "StructureDefinition"}
    assert {name.split("-", 1)[1].removesuffix(".json") for name in examples} >= profiles - {"plan-item-key"}


@pytest.mark.parametrize("resource", conformance_resources(), ids=lambda r: f"{r['resourceType']}-{r['id']}")
def test_conformance_resource_is_valid_r4(resource: dict[str, Any]) -> None:
    model = getattr(importlib.import_module(f"fhir.resources.R4B.{resource['resourceType'].lower()}"),
                    resource["resourceType"])  # fmt: skip
    model.model_validate(resource)


def test_every_code_of_ours_the_mapping_emits_is_defined() -> None:
    defined = {
        (r["url"], concept["code"])
        for r in terminology_resources()
        if r["resourceType"] == "CodeSystem"
        for concept in r["concept"]
    }
    used: set[tuple[str, str]] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if str(value.get("system", "")).startswith("https://careplan-gateway.example/fhir/CodeSystem/"):
                used.add((value["system"], value["code"]))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for path in sorted((ROOT / "fixtures/samples/plans").glob("*.json")):
        walk(resources_from_plan(parse_plan_document(json.loads(path.read_text("utf-8"))), mappings.plan.PlanContext()))
    assert used and used <= defined


def test_the_base_is_substituted_everywhere() -> None:
    resources = conformance_resources("https://fhir.kommune.example/kip")
    text = repr(resources)
    assert "careplan-gateway.example" not in text
    assert len(resources) == 7 + 2 * len(TABLES)


def test_public_names_are_pinned() -> None:
    assert mappings.plan.__all__ == [
        "DATA_KINDS", "DEFAULT_BASE", "DEFAULT_ID_NAMESPACE", "DataKind", "Decision", "Grant", "PlanContext",
        "Recipient", "care_plan_from_plan", "care_team_from_plan", "conformance_resources", "consent_from_plan",
        "crisis_plans_from_plan", "goals_from_plan", "may_disclose", "organizations_from_plan",
        "patient_from_plan", "plan_from_fhir", "plan_grants", "plan_members", "practitioners_from_plan",
        "related_persons_from_plan", "resources_from_plan", "terminology_resources", "transaction_from_plan",
    ]  # fmt: skip
