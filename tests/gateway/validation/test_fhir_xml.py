"""Our FHIR R4 XML reader and writer: lossless JSON ⇄ XML on every example and test case, and what reading reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from lxml import etree

from gateway.validation import Validator, read_fhir_xml, resource_from_xml, resource_to_xml
from mappings.issues import IssueError
from tests.gateway.validation.conformance import SUITE
from tests.gateway.validation.conftest import REFERENCE
from tests.gateway.validation.test_examples import EXAMPLES, XML_EXAMPLES

ROOT = Path(__file__).resolve().parents[3]
OWN = [
    p
    for p in [
        *sorted((ROOT / "fixtures" / "samples" / "inbound" / "medcom").glob("*.json")),
        *sorted((ROOT / "profiles").glob("*.json")),
    ]
    if "resourceType" in orjson.loads(p.read_bytes())  # not the plan document's JSON Schema
]
SUITE_JSON = sorted(p for p in SUITE.rglob("*.json") if p.parent != SUITE / "outcomes" and "outcomes" not in p.parts)
SUITE_XML = sorted(SUITE.rglob("*.xml"))
STRUCTURE = (
    "validation.unknown-element",
    "validation.json-shape",
    "validation.not-a-resource",
    "validation.unknown-resource-type",
)


def _json_files() -> list[Path]:
    return [*OWN, *(REFERENCE / relative for relative in EXAMPLES)]


def _roundtrip(resource: dict[str, Any]) -> dict[str, Any]:
    return read_fhir_xml(resource_to_xml(resource)).resource


def _same(first: Any, second: Any) -> bool:
    """Equal as FHIR: narratives compare as canonical XML (`<p></p>` and `<p/>` are one element)."""
    return _canonical(first) == _canonical(second)


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _c14n(item) if key == "div" and isinstance(item, str) else _canonical(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    return value


def _c14n(div: str) -> bytes:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.tostring(etree.fromstring(div.encode(), parser), method="c14n")


@pytest.mark.parametrize("path", _json_files(), ids=lambda p: p.name)
def test_json_to_xml_and_back_is_lossless_on_examples_and_our_own_resources(path: Path) -> None:
    resource = orjson.loads(path.read_bytes())
    assert _same(_roundtrip(resource), resource)


def test_json_to_xml_and_back_is_lossless_on_every_well_formed_test_case(validator: Validator) -> None:
    """The suite's JSON files without structural errors (unknown elements, wrong JSON shapes) come back as they
    went; the others are refused by the writer with an issue, never dropped silently or crashed on."""
    lossless = refused = 0
    for path in SUITE_JSON:
        try:
            resource = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError:
            continue  # the suite's deliberately broken JSON
        if not isinstance(resource, dict) or "resourceType" not in resource:
            continue
        issues = validator.validate(resource).issues
        if any(i.message_id == "validation.primitive-format" and "is not a JSON" in i.diagnostics for i in issues):
            continue  # `"abstract": "false"`: XML has no JSON types to keep the mistake in
        try:
            xml = resource_to_xml(resource)
        except IssueError:
            assert any(i.message_id in STRUCTURE for i in issues), path.name  # refused only for a reason
            refused += 1
            continue
        assert _same(read_fhir_xml(xml).resource, resource), path.name
        lossless += 1
    assert lossless >= 80 and refused <= 10, (lossless, refused)


@pytest.mark.parametrize(
    "path",
    [*SUITE_XML, *(REFERENCE / relative for relative in XML_EXAMPLES)],
    ids=lambda p: p.name,
)
def test_xml_to_json_and_back_is_lossless(validator: Validator, path: Path) -> None:
    try:
        reading = read_fhir_xml(path.read_bytes())
    except IssueError:
        return  # no FHIR resource at all (the suite's broken XML): reported, not read
    if reading.issues:
        return  # what breaks the definitions is reported, and cannot be written back
    try:
        xml = resource_to_xml(reading.resource)
    except IssueError:  # a singular element given twice: kept as an array for the validator, not writable
        assert any(i.message_id == "validation.json-shape" for i in validator.validate(reading.resource).issues)
        return
    assert _same(read_fhir_xml(xml).resource, reading.resource)


def test_every_test_case_xml_reads_or_says_why() -> None:
    read = [p for p in SUITE_XML if not _raises(p)]
    assert len(read) >= 70


def _raises(path: Path) -> bool:
    try:
        read_fhir_xml(path.read_bytes())
    except IssueError:
        return True
    return False


F = 'xmlns="http://hl7.org/fhir"'


def test_primitive_ids_and_extensions_go_to_underscore_names() -> None:
    xml = f"""<Patient {F}>
      <!-- a comment is dropped -->
      <id value="p1"/>
      <active value="true"/>
      <name>
        <family id="f1" value="Hansen">
          <extension url="http://hl7.org/fhir/StructureDefinition/humanname-own-prefix">
            <valueString value="van"/>
          </extension>
        </family>
        <given value="Søren"/>
        <given>
          <extension url="http://hl7.org/fhir/StructureDefinition/data-absent-reason">
            <valueCode value="unknown"/>
          </extension>
        </given>
      </name>
      <multipleBirthInteger value="2"/>
    </Patient>"""
    assert resource_from_xml(xml.encode()) == {
        "resourceType": "Patient",
        "id": "p1",
        "name": [
            {
                "family": "Hansen",
                "_family": {
                    "id": "f1",
                    "extension": [
                        {"url": "http://hl7.org/fhir/StructureDefinition/humanname-own-prefix", "valueString": "van"}
                    ],
                },
                "given": ["Søren", None],
                "_given": [
                    None,
                    {
                        "extension": [
                            {
                                "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                                "valueCode": "unknown",
                            }
                        ]
                    },
                ],
            }
        ],
        "active": True,
        "multipleBirthInteger": 2,
    }


def test_the_narrative_is_kept_as_xhtml_text() -> None:
    div = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Hej <b>du</b></p></div>'
    xml = f'<Patient {F}><text><status value="generated"/>{div}</text></Patient>'
    resource = resource_from_xml(xml.encode())
    assert resource["text"]["div"] == '<div xmlns="http://www.w3.org/1999/xhtml"><p>Hej <b>du</b></p></div>'
    assert b"<p>Hej <b>du</b></p>" in resource_to_xml(resource)


def test_a_second_singular_element_is_kept_for_the_validator_to_report(validator: Validator) -> None:
    xml = f'<Patient {F}><gender value="male"/><gender value="female"/></Patient>'
    resource = resource_from_xml(xml.encode())
    assert resource["gender"] == ["male", "female"]
    assert ("validation.json-shape", "Patient.gender") in {
        (i.message_id, i.expression) for i in validator.validate(resource).errors
    }


@pytest.mark.parametrize(
    ("xml", "message_id", "expression"),
    [
        (f'<Patient {F}><gender value="male"/><active value="true"/></Patient>', "fhir-xml.order", "Patient.active"),
        (f'<Patient {F}><shoeSize value="44"/></Patient>', "fhir-xml.unknown", "Patient.shoeSize"),
        (f'<Patient {F} colour="blue"/>', "fhir-xml.unknown", "Patient"),
        (f"<Patient {F}><name>Hansen</name></Patient>", "fhir-xml.text", "Patient.name"),
    ],
)
def test_what_the_definitions_do_not_allow_is_reported_with_its_path(
    xml: str, message_id: str, expression: str
) -> None:
    issues = read_fhir_xml(xml.encode()).issues
    assert (message_id, expression) in {(i.message_id, i.expression) for i in issues}
    with pytest.raises(IssueError):
        resource_from_xml(xml.encode())


@pytest.mark.parametrize(
    "data",
    [
        b'<!DOCTYPE x [<!ENTITY a "b">]><Patient xmlns="http://hl7.org/fhir"/>',
        b"<Patient",
        b'<Patient xmlns="http://example.org/not-fhir"/>',
    ],
)
def test_what_is_no_fhir_xml_is_refused(data: bytes) -> None:
    with pytest.raises(IssueError):
        read_fhir_xml(data)


def test_contained_resources_and_bundle_entries_are_nested_resources() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": "urn:uuid:2d3b8a40-1e3f-4a52-9b6b-6d5e4f3a2b1c",
                "resource": {
                    "resourceType": "Patient",
                    "contained": [{"resourceType": "Organization", "id": "o", "name": "Botilbuddet"}],
                    "managingOrganization": {"reference": "#o"},
                },
            }
        ],
    }
    xml = resource_to_xml(bundle)
    assert b'<resource><Patient><contained><Organization><id value="o"/>' in xml
    assert json.loads(json.dumps(_roundtrip(bundle))) == bundle


def test_the_writer_refuses_what_it_cannot_place() -> None:
    with pytest.raises(IssueError):
        resource_to_xml({"resourceType": "Patient", "shoeSize": 44})
    with pytest.raises(IssueError):
        resource_to_xml({"resourceType": "NoSuchThing"})
