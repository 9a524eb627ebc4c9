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
