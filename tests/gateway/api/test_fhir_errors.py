"""Bad input gets an OperationOutcome with the FHIR status and the exact element path; never a 500."""

from __future__ import annotations

import httpx
import pytest


def outcome(response: httpx.Response) -> dict:  # type: ignore[type-arg]
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body


async def test_invalid_json_is_400_with_position(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/fhir/CarePlan",
        content=b'{"resourceType": "CarePlan",',
        headers={"content-type": "application/fhir+json"},
    )
    assert response.status_code == 400
    issue = outcome(response)["issue"][0]
    assert issue["code"] == "structure"
    assert "line 1" in issue["expression"][0]


async def test_wrong_resource_type_is_400_at_resource_type(client: httpx.AsyncClient) -> None:
    response = await client.post("/fhir/CarePlan", json={"resourceType": "Patient"})
    assert response.status_code == 400
    assert outcome(response)["issue"][0]["expression"] == ["resourceType"]


async def test_missing_required_elements_are_each_named(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/fhir/CarePlan",
        json={"resourceType": "CarePlan", "subject": {"reference": "Patient/1"}},
    )
    assert response.status_code == 400
    issues = outcome(response)["issue"]
    expressions = {issue["expression"][0] for issue in issues}
    assert expressions == {"CarePlan.status", "CarePlan.intent"}
    assert all(issue["code"] == "required" for issue in issues)


async def test_missing_nested_required_element_has_indexed_path(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/fhir/CarePlan",
        json={
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "plan",
            "subject": {"reference": "Patient/1"},
            "activity": [{"detail": {"kind": "Task"}}],
        },
    )
    assert response.status_code == 400
    assert outcome(response)["issue"][0]["expression"] == ["CarePlan.activity[0].detail.status"]


async def test_unknown_element_is_400_at_its_path(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/fhir/CarePlan",
        json={
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "plan",
            "subject": {"reference": "Patient/1"},
            "period": {"start": "2026-01-01", "colour": "red"},
        },
    )
    assert response.status_code == 400
    issue = outcome(response)["issue"][0]
    assert issue["expression"] == ["CarePlan.period.colour"]
    assert issue["code"] == "structure"


async def test_bad_primitive_format_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/fhir/Patient", json={"resourceType": "Patient", "birthDate": "1990-13-45"})
    assert response.status_code == 400
    assert outcome(response)["issue"][0]["expression"] == ["Patient.birthDate"]


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    huge = b'{"resourceType":"Patient","text":"' + b"x" * (70 * 1024) + b'"}'
    response = await client.post("/fhir/Patient", content=huge, headers={"content-type": "application/fhir+json"})
    assert response.status_code == 413
    assert outcome(response)["issue"][0]["code"] == "too-long"


async def test_chunked_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(100):
            yield b"x" * 1024

    response = await client.post("/fhir/Patient", content=chunks(), headers={"content-type": "application/fhir+json"})
    assert response.status_code == 413


async def test_deeply_nested_json_is_refused_as_structure(client: httpx.AsyncClient) -> None:
    nested = '{"resourceType":"Patient","extension":' + "[" * 200 + "]" * 200 + "}"
    response = await client.post("/fhir/Patient", content=nested, headers={"content-type": "application/fhir+json"})
    assert response.status_code == 400
    outcome(response)


async def test_xml_without_the_fhir_namespace_is_400_and_other_body_types_415(client: httpx.AsyncClient) -> None:
    """FHIR XML is served since issue 14 (tests/gateway/api/test_fhir_xml_rest.py); XML that is not FHIR's is not."""
    response = await client.post(
        "/fhir/Patient", content=b"<Patient/>", headers={"content-type": "application/fhir+xml"}
    )
    assert response.status_code == 400
    outcome(response)
    response = await client.post("/fhir/Patient", content=b"Patient", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    outcome(response)


async def test_malformed_if_match_is_400(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/fhir/CarePlan/x",
        json={
            "resourceType": "CarePlan",
            "id": "x",
            "status": "active",
            "intent": "plan",
            "subject": {"reference": "Patient/1"},
        },
        headers={"If-Match": "banana"},
    )
    assert response.status_code == 400
    assert outcome(response)["issue"][0]["expression"] == ["If-Match"]


async def test_unknown_route_and_method_are_operation_outcomes(client: httpx.AsyncClient) -> None:
    assert outcome(await client.get("/nowhere"))["issue"][0]["code"] == "not-found"
    response = await client.request("TRACE", "/fhir/CarePlan/1")  # PATCH is served since issue 14
    assert response.status_code == 405
    outcome(response)


@pytest.mark.parametrize(
    "path", ["/fhir/CarePlan?colour=red", "/fhir/CarePlan?date=gtnever", "/fhir/CarePlan?_count=x"]
)
async def test_bad_search_parameters_are_400(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 400
    outcome(response)


async def test_unexpected_error_is_500_outcome_without_internals(client: httpx.AsyncClient, app) -> None:  # type: ignore[no-untyped-def]
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internal detail")

    app.state.fhir.read = broken
    response = await client.get("/fhir/CarePlan/1")
    assert response.status_code == 500
    text = response.text
    assert "secret internal detail" not in text and "Traceback" not in text
    assert outcome(response)["issue"][0]["code"] == "exception"


@pytest.mark.parametrize(
    ("headers", "query", "media"),
    [
        ({"Accept": "application/fhir+xml"}, "", "application/fhir+xml"),
        ({}, "?_format=xml", "application/fhir+xml"),
        ({"Accept": "application/xml"}, "", "application/xml"),
    ],
)
async def test_unexpected_error_answers_in_the_format_asked(  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient, app, headers: dict[str, str], query: str, media: str
) -> None:
    """A client that asked for XML gets its 500 OperationOutcome in XML, as every other answer."""

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internal detail")

    app.state.fhir.read = broken
    response = await client.get("/fhir/CarePlan/1" + query, headers=headers)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith(media)
    assert "<OperationOutcome" in response.text[:200]
    assert 'value="exception"' in response.text and "secret internal detail" not in response.text
