"""Package loading, canonical resolution and per-message-type dependency closures."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.validation import Validator, build_registry
from gateway.validation.packages import FhirPackage, shipped_package_files
from gateway.validation.registry import split_canonical, version_key
from mappings.issues import IssueError
from tests.gateway.validation.profiles import profile_package

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


def _profile_package(name: str, minimum: int) -> FhirPackage:
    named = {"id": "Patient.name", "path": "Patient.name", "min": minimum}
    return profile_package("http://example.org/StructureDefinition/named-patient", "Patient", [named], name=name)


def test_an_extended_validator_knows_the_added_profiles_and_leaves_its_parent_alone(validator: Validator) -> None:
    url = "http://example.org/StructureDefinition/named-patient"
    strict = validator.extended([_profile_package("example.strict", 1)])
    lenient = validator.extended([_profile_package("example.lenient", 0)])
    patient = {"resourceType": "Patient"}
    assert [i.message_id for i in strict.validate(patient, url).errors] == ["validation.cardinality-min"]
    assert lenient.validate(patient, url).ok
    assert validator.registry.resolve(url) is None
    assert "validation.profile-unknown" in [i.message_id for i in validator.validate(patient, url).issues]


def test_a_package_already_loaded_cannot_be_added_again(validator: Validator) -> None:
    core = validator.registry.packages["hl7.fhir.r4.core#4.0.1"]
    with pytest.raises(IssueError) as raised:
        validator.extended([core])
    assert raised.value.issues[0].message_id == "validation.package-duplicate"
