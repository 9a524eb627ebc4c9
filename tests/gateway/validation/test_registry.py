"""Package loading, canonical resolution and per-message-type dependency closures."""

from __future__ import annotations

from pathlib import Path

from gateway.validation import Validator, build_registry
from gateway.validation.packages import shipped_package_files
from gateway.validation.registry import split_canonical, version_key

ORGANIZATION = "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-organization"


def test_hospital_notification_closure_uses_messaging_2_1_and_dk_core_2(validator: Validator) -> None:
    closure = validator.registry.closure("medcom.fhir.dk.hospitalnotification#3.0.2")
    assert "medcom.fhir.dk.messaging#2.1.0" in closure.packages
    assert "hl7.fhir.dk.core#2.0.0" in closure.packages
    assert "medcom.fhir.dk.core#2.0.0" in closure.packages
    assert "hl7.fhir.r4.core#4.0.1" in closure.packages


def test_care_communication_closure_uses_messaging_4_0_2_and_dk_core_3_4(validator: Validator) -> None:
    closure = validator.registry.closure("medcom.fhir.dk.carecommunication#5.0.2")
    assert "medcom.fhir.dk.messaging#4.0.2" in closure.packages
    assert "hl7.fhir.dk.core#3.4.0" in closure.packages
    assert "medcom.fhir.dk.core#3.0.1" in closure.packages


def test_unversioned_canonical_resolves_within_closure_else_newest(validator: Validator) -> None:
    registry = validator.registry
    hn = registry.closure("medcom.fhir.dk.hospitalnotification#3.0.2")
    assert registry.locate(ORGANIZATION, hn)[0] == "medcom.fhir.dk.messaging#2.1.0"  # type: ignore[index]
    assert registry.locate(ORGANIZATION)[0] == "medcom.fhir.dk.messaging#4.0.2"  # type: ignore[index]
    assert registry.locate(ORGANIZATION + "|2.1.0")[0] == "medcom.fhir.dk.messaging#2.1.0"  # type: ignore[index]
    assert registry.locate("http://example.org/none") is None


def test_missing_dependency_version_is_substituted_and_recorded(validator: Validator) -> None:
    closure = validator.registry.closure("medcom.fhir.dk.hospitalnotification#3.0.2")
    assert any("hl7.fhir.uv.extensions.r4#5.2.0" in note for note in closure.substitutions)


def test_registry_cache_round_trip(tmp_path: Path) -> None:
    files = [f for f in shipped_package_files() if "medcom.fhir.dk.terminology" in str(f)]
    first = build_registry(files, cache_dir=tmp_path)
    assert list(tmp_path.glob("validation-registry-*.pickle"))
    second = build_registry(files, cache_dir=tmp_path)
    assert set(first.packages) == set(second.packages)
    url = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-eventCodes"
    assert first.resolve(url) == second.resolve(url)


def test_canonical_helpers() -> None:
    assert split_canonical("http://x/y|1.0") == ("http://x/y", "1.0")
    assert split_canonical("http://x/y") == ("http://x/y", None)
    assert version_key("5.3.0-ballot-tc1") < version_key("5.3.0") < version_key("5.10.0")
