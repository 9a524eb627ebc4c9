"""Systematic mutations of valid MedCom messages: each must give the expected error at the expected place."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from gateway.validation import Validator
from tests.gateway.validation.conftest import CC_BUNDLE, HN_SLHJ, load_reference

Resource = dict[str, Any]
Mutation = Callable[[Resource], None]

# HN SLHJ bundle entries: 0 MessageHeader, 1 Patient, 2 Encounter, 3 Organization (sender), 4 Organization
# (receiver), 5-6 Provenance. CC bundle: 0 MessageHeader, 1 Patient, 2 Communication, ..., 7 Provenance.


def _resource(bundle: Resource, index: int) -> Resource:
    resource: Resource = bundle["entry"][index]["resource"]
    return resource


def _second_patient(bundle: Resource) -> None:
    patient = copy.deepcopy(bundle["entry"][1])
    patient["fullUrl"] = patient["fullUrl"].replace("6841b54e", "7841b54e")
    patient["resource"]["id"] = "7841b54e-81cd-11ed-a1eb-0242ac120002"
    bundle["entry"].append(patient)


def _drop_provenances(bundle: Resource) -> None:
    bundle["entry"] = bundle["entry"][:5]


def _sor_of(bundle: Resource, index: int) -> Resource:
    identifiers = _resource(bundle, index)["identifier"]
    found: Resource = next(i for i in identifiers if i["system"] == "urn:oid:1.2.208.176.1.1")
    return found


HN_MUTATIONS: list[tuple[str, Mutation, str, str]] = [
    (
        "drop required Encounter.class",
        lambda b: _resource(b, 2).pop("class"),
        "validation.cardinality-min",
        "Bundle.entry[2].resource.class",
    ),
    (
        "drop required Encounter.period.start",
        lambda b: _resource(b, 2)["period"].pop("start"),
        "validation.cardinality-min",
        "Bundle.entry[2].resource.period.start",
    ),
    (
        "drop required Bundle.timestamp",
        lambda b: b.pop("timestamp"),
        "validation.cardinality-min",
        "Bundle.timestamp",
    ),
    (
        "break fixed event code",
        lambda b: _resource(b, 0)["eventCoding"].update(code="care-communication-message"),
        "validation.pattern-value",
        "Bundle.entry[0].resource.event.ofType(Coding)",
    ),
    (
        "break pattern Bundle.type",
        lambda b: b.update(type="collection"),
        "validation.pattern-value",
        "Bundle.type",
    ),
    (
        "Encounter.class outside the required value set",
        lambda b: _resource(b, 2)["class"].update(code="AMB"),
        "validation.code-not-in-valueset",
        "Bundle.entry[2].resource.class",
    ),
    (
        "Encounter.status outside the required value set",
        lambda b: _resource(b, 2).update(status="planned"),
        "validation.code-not-in-valueset",
        "Bundle.entry[2].resource.status",
    ),
    (
        "Provenance.activity outside the required value set",
        lambda b: _resource(b, 6)["activity"]["coding"][0].update(code="bogus-activity"),
        "validation.code-not-in-valueset",
        "Bundle.entry[6].resource.activity",
    ),
    (
        "invariant medcom-hospitalNotification-2: two patients",
        _second_patient,
        "validation.invariant",
        "Bundle",
    ),
    (
        "invariant medcom-hospitalNotification-4: patient without a real CPR",
        lambda b: _resource(b, 1)["identifier"][0].update(system="urn:oid:1.2.208.176.1.6.1.1", value="0703921VJ4"),
        "validation.invariant",
        "Bundle",
    ),
    (
        "invariant medcom-hospitalNotification-6: on leave without a leave period",
        lambda b: _resource(b, 2).update(status="onleave"),
        "validation.invariant",
        "Bundle.entry[2].resource",
    ),
    (
        "invariant medcom-messaging-2: no Provenance",
        _drop_provenances,
        "validation.invariant",
        "Bundle",
    ),
    (
        "invariant cpr (DK-core): impossible date in the CPR number",
        lambda b: _resource(b, 1)["identifier"][0].update(value="3213479989"),
        "validation.invariant",
        "Bundle.entry[1].resource.identifier[0].value",
    ),
    (
        "invariant min-digits-sor (DK-core): short SOR code",
        lambda b: _sor_of(b, 3).update(value="12345"),
        "validation.invariant",
        "Bundle.entry[3].resource.identifier[1].value",
    ),
    (
        "closed slicing of MessageHeader.destination: unknown use",
        lambda b: _resource(b, 0)["destination"][0]["extension"][0]["valueCoding"].update(code="bcc"),
        "validation.closed-slicing",
        "Bundle.entry[0].resource.destination[0]",
    ),
    (
        "destination:cc is 0..0 in HospitalNotification",
        lambda b: _resource(b, 0)["destination"][0]["extension"][0]["valueCoding"].update(code="cc"),
        "validation.cardinality-max",
        "Bundle.entry[0].resource.destination",
    ),
    (
        "wrong reference target type: focus is a Patient",
        lambda b: _resource(b, 0)["focus"][0].update(reference="Patient/6841b54e-81cd-11ed-a1eb-0242ac120002"),
        "validation.reference-target-type",
        "Bundle.entry[0].resource.focus[0]",
    ),
    (
        "wrong reference target type: serviceProvider is a Patient",
        lambda b: _resource(b, 2)["serviceProvider"].update(reference="Patient/6841b54e-81cd-11ed-a1eb-0242ac120002"),
        "validation.reference-target-type",
        "Bundle.entry[2].resource.serviceProvider",
    ),
    (
        "reference target does not conform: receiver lacks its SOR identifier",
        lambda b: _resource(b, 4).update(identifier=[i for i in _resource(b, 4)["identifier"] if "gs1" in i["system"]]),
        "validation.reference-target-profile",
        "Bundle.entry[0].resource.destination[0].receiver",
    ),
    (
        "aggregation bundled: receiver not in the Bundle",
        lambda b: _resource(b, 0)["destination"][0]["receiver"].update(reference="Organization/not-here"),
        "validation.reference-not-bundled",
        "Bundle.entry[0].resource.destination[0].receiver",
    ),
    (
        "unknown element",
        lambda b: _resource(b, 2).update(colour="blue"),
        "validation.unknown-element",
        "Bundle.entry[2].resource.colour",
    ),
    (
        "dateTime in the wrong format",
        lambda b: _resource(b, 2)["period"].update(start="07-12-2022"),
        "validation.primitive-format",
        "Bundle.entry[2].resource.period.start",
    ),
    (
        "single element given as an array",
        lambda b: _resource(b, 2).update(**{"class": [_resource(b, 2)["class"]]}),
        "validation.json-shape",
        "Bundle.entry[2].resource.class",
    ),
]


@pytest.mark.parametrize(
    ("mutation", "message_id", "expression"),
    [pytest.param(m, i, e, id=name) for name, m, i, e in HN_MUTATIONS],
)
def test_hospital_notification_mutation_is_rejected(
    validator: Validator, mutation: Mutation, message_id: str, expression: str
) -> None:
    bundle = copy.deepcopy(load_reference(HN_SLHJ))
    assert validator.validate(bundle).ok
    mutation(bundle)
    result = validator.validate(bundle)
    found = [(i.message_id, i.expression) for i in result.errors]
    assert (message_id, expression) in found, found


CC_MUTATIONS: list[tuple[str, Mutation, str, str]] = [
    (
        "invariant medcom-careCommunication-5: priority without a referral category",
        lambda b: _resource(b, 2).update(priority="asap"),
        "validation.invariant",
        "Bundle.entry[2].resource",
    ),
    (
        "invariant medcom-uuidv4: Communication.identifier not a urn:uuid",
        lambda b: _resource(b, 2)["identifier"][0].update(value="12345"),
        "validation.invariant",
        "Bundle.entry[2].resource.identifier[0]",
    ),
    (
        "pattern Communication.status",
        lambda b: _resource(b, 2).update(status="completed"),
        "validation.pattern-value",
        "Bundle.entry[2].resource.status",
    ),
    (
        "closed slicing of Provenance.entity: an entity of another role",
        lambda b: _resource(b, 7)["entity"].append({"role": "derivation", "what": {"reference": "Communication/x"}}),
        "validation.closed-slicing",
        "Bundle.entry[7].resource.entity[1]",
    ),
    (
        "category outside the required value set",
        lambda b: _resource(b, 2)["category"][0]["coding"][0].update(code="gossip"),
        "validation.code-not-in-valueset",
        "Bundle.entry[2].resource.category[0]",
    ),
]


@pytest.mark.parametrize(
    ("mutation", "message_id", "expression"),
    [pytest.param(m, i, e, id=name) for name, m, i, e in CC_MUTATIONS],
)
def test_care_communication_mutation_is_rejected(
    validator: Validator, mutation: Mutation, message_id: str, expression: str
) -> None:
    bundle = copy.deepcopy(load_reference(CC_BUNDLE))
    assert validator.validate(bundle).ok
    mutation(bundle)
    result = validator.validate(bundle)
    found = [(i.message_id, i.expression) for i in result.errors]
    assert (message_id, expression) in found, found
