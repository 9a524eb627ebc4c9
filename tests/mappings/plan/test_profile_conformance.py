"""Every resource the plan mapping emits conforms to its declared profile (our KIP profiles, DK-core), checked by
the project's profile validator: for the hand-written samples and for generated plan documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from gateway.validation import default_validator
from mappings.documents.plan import PlanDocument, parse_plan_document
from mappings.plan import PlanContext, transaction_from_plan

from .strategies import plan_documents

SAMPLES = sorted((Path(__file__).resolve().parents[3] / "fixtures" / "samples" / "plans").glob("*.json"))


def profile_errors(document: PlanDocument) -> list[str]:
    validator = default_validator()
    problems = []
    for entry in transaction_from_plan(document, PlanContext())["entry"]:
        resource = entry["resource"]
        assert resource.get("meta", {}).get("profile"), f"{resource['resourceType']} declares no profile"
        for issue in validator.validate(resource).errors:
            problems.append(f"{resource['resourceType']} {issue.expression}: {issue.diagnostics}")
    return problems


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_plans_conform(path: Path) -> None:
    document = parse_plan_document(json.loads(path.read_text("utf-8")))
    assert profile_errors(document) == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan_documents)
def test_generated_plans_conform(document: PlanDocument) -> None:
    assert profile_errors(document) == []
