"""`_summary` and `_elements` subsets, and their element lists checked against the R4 core package we ship."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.fhir.subsetting import MANDATORY, SUBSETTED, SUMMARY, subset
from gateway.store.search_params import SUPPORTED_TYPES
from gateway.validation.packages import shipped_package_files
from gateway.validation.registry import build_registry


@pytest.fixture(scope="module")
def core() -> Any:
    return build_registry([file for file in shipped_package_files() if "hl7.fhir.r4.core" in str(file)])


@pytest.mark.parametrize("resource_type", SUPPORTED_TYPES)
def test_element_lists_are_r4_cores(core: Any, resource_type: str) -> None:
    definition = core.resolve(f"http://hl7.org/fhir/StructureDefinition/{resource_type}")
    top = [element for element in definition["snapshot"]["element"] if element["path"].count(".") == 1]
    summary = tuple(e["path"].split(".")[1] for e in top if e.get("isSummary"))
    mandatory = tuple(e["path"].split(".")[1].removesuffix("[x]") for e in top if e.get("min", 0) >= 1)
    assert SUMMARY[resource_type] == summary
    assert MANDATORY[resource_type] == mandatory


PATIENT = {
    "resourceType": "Patient",
    "id": "p",
    "meta": {"versionId": "1", "tag": [{"system": "urn:x", "code": "keep"}]},
    "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Åse</div>'},
    "identifier": [{"system": "urn:oid:1.2.208.176.1.2", "value": "0101010101"}],
    "name": [{"family": "Sørensen"}],
    "deceasedBoolean": False,
    "_gender": {"extension": [{"url": "urn:x", "valueString": "y"}]},
    "gender": "female",
    "contact": [{"name": {"family": "Kin"}}],
    "communication": [{"language": {"text": "da"}}],
}


def test_summary_true_keeps_the_summary_elements_and_tags_the_subset() -> None:
    shown = subset(PATIENT, summary="true")
    assert set(shown) == {"resourceType", "id", "meta", "identifier", "name", "deceasedBoolean", "gender", "_gender"}
    assert shown["meta"]["tag"] == [{"system": "urn:x", "code": "keep"}, SUBSETTED]
    assert "tag" in PATIENT["meta"] and len(PATIENT["meta"]["tag"]) == 1, "the stored resource is not altered"


def test_summary_text_and_data() -> None:
    assert set(subset(PATIENT, summary="text")) == {"resourceType", "id", "meta", "text"}
    data = subset(PATIENT, summary="data")
    assert "text" not in data and "contact" in data and data["meta"]["tag"][-1] == SUBSETTED


def test_elements_keep_the_mandatory_ones_too() -> None:
    plan = {
        "resourceType": "CarePlan",
        "id": "c",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/p"},
        "description": "x",
        "title": "t",
    }
    shown = subset(plan, elements=["title"])
    assert set(shown) == {"resourceType", "id", "meta", "status", "intent", "subject", "title"}


def test_nothing_asked_is_the_resource_itself() -> None:
    assert subset(PATIENT) is PATIENT
