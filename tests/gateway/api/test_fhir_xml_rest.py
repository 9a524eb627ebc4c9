"""FHIR XML on the REST API (FHIR R4 http.html#mime): XML request bodies, answers by Accept and `_format`, XML
OperationOutcomes, 415 for other body types. XML answers are read back with the gateway's own R4 XML reader and
validated like the JSON they stand for."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from lxml import etree

from gateway.api.formats import response_type
from gateway.validation import default_validator
from gateway.validation.fhir_xml import resource_from_xml, resource_to_xml

FHIR_XML = "application/fhir+xml"
NS = {"f": "http://hl7.org/fhir"}


def patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.208.176.1.2", "value": "0101010101"}],
        "name": [{"family": "Ærø", "given": ["Søren"]}],
        "birthDate": "1947-09-25",
    }


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    assert not default_validator().validate(resource).errors, resource
    return resource


@pytest.mark.parametrize(
    ("accept", "format_parameter", "expected"),
    [
        (None, None, "application/fhir+json"),
        ("application/fhir+xml", None, FHIR_XML),
        ("application/xml", None, "application/xml"),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", None, "application/xml"),
        ("application/fhir+json;q=0.5, application/fhir+xml", None, FHIR_XML),
        ("application/fhir+xml;q=0", None, "application/fhir+json"),
        ("text/html", None, "application/fhir+json"),
        ("application/fhir+xml", "json", "application/fhir+json"),
        (None, "xml", FHIR_XML),
        (None, "application/fhir xml", FHIR_XML),  # a `+` sent unescaped in a query string arrives as a space
        (None, "text/turtle", "application/fhir+json"),
        ("application/json+fhir", None, "application/fhir+json"),
    ],
)
def test_negotiation(accept: str | None, format_parameter: str | None, expected: str) -> None:
    assert response_type(accept, format_parameter) == expected


async def test_create_in_xml_read_in_xml_and_json(client: httpx.AsyncClient) -> None:
    body = resource_to_xml(patient())
    created = await client.post("/fhir/Patient", content=body, headers={"Content-Type": FHIR_XML, "Accept": FHIR_XML})
    assert created.status_code == 201, created.text
    assert created.headers["content-type"].startswith(FHIR_XML)
    stored = valid(resource_from_xml(created.content))
    assert stored["name"][0]["family"] == "Ærø"
    assert created.headers["etag"] == 'W/"1"' and "location" in created.headers
    as_json = await client.get(f"/fhir/Patient/{stored['id']}")
    assert as_json.headers["content-type"].startswith("application/fhir+json")
    assert as_json.json() == stored
    as_xml = await client.get(f"/fhir/Patient/{stored['id']}?_format=xml")
    assert as_xml.headers["content-type"].startswith(FHIR_XML)
    assert resource_from_xml(as_xml.content) == stored


async def test_update_search_history_and_transaction_in_xml(client: httpx.AsyncClient) -> None:
    created = (await client.post("/fhir/Patient", json=patient())).json()
    changed = resource_to_xml({**created, "gender": "male"})
    updated = await client.put(
        f"/fhir/Patient/{created['id']}", content=changed, headers={"Content-Type": "application/xml"}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["gender"] == "male"
    for url in ("/fhir/Patient?gender=male", f"/fhir/Patient/{created['id']}/_history", "/fhir/metadata"):
        response = await client.get(url, headers={"Accept": FHIR_XML})
        assert response.status_code == 200
        valid(resource_from_xml(response.content))
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": patient(), "request": {"method": "POST", "url": "Patient"}}],
    }
    answer = await client.post("/fhir?_format=xml", content=resource_to_xml(bundle), headers={"Content-Type": FHIR_XML})
    assert answer.status_code == 200, answer.text
    assert valid(resource_from_xml(answer.content))["type"] == "transaction-response"


async def test_errors_are_operation_outcomes_in_xml_when_xml_is_asked(client: httpx.AsyncClient) -> None:
    missing = await client.get("/fhir/Patient/nobody", headers={"Accept": FHIR_XML})
    assert missing.status_code == 404
    outcome = valid(resource_from_xml(missing.content))
    assert outcome["resourceType"] == "OperationOutcome"
    broken = await client.post(
        "/fhir/Patient",
        content=b"<Patient xmlns='http://hl7.org/fhir'><colour value='red'/></Patient>",
        headers={"Content-Type": FHIR_XML, "Accept": FHIR_XML},
    )
    assert broken.status_code == 400
    issues = resource_from_xml(broken.content)["issue"]
    assert any("colour" in (issue.get("expression") or [""])[0] + issue["diagnostics"] for issue in issues)
    not_xml = await client.post("/fhir/Patient", content=b"<Patient", headers={"Content-Type": FHIR_XML})
    assert not_xml.status_code == 400 and not_xml.json()["issue"][0]["code"] == "structure"
    doctype = b'<!DOCTYPE x [<!ENTITY e "x">]><Patient xmlns="http://hl7.org/fhir"/>'
    refused = await client.post("/fhir/Patient", content=doctype, headers={"Content-Type": FHIR_XML})
    assert refused.status_code == 400


async def test_other_body_types_are_415(client: httpx.AsyncClient) -> None:
    for content_type in ("text/plain", "application/pdf", "multipart/form-data; boundary=x"):
        response = await client.post("/fhir/Patient", content=b"{}", headers={"Content-Type": content_type})
        assert response.status_code == 415, content_type
        assert response.json()["resourceType"] == "OperationOutcome"


async def test_xml_answers_are_well_formed_with_the_fhir_namespace(client: httpx.AsyncClient) -> None:
    created = (await client.post("/fhir/Patient", json=patient())).json()
    response = await client.get(f"/fhir/Patient/{created['id']}", headers={"Accept": "application/xml"})
    assert response.headers["content-type"].startswith("application/xml")
    root = etree.fromstring(response.content)
    assert root.tag == "{http://hl7.org/fhir}Patient"
    assert root.find("f:birthDate", NS).get("value") == "1947-09-25"
    not_modified = await client.get(
        f"/fhir/Patient/{created['id']}", headers={"Accept": FHIR_XML, "If-None-Match": 'W/"1"'}
    )
    assert not_modified.status_code == 304 and not_modified.content == b""


async def test_a_fhirpath_patch_in_xml(client: httpx.AsyncClient) -> None:
    created = (await client.post("/fhir/Patient", json=patient())).json()
    part = [
        {"name": "type", "valueCode": "add"},
        {"name": "path", "valueString": "Patient"},
        {"name": "name", "valueString": "gender"},
        {"name": "value", "valueCode": "male"},
    ]
    parameters = {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": part}]}
    response = await client.patch(
        f"/fhir/Patient/{created['id']}",
        content=resource_to_xml(parameters),
        headers={"Content-Type": FHIR_XML, "Accept": FHIR_XML},
    )
    assert response.status_code == 200, response.text
    assert valid(resource_from_xml(response.content))["gender"] == "male"
