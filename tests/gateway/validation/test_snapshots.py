"""Snapshots generated from MedCom's differentials match the snapshots MedCom published."""

from __future__ import annotations

import copy

import pytest

from gateway.validation import Validator
from gateway.validation.snapshots import element_id, generate_snapshot

PROFILES = [
    "http://medcomfhir.dk/ig/hospitalnotification/StructureDefinition/medcom-hospitalNotification-encounter",
    "http://medcomfhir.dk/ig/hospitalnotification/StructureDefinition/medcom-hospitalNotification-messageHeader",
    "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-messageHeader",
    "http://medcomfhir.dk/ig/carecommunication/StructureDefinition/medcom-careCommunication-communication",
    "http://hl7.dk/fhir/core/StructureDefinition/dk-core-patient",
]


@pytest.mark.parametrize("url", PROFILES)
def test_generated_snapshot_matches_published(validator: Validator, url: str) -> None:
    registry = validator.registry
    located = registry.locate(url)
    assert located is not None
    package, published = located
    closure = registry.closure(package)
    differential_only = copy.deepcopy(published)
    del differential_only["snapshot"]
    generated = generate_snapshot(differential_only, lambda u: registry.resolve(u, closure))
    expected = {element_id(e): (e.get("min"), e.get("max")) for e in published["snapshot"]["element"]}
    actual = {element_id(e): (e.get("min"), e.get("max")) for e in generated["snapshot"]["element"]}
    assert list(actual) == list(expected)
    assert actual == expected


def _sliced_bundle(elements: list[dict[str, object]]) -> dict[str, object]:
    return {
        "resourceType": "StructureDefinition",
        "url": "http://example.org/StructureDefinition/sliced-bundle",
        "type": "Bundle",
        "kind": "resource",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Bundle",
        "derivation": "constraint",
        "differential": {"element": elements},
    }


def test_a_differential_without_ids_puts_elements_in_the_slice_before_them(validator: Validator) -> None:
    """FHIR R4 profiling: a slice is followed by its own elements, so without ids the position decides."""
    differential = [
        {
            "path": "Bundle.entry",
            "slicing": {"discriminator": [{"type": "profile", "path": "resource"}], "rules": "open"},
        },
        {"path": "Bundle.entry", "sliceName": "patient", "min": 1},
        {"path": "Bundle.entry.resource", "min": 1, "type": [{"code": "Patient"}]},
        {"path": "Bundle.entry", "sliceName": "rest"},
        {"path": "Bundle.entry.fullUrl", "min": 1},
        {"path": "Bundle.total", "min": 1},
    ]
    snapshot = generate_snapshot(_sliced_bundle(differential), validator.registry.resolve)
    by_id = {element_id(e): e for e in snapshot["snapshot"]["element"]}
    assert by_id["Bundle.entry:patient.resource"]["type"] == [{"code": "Patient"}]
    assert by_id["Bundle.entry:rest.fullUrl"]["min"] == 1
    assert by_id["Bundle.entry.resource"]["min"] == 0  # the sliced element itself is untouched
    assert by_id["Bundle.total"]["min"] == 1


def test_an_id_that_does_not_name_its_path_yields_to_the_path(validator: Validator) -> None:
    differential = [{"id": "Bundle.total:odd", "path": "Bundle.entry.request.ifMatch", "min": 1}]
    snapshot = generate_snapshot(_sliced_bundle(differential), validator.registry.resolve)
    mins = {element_id(e): e.get("min") for e in snapshot["snapshot"]["element"]}
    assert mins["Bundle.entry.request.ifMatch"] == 1
    assert "Bundle.total:odd" not in mins
