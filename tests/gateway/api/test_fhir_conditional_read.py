"""Conditional read (FHIR R4 http.html#cread): If-None-Match and If-Modified-Since answer 304 on read and vread."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime

import httpx
import pytest


async def stored(client: httpx.AsyncClient) -> tuple[str, httpx.Response]:
    created = await client.post("/fhir/Organization", json={"resourceType": "Organization", "name": "Bostedet"})
    assert created.status_code == 201
    resource_id = str(created.json()["id"])
    return resource_id, await client.get(f"/fhir/Organization/{resource_id}")


@pytest.mark.parametrize("tag", ['W/"1"', '"1"', 'W/"7", W/"1"', "*"])
async def test_a_current_etag_is_304_with_the_etag_and_no_body(client: httpx.AsyncClient, tag: str) -> None:
    resource_id, read = await stored(client)
    response = await client.get(f"/fhir/Organization/{resource_id}", headers={"If-None-Match": tag})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["last-modified"] == read.headers["last-modified"]


async def test_a_stale_etag_gets_the_resource(client: httpx.AsyncClient) -> None:
    resource_id, read = await stored(client)
    changed = {**read.json(), "name": "Bostedet Fjordglimt"}
    assert (await client.put(f"/fhir/Organization/{resource_id}", json=changed)).status_code == 200
    response = await client.get(f"/fhir/Organization/{resource_id}", headers={"If-None-Match": 'W/"1"'})
    assert response.status_code == 200
    assert response.json()["name"] == "Bostedet Fjordglimt"
    assert response.headers["etag"] == 'W/"2"'


async def test_vread_answers_304_for_its_own_version(client: httpx.AsyncClient) -> None:
    resource_id, read = await stored(client)
    assert (
        await client.put(f"/fhir/Organization/{resource_id}", json={**read.json(), "name": "Ny"})
    ).status_code == 200
    first = f"/fhir/Organization/{resource_id}/_history/1"
    assert (await client.get(first, headers={"If-None-Match": 'W/"1"'})).status_code == 304
    assert (await client.get(first, headers={"If-None-Match": 'W/"2"'})).status_code == 200
    since = read.headers["last-modified"]
    assert (await client.get(first, headers={"If-Modified-Since": since})).status_code == 304


async def test_if_modified_since(client: httpx.AsyncClient) -> None:
    resource_id, read = await stored(client)
    modified = parsedate_to_datetime(read.headers["last-modified"])
    url = f"/fhir/Organization/{resource_id}"
    later = format_datetime(modified + timedelta(hours=1), usegmt=True)
    earlier = format_datetime(modified - timedelta(seconds=1), usegmt=True)
    assert (await client.get(url, headers={"If-Modified-Since": later})).status_code == 304
    assert (await client.get(url, headers={"If-Modified-Since": read.headers["last-modified"]})).status_code == 304
    assert (await client.get(url, headers={"If-Modified-Since": earlier})).status_code == 200
    assert (await client.get(url, headers={"If-Modified-Since": "yesterday"})).status_code == 200  # ignored
    # If-None-Match wins over If-Modified-Since (RFC 9110 §13.1.3)
    both = {"If-Modified-Since": later, "If-None-Match": 'W/"9"'}
    assert (await client.get(url, headers=both)).status_code == 200


async def test_unknown_and_deleted_ignore_the_conditions(client: httpx.AsyncClient) -> None:
    assert (await client.get("/fhir/Organization/nobody", headers={"If-None-Match": "*"})).status_code == 404
    resource_id, _read = await stored(client)
    assert (await client.delete(f"/fhir/Organization/{resource_id}")).status_code == 204
    url = f"/fhir/Organization/{resource_id}"
    assert (await client.get(url, headers={"If-None-Match": 'W/"2"'})).status_code == 410
