"""A corpus of hostile inputs: each is refused (or harmlessly matches nothing) with a 4xx OperationOutcome,
quickly and without touching anything it should not."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from gateway.config import Settings

HL7 = {"content-type": "x-application/hl7-v2+er7", "accept": "application/json"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # A 1 MiB body limit, so the parsers' own limits (segments, field length, nesting) are what refuses.
    return Settings(data_dir=tmp_path, max_body_bytes=1024 * 1024, insecure_no_auth=True)


@pytest.mark.parametrize(
    "path",
    [
        "/fhir/CarePlan/1'%20OR%20'1'='1",
        "/fhir/CarePlan/..%2F..%2Fetc%2Fpasswd",
        "/fhir/CarePlan/%00",
        "/fhir/Patient%3BDROP%20TABLE%20fhir_resource/1",
        "/fhir/CarePlan/" + "a" * 5000,
    ],
)
async def test_ids_with_sql_and_path_tricks_find_nothing(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert 400 <= response.status_code < 500
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    "query",
    [
        "identifier=x'%20OR%201=1--",
        "identifier=%25",
        "name=%25%25_",
        "patient=Patient/1%20UNION%20SELECT%20*%20FROM%20fhir_resource",
        "date=ge2024-01-01T00:00:00Z';DROP",
        "_sort=id;DROP%20TABLE",
        "_count=99999999999999999999",
    ],
)
async def test_search_parameters_with_tricks_are_harmless(client: httpx.AsyncClient, query: str) -> None:
    await client.post("/fhir/Patient", json={"resourceType": "Patient", "name": [{"family": "Hansen"}]})
    response = await client.get(f"/fhir/Patient?{query}")
    if response.status_code == 200:
        assert response.json()["total"] == 0
    else:
        assert response.status_code == 400
        assert response.json()["resourceType"] == "OperationOutcome"
    assert (await client.get("/fhir/Patient")).json()["total"] == 1, "nothing was changed"


@pytest.mark.parametrize(
    "body",
    [
        b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\r" + b"NTE|1||x\r" * 5000,
        b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|1||" + b"9" * 200_000 + b"\r",
        b"MSH|^~\\&|" + b"^" * 100_000,
        b"\x00\xff\xfe" * 1000,
    ],
    ids=["segment-flood", "huge-field", "separator-flood", "binary"],
)
async def test_absurd_hl7_is_refused_in_bounded_time(client: httpx.AsyncClient, body: bytes) -> None:
    started = time.monotonic()
    response = await client.post("/messages", content=body, headers=HL7)
    assert response.status_code == 400, response.text[:300]
    assert response.json()["resourceType"] == "OperationOutcome"
    assert time.monotonic() - started < 10


async def test_deeply_nested_json_bundle_is_refused(client: httpx.AsyncClient) -> None:
    body = b'{"resourceType":"Bundle","type":"transaction","entry":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = await client.post("/fhir", content=body, headers={"content-type": "application/fhir+json"})
    assert response.status_code in (400, 413)
    assert response.json()["resourceType"] == "OperationOutcome"
