"""Validator behaviour beyond the MedCom examples: our own differential profiles, defects, errors as warnings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gateway.validation
from gateway.validation import Validator, build_registry
from gateway.validation.packages import shipped_package_files
from tests.gateway.validation.conftest import HN_SLHJ, load_reference
from tests.gateway.validation.profiles import constraint_profile

PROFILE_URL = "urn:test:StructureDefinition/test-patient"


def _own_profile(expression: str) -> dict[str, Any]:
    return constraint_profile(
        PROFILE_URL,
        "Patient",
        [
            {
                "id": "Patient",
                "path": "Patient",
                "constraint": [{"key": "test-1", "severity": "error", "human": "test", "expression": expression}],
            },
            {"id": "Patient.birthDate", "path": "Patient.birthDate", "min": 1},
            {
                "id": "Patient.identifier",
                "path": "Patient.identifier",
                "slicing": {"discriminator": [{"type": "value", "path": "system"}], "rules": "closed"},
            },
            {"id": "Patient.identifier:cpr", "path": "Patient.identifier", "sliceName": "cpr", "min": 1},
            {
                "id": "Patient.identifier:cpr.system",
                "path": "Patient.identifier.system",
                "fixedUri": "urn:oid:1.2.208.176.1.2",
            },
        ],
    )


def _validator_with(tmp_path: Path, expression: str = "name.exists()") -> Validator:
    (tmp_path / "StructureDefinition-test-patient.json").write_text(json.dumps(_own_profile(expression)))
    core = [f for f in shipped_package_files() if "hl7.fhir.r4.core" in str(f)]
    return Validator(build_registry(core, [tmp_path]))


PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:oid:1.2.208.176.1.2", "value": "0101010101"}],
    "name": [{"family": "Testesen"}],
    "birthDate": "2001-01-01",
}


def test_differential_only_profile_gets_a_snapshot_and_validates(tmp_path: Path) -> None:
    result = _validator_with(tmp_path).validate(PATIENT, PROFILE_URL)
    assert result.ok, result.issues


def test_own_profile_cardinality_slice_and_invariant(tmp_path: Path) -> None:
    validator = _validator_with(tmp_path)
    patient = {"resourceType": "Patient", "identifier": [{"system": "urn:other", "value": "1"}]}
    found = {(i.message_id, i.expression) for i in validator.validate(patient, PROFILE_URL).errors}
    assert ("validation.cardinality-min", "Patient.birthDate") in found
    assert ("validation.closed-slicing", "Patient.identifier[0]") in found
    assert ("validation.cardinality-min", "Patient.identifier") in found
    assert ("validation.invariant", "Patient") in found


def test_fhirpath_evaluation_error_is_a_warning_with_the_key(tmp_path: Path) -> None:
    result = _validator_with(tmp_path, "name.noSuchFunction()").validate(PATIENT, PROFILE_URL)
    assert result.ok
    warnings = [i for i in result.issues if i.message_id == "validation.invariant-error"]
    assert warnings and "test-1" in warnings[0].diagnostics and warnings[0].severity == "warning"


def test_known_broken_hospital_notification_invariants_are_warnings_naming_the_defect(validator: Validator) -> None:
    result = validator.validate(load_reference(HN_SLHJ))
    assert result.ok
    defects = [i for i in result.issues if i.message_id == "validation.invariant-defect"]
    keys = {i.diagnostics.split(" ")[0] for i in defects}
    assert {"medcom-hospitalNotification-1", "medcom-hospitalNotification-3"} <= keys
    assert all("http://medcomfhir.dk/fhir/" in i.diagnostics and i.severity == "warning" for i in defects)


def test_base_resource_without_profile_checks_required_codes(validator: Validator) -> None:
    result = validator.validate({"resourceType": "CarePlan", "status": "bogus", "intent": "plan", "subject": {}})
    found = {(i.message_id, i.expression) for i in result.errors}
    assert ("validation.code-not-in-valueset", "CarePlan.status") in found
    assert ("validation.invariant", "CarePlan.subject") in found  # ele-1: an empty element


def test_external_code_system_is_reported_as_not_checked(validator: Validator) -> None:
    bundle = load_reference(HN_SLHJ)
    patient = bundle["entry"][1]["resource"]
    # Attachment.contentType has a required binding to BCP-13 MIME types, a system we do not hold
    patient["photo"] = [{"contentType": "image/png", "url": "https://photos.hospital.test/photo.png"}]
    result = validator.validate(patient, package="medcom.fhir.dk.hospitalnotification")
    assert any(i.message_id == "validation.code-not-checked" for i in result.issues)


def test_operation_outcome_of_a_result(validator: Validator) -> None:
    outcome = validator.validate({"resourceType": "Patient", "gender": "robot"}).operation_outcome()
    assert outcome["resourceType"] == "OperationOutcome"
    errors = [issue for issue in outcome["issue"] if issue["severity"] == "error"]
    assert [issue["expression"] for issue in errors] == [["Patient.gender"]]
    assert errors[0]["details"]["coding"][0]["code"] == "validation.code-not-in-valueset"


def test_public_surface_is_pinned() -> None:
    assert sorted(gateway.validation.__all__) == [
        "FhirReading",
        "Registry",
        "ValidationResult",
        "Validator",
        "build_registry",
        "default_validator",
        "read_fhir_xml",
        "resource_from_xml",
        "resource_to_xml",
        "warm_for_messages",
    ]


def test_message_ids_are_documented() -> None:
    import re

    folder = Path(gateway.validation.__file__).parent
    source = "".join(module.read_text() for module in sorted(folder.glob("*.py")))
    used = set(re.findall(r'"(validation\.[a-z0-9-]+)"', source))
    documented = set(re.findall(r"`(validation\.[a-z0-9-]+)`", gateway.validation.__doc__ or ""))
    assert used <= documented, used - documented


def test_malformed_coding_is_an_issue_not_a_crash() -> None:
    from gateway.validation import default_validator

    patient_with_bad_coding = {
        "resourceType": "Consent",
        "status": "active",
        "scope": {"coding": 7},
        "category": [{"coding": "x"}],
    }
    result = default_validator().validate(patient_with_bad_coding)
    assert not result.ok
    assert any("scope" in (issue.expression or "") for issue in result.issues)


def test_slice_discriminator_values_are_read_as_the_discriminator_walk_reads_them(tmp_path: Path) -> None:
    validator = _validator_with(tmp_path)
    identifiers = [
        {"system": ["urn:oid:1.2.208.176.1.2"], "value": "1"},  # malformed, but a list holding the fixed system
        {"system": 7, "value": "2"},
        {"value": "3"},
        {"system": "urn:oid:1.2.208.176.1.2", "value": "4"},
    ]
    found = {
        (i.message_id, i.expression)
        for i in validator.validate(dict(PATIENT, identifier=identifiers), PROFILE_URL).errors
    }
    assert ("validation.json-shape", "Patient.identifier[0].system") in found
    assert ("validation.closed-slicing", "Patient.identifier[0]") not in found
    assert ("validation.closed-slicing", "Patient.identifier[1]") in found
    assert ("validation.closed-slicing", "Patient.identifier[2]") in found
    assert ("validation.closed-slicing", "Patient.identifier[3]") not in found


ABSENT = {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "masked"}
PRIMITIVE_ELEMENT_CASES = [
    # (the `_element` part, the issue expected, or None for a valid one)
    ({"_gender": {"extension": 2.5}}, ("validation.json-shape", "Patient.gender.extension")),
    ({"_gender": "unknown"}, ("validation.json-shape", "Patient.gender")),
    ({"_gender": {"colour": "red"}}, ("validation.unknown-element", "Patient.gender.colour")),
    ({"_gender": {"id": 3}}, ("validation.json-shape", "Patient.gender.id")),
    ({"_gender": {"extension": [7]}}, ("validation.json-shape", "Patient.gender.extension[0]")),
    ({"_identifier": {}}, ("validation.unknown-element", "Patient._identifier")),
    ({"name": [{"_id": {"extension": [ABSENT]}, "text": "x"}]}, ("validation.unknown-element", "Patient.name[0]._id")),
    (
        {"extension": [{"url": "http://example.org/x", "_url": {}, "valueString": "x"}]},
        ("validation.unknown-element", "Patient.extension[0]._url"),
    ),
    (
        {"text": {"status": "generated", "div": "<div xmlns='http://www.w3.org/1999/xhtml'>x</div>", "_div": {}}},
        ("validation.unknown-element", "Patient.text._div"),
    ),
    ({"name": [{"given": ["A", "B"], "_given": [None]}]}, ("validation.json-shape", "Patient.name[0].given")),
    ({"name": [{"given": ["A"], "_given": {"id": "g"}}]}, ("validation.json-shape", "Patient.name[0].given")),
    ({"_gender": {"extension": [ABSENT]}}, None),
    ({"gender": None, "_gender": {}}, ("validation.invariant", "Patient.gender")),
    ({"gender": None, "_gender": {"id": "g"}}, ("validation.invariant", "Patient.gender")),
    ({"name": [{"given": ["A", None], "_given": [None, {"extension": [ABSENT]}]}]}, None),
    ({"name": [{"given": ["A", "B"], "_given": [None, {"id": "b"}]}]}, None),
]


def test_a_primitives_id_and_extensions_are_checked_as_json_requires() -> None:
    """FHIR R4 JSON §2.6.2.7: `_name` is an object with id and extension (an array of those, or nulls, as long as
    the values for a repeating primitive)."""
    from gateway.validation import default_validator

    for part, expected in PRIMITIVE_ELEMENT_CASES:
        patient = {"resourceType": "Patient", "gender": "male", **part}
        patient = {name: value for name, value in patient.items() if value is not None}
        found = {(i.message_id, i.expression) for i in default_validator().validate(patient).errors}
        if expected is None:
            assert not found, (part, found)
        else:
            assert expected in found, (part, found)


def test_a_reference_target_is_walked_against_the_most_derived_profile_only(validator: Validator) -> None:
    """Conformance to a profile follows from conformance to one derived from it (same version): the HN
    MessageHeader's plan knows the messaging MessageHeader it derives from."""
    hn = validator.plan(
        "http://medcomfhir.dk/ig/hospitalnotification/StructureDefinition/medcom-hospitalNotification-messageHeader",
        None,
    )
    assert hn is not None
    messaging = validator.plan(
        "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-messageHeader", validator.closure_of(hn)
    )
    assert messaging is not None and messaging.canonical in hn.ancestors
    assert "http://hl7.org/fhir/StructureDefinition/MessageHeader|4.0.1" in hn.ancestors
    bundle = load_reference(HN_SLHJ)
    broken = json.loads(json.dumps(bundle))
    header = broken["entry"][0]["resource"]
    del header["eventCoding"]  # required by both profiles
    result = validator.validate(broken)
    # an invalid header is still reported: the shortcut only skips a walk a valid derived profile makes redundant
    assert ("validation.cardinality-min", "Bundle.entry[0].resource.event") in {
        (i.message_id, i.expression) for i in result.errors
    }


def test_an_element_defined_by_content_reference_is_checked_as_its_target(validator: Validator) -> None:
    """`Bundle.entry.link` is `#Bundle.link`; `Questionnaire.item.item` is `#Questionnaire.item`, nested."""
    bundle = load_reference(HN_SLHJ)
    broken = json.loads(json.dumps(bundle))
    broken["entry"][1]["link"] = [{"relation": 5, "colour": "red"}]
    found = {(i.message_id, i.expression) for i in validator.validate(broken).errors}
    assert ("validation.unknown-element", "Bundle.entry[1].link[0].colour") in found
    assert ("validation.primitive-format", "Bundle.entry[1].link[0].relation") in found
    assert ("validation.cardinality-min", "Bundle.entry[1].link[0].url") in found
    fine = json.loads(json.dumps(bundle))
    fine["entry"][1]["link"] = [{"relation": "self", "url": "http://fhir.hospital.test/Patient/1"}]
    assert validator.validate(fine).ok
    nested = {
        "resourceType": "Questionnaire",
        "status": "active",
        "item": [{"linkId": "1", "type": "group", "item": [{"linkId": "1.1", "type": "bogus"}]}],
    }
    found = {(i.message_id, i.expression) for i in validator.validate(nested).errors}
    assert ("validation.code-not-in-valueset", "Questionnaire.item[0].item[0].type") in found
