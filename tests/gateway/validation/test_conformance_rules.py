"""Rules that used to pass silently (issue 13), each against plain R4 core: what is reported, and where."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.validation import Validator
from gateway.validation.terminology import Membership, Terminology
from tests.gateway.validation.profiles import constraint_profile, profile_package

Found = set[tuple[str, str, str]]


def _found(validator: Validator, resource: dict[str, Any], profile: str | None = None) -> Found:
    return {(i.severity, i.message_id or "", i.expression or "") for i in validator.validate(resource, profile).issues}


def _patient(**elements: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", **elements}


#: (what, resource, an issue that must be reported as (severity, message id, expression)).
REPORTED: list[tuple[str, dict[str, Any], tuple[str, str, str]]] = [
    (
        "inv-1 on a parameter with a value[x] and a resource",
        {
            "resourceType": "Parameters",
            "parameter": [{"name": "a", "valueString": "x", "resource": {"resourceType": "Basic", "code": {}}}],
        },
        ("error", "validation.invariant", "Parameters.parameter[0]"),
    ),
    (
        "ras-2: a probability above 100",
        {
            "resourceType": "RiskAssessment",
            "status": "final",
            "subject": {"reference": "Patient/1"},
            "prediction": [{"probabilityDecimal": 101.5}],
        },
        ("error", "validation.invariant", "RiskAssessment.prediction[0]"),
    ),
    (
        "dom-3: a contained resource nothing refers to",
        {
            "resourceType": "Questionnaire",
            "status": "draft",
            "item": [{"linkId": "1", "type": "choice", "text": "#vs"}],
            "contained": [{"resourceType": "ValueSet", "id": "vs", "status": "draft"}],
        },
        ("error", "validation.invariant", "Questionnaire"),
    ),
    (
        "a required binding on a CodeableConcept with only text",
        {
            "resourceType": "AllergyIntolerance",
            "clinicalStatus": {"text": "active"},
            "patient": {"reference": "Patient/1"},
        },
        ("error", "validation.code-missing", "AllergyIntolerance.clinicalStatus"),
    ),
    (
        "a date that is not in the calendar",
        _patient(birthDate="2025-02-30"),
        ("error", "validation.primitive-format", "Patient.birthDate"),
    ),
    (
        "a dateTime on the 31st of April",
        _patient(deceasedDateTime="2024-04-31T10:00:00+02:00"),
        ("error", "validation.primitive-format", "Patient.deceased.ofType(dateTime)"),
    ),
    (
        "an integer beyond 32 bits",
        _patient(multipleBirthInteger=12345678901),
        ("error", "validation.primitive-format", "Patient.multipleBirth.ofType(integer)"),
    ),
    ("a resource id with a blank", _patient(id="bad id"), ("error", "validation.resource-id", "Patient.id")),
    ("a resource id of 65 characters", _patient(id="a" * 65), ("error", "validation.resource-id", "Patient.id")),
    (
        "an empty array",
        _patient(maritalStatus={"coding": [], "text": "x"}),
        ("error", "validation.json-shape", "Patient.maritalStatus.coding"),
    ),
    (
        "a reference naming a type its element does not allow, target absent",
        {"resourceType": "AllergyIntolerance", "patient": {"reference": "Organization/1"}},
        ("error", "validation.reference-target-type", "AllergyIntolerance.patient"),
    ),
    (
        "an absolute RESTful reference naming a type not allowed",
        {
            "resourceType": "AllergyIntolerance",
            "patient": {"reference": "https://fhir.example.org/r4/Organization/1/_history/2"},
        },
        ("error", "validation.reference-target-type", "AllergyIntolerance.patient"),
    ),
    (
        "an attachment whose size is not its data's",
        {
            "resourceType": "Media",
            "status": "completed",
            "content": {"contentType": "text/plain", "data": "SGVqIGZyYSBHYXRld2F5", "size": 100},
        },
        ("error", "validation.attachment-size", "Media.content"),
    ),
]

#: (what, resource, an error that must not be reported (message id, expression)).
NOT_REPORTED: list[tuple[str, dict[str, Any], tuple[str, str]]] = [
    (
        "inv-1 on a parameter with a value[x] only",
        {"resourceType": "Parameters", "parameter": [{"name": "a", "valueString": "x"}]},
        ("validation.invariant", "Parameters.parameter[0]"),
    ),
    (
        "ras-2: a probability of 100",
        {
            "resourceType": "RiskAssessment",
            "status": "final",
            "subject": {"reference": "Patient/1"},
            "prediction": [{"probabilityDecimal": 100}],
        },
        ("validation.invariant", "RiskAssessment.prediction[0]"),
    ),
    (
        "dom-3: a contained ValueSet used through a canonical",
        {
            "resourceType": "Questionnaire",
            "status": "draft",
            "item": [{"linkId": "1", "type": "choice", "answerValueSet": "#vs"}],
            "contained": [{"resourceType": "ValueSet", "id": "vs", "status": "draft"}],
        },
        ("validation.invariant", "Questionnaire"),
    ),
    (
        "a urn:uuid reference names no type",
        {
            "resourceType": "AllergyIntolerance",
            "patient": {"reference": "urn:uuid:8a3a7bf5-6d2b-4b41-9f51-6c2f0f2d55a1"},
        },
        ("validation.reference-target-type", "AllergyIntolerance.patient"),
    ),
    (
        "an attachment whose size is its data's (15 bytes, base64 padded)",
        {
            "resourceType": "Media",
            "status": "completed",
            "content": {"contentType": "text/plain", "data": "SGVqIGZyYSBHYXRld2F5", "size": 15},
        },
        ("validation.attachment-size", "Media.content"),
    ),
    (
        "the 29th of February in a leap year",
        _patient(birthDate="2024-02-29"),
        ("validation.primitive-format", "Patient.birthDate"),
    ),
    ("a year and month", _patient(birthDate="2024-02"), ("validation.primitive-format", "Patient.birthDate")),
    ("a resource id of 64 characters", _patient(id="a-." * 21 + "b"), ("validation.resource-id", "Patient.id")),
]


@pytest.mark.parametrize(("resource", "issue"), [pytest.param(r, i, id=w) for w, r, i in REPORTED])
def test_rule_is_reported(validator: Validator, resource: dict[str, Any], issue: tuple[str, str, str]) -> None:
    assert issue in _found(validator, resource)


@pytest.mark.parametrize(("resource", "issue"), [pytest.param(r, i, id=w) for w, r, i in NOT_REPORTED])
def test_rule_holds(validator: Validator, resource: dict[str, Any], issue: tuple[str, str]) -> None:
    assert issue not in {(m, e) for severity, m, e in _found(validator, resource) if severity == "error"}


AGE_OBSERVATION = "http://example.org/StructureDefinition/age-observation"


@pytest.mark.parametrize(("code", "reported"), [("m", True), ("a", False)])
def test_a_required_binding_on_a_quantity_checks_its_unit(validator: Validator, code: str, reported: bool) -> None:
    bound = {
        "id": "Observation.value[x]",
        "path": "Observation.value[x]",
        "type": [{"code": "Quantity"}],
        "binding": {"strength": "required", "valueSet": "http://hl7.org/fhir/ValueSet/age-units"},
    }
    engine = validator.extended([profile_package(AGE_OBSERVATION, "Observation", [bound])])
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "age"},
        "valueQuantity": {"value": 18, "system": "http://unitsofmeasure.org", "code": code},
    }
    issue = ("error", "validation.code-not-in-valueset", "Observation.value.ofType(Quantity)")
    assert (issue in _found(engine, observation, AGE_OBSERVATION)) is reported


def test_a_value_set_including_one_we_lack_leaves_every_system_unchecked() -> None:
    value_sets = {
        "urn:vs:outer": {
            "resourceType": "ValueSet",
            "compose": {
                "include": [{"valueSet": ["urn:vs:missing"]}, {"system": "urn:cs", "concept": [{"code": "a"}]}]
            },
        }
    }
    terminology = Terminology(value_sets.get)
    assert terminology.check("urn:vs:outer", "urn:cs", "a")[0] is Membership.MEMBER
    # a code of any system may be in the value set we do not have: "not checked", never "not a member"
    membership, why = terminology.check("urn:vs:outer", "http://loinc.org", "1234-5")
    assert membership is Membership.NOT_CHECKED
    assert "urn:vs:missing" in why


MEMBER_OF = "http://example.org/StructureDefinition/member-of-observation"


def test_member_of_a_value_set_that_cannot_be_expanded_is_a_not_checked_warning(validator: Validator) -> None:
    rule = {
        "id": "Observation",
        "path": "Observation",
        "constraint": [
            {
                "key": "test-member",
                "severity": "error",
                "human": "code from SNOMED CT",
                "expression": "code.memberOf('http://snomed.info/sct?fhir_vs') or code.text.exists()",
            }
        ],
    }
    engine = validator.extended([profile_package(MEMBER_OF, "Observation", [rule])])
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1234"}]},
    }
    found = _found(engine, observation, MEMBER_OF)
    assert ("warning", "validation.invariant-not-checked", "Observation") in found
    assert not any(severity == "error" for severity, _, _ in found)


LIMITED = "http://example.org/StructureDefinition/limited-observation"


@pytest.mark.parametrize(
    ("value", "message_id"),
    [(-1, "validation.min-value"), (0, None), (250, None), (251, "validation.max-value")],
)
def test_min_and_max_value_of_a_renamed_choice_are_checked(
    validator: Validator, value: int, message_id: str | None
) -> None:
    """`Observation.valueQuantity` names `value[x]` constrained to Quantity (FHIR R4 profiling, choice types)."""
    limits = {
        "path": "Observation.valueQuantity",
        "minValueQuantity": {"value": 0, "system": "http://unitsofmeasure.org", "code": "kg"},
        "maxValueQuantity": {"value": 250, "system": "http://unitsofmeasure.org", "code": "kg"},
    }
    engine = validator.extended([profile_package(LIMITED, "Observation", [limits])])
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "weight"},
        "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": "kg"},
    }
    errors = {(i.message_id, i.expression) for i in engine.validate(observation, LIMITED).errors}
    assert errors == ({(message_id, "Observation.value.ofType(Quantity)")} if message_id else set())


MIN_LENGTH = "http://example.org/StructureDefinition/min-length-patient"


def test_the_min_length_extension_is_checked(validator: Validator) -> None:
    rule = {
        "id": "Patient.id",
        "path": "Patient.id",
        "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/minLength", "valueInteger": 5}],
    }
    engine = validator.extended([profile_package(MIN_LENGTH, "Patient", [rule])])
    assert ("error", "validation.min-length", "Patient.id") in _found(engine, _patient(id="abc"), MIN_LENGTH)
    assert engine.validate(_patient(id="abcde"), MIN_LENGTH).ok


ORDERED = "http://example.org/StructureDefinition/ordered-patient"
_ORDERED_SLICING = [
    {
        "id": "Patient.identifier",
        "path": "Patient.identifier",
        "slicing": {"discriminator": [{"type": "value", "path": "system"}], "ordered": True, "rules": "open"},
    },
    {"id": "Patient.identifier:cpr", "path": "Patient.identifier", "sliceName": "cpr"},
    {"id": "Patient.identifier:cpr.system", "path": "Patient.identifier.system", "fixedUri": "urn:oid:1.2.208.176.1.2"},
    {"id": "Patient.identifier:local", "path": "Patient.identifier", "sliceName": "local"},
    {"id": "Patient.identifier:local.system", "path": "Patient.identifier.system", "fixedUri": "urn:local"},
]


@pytest.mark.parametrize(
    ("systems", "out_of_order"),
    [(["urn:oid:1.2.208.176.1.2", "urn:local"], None), (["urn:local", "urn:oid:1.2.208.176.1.2"], 1)],
)
def test_ordered_slicing_wants_the_slices_in_order(
    validator: Validator, systems: list[str], out_of_order: int | None
) -> None:
    engine = validator.extended([profile_package(ORDERED, "Patient", _ORDERED_SLICING)])
    patient = _patient(identifier=[{"system": system, "value": "1"} for system in systems])
    errors = {(i.message_id, i.expression) for i in engine.validate(patient, ORDERED).errors}
    expected = {("validation.slice-order", f"Patient.identifier[{out_of_order}]")} if out_of_order else set()
    assert errors == expected


UNKNOWN_TYPE_PROFILE = "http://example.org/StructureDefinition/unknown-type-profile-patient"


def test_an_unknown_type_profile_is_a_warning_not_a_silent_fallback(validator: Validator) -> None:
    typed = {
        "id": "Patient.identifier",
        "path": "Patient.identifier",
        "type": [{"code": "Identifier", "profile": ["http://example.org/StructureDefinition/no-such-identifier"]}],
    }
    engine = validator.extended([profile_package(UNKNOWN_TYPE_PROFILE, "Patient", [typed])])
    patient = _patient(identifier=[{"system": "urn:x", "value": "1"}])
    found = _found(engine, patient, UNKNOWN_TYPE_PROFILE)
    assert ("warning", "validation.profile-unknown", "Patient.identifier[0]") in found


MOTHERS_FAMILY = "http://hl7.org/fhir/StructureDefinition/humanname-mothers-family"
HOUSE_NUMBER = "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-houseNumber"

#: (what, resource, (severity, message id, expression) reported, or None for "no error at all").
EXTENSIONS: list[tuple[str, dict[str, Any], tuple[str, str, str] | None]] = [
    (
        "an extension nobody defines",
        _patient(extension=[{"url": "http://fhir.hospital.test/StructureDefinition/shoe-size", "valueInteger": 44}]),
        ("error", "validation.extension-unknown", "Patient.extension[0]"),
    ),
    (
        "an extension outside its context (HumanName.family only)",
        _patient(name=[{"family": "Hansen", "extension": [{"url": MOTHERS_FAMILY, "valueString": "Jensen"}]}]),
        ("error", "validation.extension-context", "Patient.name[0].extension[0]"),
    ),
    (
        "an extension in its context, on a primitive",
        _patient(name=[{"family": "Hansen", "_family": {"extension": [{"url": MOTHERS_FAMILY, "valueString": "J"}]}}]),
        None,
    ),
    (
        "an extension in its context, on a repeating primitive",
        _patient(address=[{"line": ["Vej 1"], "_line": [{"extension": [{"url": HOUSE_NUMBER, "valueString": "1"}]}]}]),
        None,
    ),
    (
        "a modifier extension used as an extension",
        {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"text": "x"},
            "subject": {"reference": "Patient/1"},
            "extension": [
                {"url": "http://hl7.org/fhir/StructureDefinition/request-doNotPerform", "valueBoolean": True}
            ],
        },
        ("error", "validation.extension-modifier", "MedicationRequest.extension[0]"),
    ),
    (
        "a cross-version extension is not checked",
        _patient(
            extension=[{"url": "http://hl7.org/fhir/5.0/StructureDefinition/extension-Patient.x", "valueString": "x"}]
        ),
        ("information", "validation.extension-not-checked", "Patient.extension[0]"),
    ),
]


@pytest.mark.parametrize(("resource", "issue"), [pytest.param(r, i, id=w) for w, r, i in EXTENSIONS])
def test_extension_rules(validator: Validator, resource: dict[str, Any], issue: tuple[str, str, str] | None) -> None:
    found = _found(validator, resource)
    if issue is None:
        assert not [i for i in found if i[0] == "error"], found
    else:
        assert issue in found


def test_an_unknown_extension_at_an_example_domain_is_allowed_only_when_asked(validator: Validator) -> None:
    patient = _patient(extension=[{"url": "http://example.org/fhir/StructureDefinition/x", "valueString": "x"}])
    strict = _found(validator, patient)
    assert ("error", "validation.extension-unknown", "Patient.extension[0]") in strict
    assert ("error", "validation.primitive-format", "Patient.extension[0].url") in strict
    lenient = _found(validator.extended([], allow_example_urls=True), patient)
    assert not [i for i in lenient if i[0] == "error"]
    assert ("information", "validation.extension-not-checked", "Patient.extension[0]") in lenient


def test_the_corrected_que_12_wants_enable_behavior_from_two_conditions(validator: Validator) -> None:
    """R4 publishes `enableWhen.count() > 2`; the rule (and R4B) says from two on (`invariants.ERRATA`)."""
    condition = {"question": "1", "operator": "exists", "answerBoolean": True}
    questionnaire = {
        "resourceType": "Questionnaire",
        "status": "draft",
        "item": [
            {"linkId": "1", "type": "boolean"},
            {"linkId": "2", "type": "boolean", "enableWhen": [condition, condition]},
        ],
    }
    assert ("error", "validation.invariant", "Questionnaire.item[1]") in _found(validator, questionnaire)


def test_a_contained_resource_needs_no_narrative_and_hash_refers_to_the_container(validator: Validator) -> None:
    """dom-6 applies to the resource itself, not what it contains; ref-1 lets `#` point at the container."""
    questionnaire = {
        "resourceType": "Questionnaire",
        "status": "draft",
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Spørgeskema</div>'},
        "contained": [
            {
                "resourceType": "Provenance",
                "id": "p",
                "target": [{"reference": "#"}],
                "recorded": "2024-01-01T10:00:00Z",
                "agent": [{"who": {"display": "x"}}],
            }
        ],
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/event-basedOn", "valueReference": {"reference": "#p"}}
        ],
    }
    found = _found(validator, questionnaire)
    assert not [i for i in found if i[1] == "validation.invariant"], found


BUNDLE_RULE = "http://example.org/StructureDefinition/bundle-entry-rule"


def test_an_invariant_on_a_bundle_entry_sees_the_bundle_as_resource(validator: Validator) -> None:
    rule = {
        "id": "Bundle.entry.resource",
        "path": "Bundle.entry.resource",
        "constraint": [
            {
                "key": "test-entry",
                "severity": "error",
                "human": "entries are patients of a batch Bundle",
                "expression": "%context.type().name = 'Patient' and %resource.type().name = 'Bundle' "
                "and %resource.type = 'batch'",
            }
        ],
    }
    engine = validator.extended([profile_package(BUNDLE_RULE, "Bundle", [rule])])
    post = {"method": "POST", "url": "Patient"}
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [{"resource": _patient(id="a"), "request": post}]}
    assert not [i for i in _found(engine, bundle, BUNDLE_RULE) if i[0] == "error"]
    bundle["entry"].append({"resource": {"resourceType": "Basic", "code": {"text": "x"}}, "request": post})
    assert ("error", "validation.invariant", "Bundle.entry[1].resource") in _found(engine, bundle, BUNDLE_RULE)


def test_a_resource_with_several_type_profiles_conforms_to_one_of_them(validator: Validator) -> None:
    """ElementDefinition.type.profile: with several, the content must conform to at least one."""
    named = {"id": "Patient.name", "path": "Patient.name", "min": 1}
    aged = {"id": "Patient.birthDate", "path": "Patient.birthDate", "min": 1}
    either = {
        "id": "Parameters.parameter.resource",
        "path": "Parameters.parameter.resource",
        "type": [{"code": "Resource", "profile": [f"{NAMED}", f"{AGED}"]}],
    }
    engine = validator.extended(
        [
            profile_package(NAMED, "Patient", [named]),
            profile_package(AGED, "Patient", [aged]),
            profile_package(EITHER, "Parameters", [either]),
        ]
    )
    aged_patient = {
        "resourceType": "Parameters",
        "parameter": [{"name": "p", "resource": _patient(birthDate="2001-02-03")}],
    }
    assert engine.validate(aged_patient, EITHER).ok
    nobody = {"resourceType": "Parameters", "parameter": [{"name": "p", "resource": _patient(active=True)}]}
    assert not engine.validate(nobody, EITHER).ok


NAMED = "http://example.org/StructureDefinition/named-patient"
AGED = "http://example.org/StructureDefinition/aged-patient"
EITHER = "http://example.org/StructureDefinition/named-or-aged-parameters"


SECTIONS = "http://example.org/StructureDefinition/sectioned-composition"


def test_a_required_slice_is_missing_when_the_sliced_element_is_absent(validator: Validator) -> None:
    slicing = [
        {
            "id": "Composition.section",
            "path": "Composition.section",
            "slicing": {"discriminator": [{"type": "pattern", "path": "code"}], "rules": "open"},
        },
        {"id": "Composition.section:plan", "path": "Composition.section", "sliceName": "plan", "min": 1},
        {
            "id": "Composition.section:plan.code",
            "path": "Composition.section.code",
            "patternCodeableConcept": {"text": "plan"},
        },
    ]
    engine = validator.extended([profile_package(SECTIONS, "Composition", slicing)])
    composition = {
        "resourceType": "Composition",
        "status": "final",
        "type": {"text": "x"},
        "date": "2024-01-01",
        "author": [{"display": "x"}],
        "title": "x",
    }
    assert ("error", "validation.cardinality-min", "Composition.section") in _found(engine, composition, SECTIONS)


TYPED_ENTRIES = "http://example.org/StructureDefinition/typed-list"


@pytest.mark.parametrize(("targets", "ok"), [(["#c", "#o"], True), (["#o", "#o"], False)])
def test_a_type_discriminator_through_resolve_reads_the_target_type(
    validator: Validator, targets: list[str], ok: bool
) -> None:
    slicing = [
        {
            "id": "List.entry",
            "path": "List.entry",
            "slicing": {"discriminator": [{"type": "type", "path": "item.resolve()"}], "rules": "closed"},
        },
        {"id": "List.entry:condition", "path": "List.entry", "sliceName": "condition", "min": 1, "max": "1"},
        {
            "id": "List.entry:condition.item",
            "path": "List.entry.item",
            "type": [{"code": "Reference", "targetProfile": ["http://hl7.org/fhir/StructureDefinition/Condition"]}],
        },
        {"id": "List.entry:observation", "path": "List.entry", "sliceName": "observation", "max": "1"},
        {
            "id": "List.entry:observation.item",
            "path": "List.entry.item",
            "type": [{"code": "Reference", "targetProfile": ["http://hl7.org/fhir/StructureDefinition/Observation"]}],
        },
    ]
    engine = validator.extended([profile_package(TYPED_ENTRIES, "List", slicing)])
    listing = {
        "resourceType": "List",
        "status": "current",
        "mode": "working",
        "contained": [
            {"resourceType": "Condition", "id": "c", "subject": {"reference": "Patient/1"}},
            {"resourceType": "Observation", "id": "o", "status": "final", "code": {"text": "x"}},
        ],
        "entry": [{"item": {"reference": target}} for target in targets],
    }
    assert engine.validate(listing, TYPED_ENTRIES).ok is ok


def test_a_canonical_is_absolute_unless_a_fragment(validator: Validator) -> None:
    measure = {"resourceType": "Measure", "status": "draft", "library": ["Library/cms146"]}
    assert ("error", "validation.primitive-format", "Measure.library[0]") in _found(validator, measure)
    measure["library"] = ["https://fhir.hospital.test/Library/cms146"]
    assert ("error", "validation.primitive-format", "Measure.library[0]") not in _found(validator, measure)


ADDITIONAL = "http://example.org/StructureDefinition/additionally-bound-observation"


@pytest.mark.parametrize(("code", "ok"), [("final", True), ("finished", False)])
def test_a_required_additional_binding_is_checked(validator: Validator, code: str, ok: bool) -> None:
    bound = {
        "id": "Observation.code",
        "path": "Observation.code",
        "binding": {
            "strength": "example",
            "valueSet": "http://hl7.org/fhir/ValueSet/observation-codes",
            "extension": [
                {
                    "url": "http://hl7.org/fhir/5.0/StructureDefinition/extension-ElementDefinition.binding.additional",
                    "extension": [
                        {"url": "purpose", "valueCode": "required"},
                        {"url": "valueSet", "valueCanonical": "http://hl7.org/fhir/ValueSet/observation-status"},
                    ],
                }
            ],
        },
    }
    engine = validator.extended([profile_package(ADDITIONAL, "Observation", [bound])])
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://hl7.org/fhir/observation-status", "code": code}]},
    }
    assert engine.validate(observation, ADDITIONAL).ok is ok


def test_a_reference_is_taken_at_its_word_about_its_type_unless_told_not_to(validator: Validator) -> None:
    allergy = {"resourceType": "AllergyIntolerance", "patient": {"reference": "Organization/1"}}
    issue = ("error", "validation.reference-target-type", "AllergyIntolerance.patient")
    assert issue in _found(validator, allergy)
    assert issue not in _found(validator.extended([], assume_valid_rest_references=False), allergy)


def _definition(elements: list[dict[str, Any]]) -> dict[str, Any]:
    return constraint_profile("http://example.org/StructureDefinition/under-test", "Observation", elements)


@pytest.mark.parametrize(
    ("elements", "where"),
    [
        ([{"path": "Observation.valueBla", "min": 1}], "StructureDefinition"),
        (
            [
                {
                    "path": "Observation.valueQuantity",
                    "type": [{"code": "Quantity", "profile": ["http://hl7.org/fhir/StructureDefinition/Count"]}],
                }
            ],
            "StructureDefinition.differential.element[0].type[0].profile[0]",
        ),
    ],
)
def test_a_profile_whose_differential_does_not_apply_to_its_base_is_invalid(
    validator: Validator, elements: list[dict[str, Any]], where: str
) -> None:
    assert ("error", "validation.profile-definition", where) in _found(validator, _definition(elements))


def test_a_profile_that_applies_to_its_base_is_no_profile_definition_problem(validator: Validator) -> None:
    elements = [{"path": "Observation.valueQuantity", "type": [{"code": "Quantity"}], "min": 1}]
    assert not [i for i in _found(validator, _definition(elements)) if i[1] == "validation.profile-definition"]
