"""Transaction and batch rules of FHIR R4 http.html#transaction and #trules: DELETEs run first, each resource is
written once, conditional deletes and If-Match work in entries as they do over REST, references in PATCH entries
are rewritten, malformed request elements are 400 (never a 500), and a batch GET takes the REST API's paging
links and conditional reads."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson

CPR = {"system": "urn:oid:1.2.208.176.1.2", "value": "0101709998"}
URN_A = "urn:uuid:11111111-1111-4111-8111-111111111111"


def tx(*entries: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


async def test_conditional_delete_in_transaction(client: httpx.AsyncClient) -> None:
    """http.html#transaction: a transaction entry may be any interaction incl. conditional delete (DELETE Type?q)."""
    await client.post("/fhir/Patient", json={"resourceType": "Patient", "identifier": [CPR]})
    response = await client.post(
        "/fhir",
        json=tx({"request": {"method": "DELETE", "url": f"Patient?identifier={CPR['system']}|{CPR['value']}"}}),
    )
    assert response.status_code == 200, response.text
    assert (await client.get("/fhir/Patient")).json()["total"] == 0


async def test_delete_entry_if_match_is_honoured(client: httpx.AsyncClient) -> None:
    """Bundle.entry.request.ifMatch applies to the entry's interaction: a stale version must not delete."""
    patient = (await client.post("/fhir/Patient", json={"resourceType": "Patient"})).json()
    response = await client.post(
        "/fhir",
        json=tx({"request": {"method": "DELETE", "url": f"Patient/{patient['id']}", "ifMatch": 'W/"7"'}}),
    )
    assert response.status_code == 412, response.text
    assert (await client.get(f"/fhir/Patient/{patient['id']}")).status_code == 200


async def test_two_writes_to_one_identity_fail_the_transaction(client: httpx.AsyncClient) -> None:
    """http.html#trules: overlapping identities in steps 1-3 SHALL fail the transaction."""
    org = {"resourceType": "Organization", "id": "org1", "name": "A"}
    response = await client.post(
        "/fhir",
        json=tx(
            {"resource": org, "request": {"method": "PUT", "url": "Organization/org1"}},
            {"resource": {**org, "name": "B"}, "request": {"method": "PUT", "url": "Organization/org1"}},
        ),
    )
    assert response.status_code == 400, response.text
    assert (await client.get("/fhir/Organization/org1")).status_code == 404


async def test_duplicate_full_url_is_refused(client: httpx.AsyncClient) -> None:
    """bundle.html bdl-7: fullUrl must be unique in a bundle. Here a POST and a PUT share one: the POST is given the
    PUT's id, so two entries silently write one resource."""
    response = await client.post(
        "/fhir",
        json=tx(
            {
                "fullUrl": URN_A,
                "resource": {"resourceType": "Organization", "name": "A"},
                "request": {"method": "POST", "url": "Organization"},
            },
            {
                "fullUrl": URN_A,
                "resource": {"resourceType": "Organization", "id": "o1", "name": "B"},
                "request": {"method": "PUT", "url": "Organization/o1"},
            },
        ),
    )
    assert response.status_code == 400, response.text


async def test_patch_entry_references_to_urn_uuid_are_rewritten(client: httpx.AsyncClient) -> None:
    """http.html#transaction: the server SHALL replace all matching links in the bundle."""
    org = (await client.post("/fhir/Organization", json={"resourceType": "Organization", "name": "X"})).json()
    patch = [{"op": "add", "path": "/partOf", "value": {"reference": URN_A}}]
    response = await client.post(
        "/fhir",
        json=tx(
            {
                "fullUrl": URN_A,
                "resource": {"resourceType": "Organization", "name": "Parent"},
                "request": {"method": "POST", "url": "Organization"},
            },
            {
                "resource": {
                    "resourceType": "Binary",
                    "contentType": "application/json-patch+json",
                    "data": base64.b64encode(orjson.dumps(patch)).decode(),
                },
                "request": {"method": "PATCH", "url": f"Organization/{org['id']}"},
            },
        ),
    )
    assert response.status_code == 200, response.text
    parent_id = response.json()["entry"][0]["resource"]["id"]
    stored = (await client.get(f"/fhir/Organization/{org['id']}")).json()
    assert stored["partOf"]["reference"] == f"Organization/{parent_id}"


async def test_non_string_full_url_is_400_not_500(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/fhir",
        json=tx(
            {
                "fullUrl": 7,
                "resource": {"resourceType": "Organization"},
                "request": {"method": "POST", "url": "Organization"},
            }
        ),
    )
    assert response.status_code == 400, response.text


async def test_non_string_if_none_exist_is_400_not_500(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/fhir",
        json=tx(
            {
                "resource": {"resourceType": "Organization"},
                "request": {"method": "POST", "url": "Organization", "ifNoneExist": {"name": "x"}},
            }
        ),
    )
    assert response.status_code == 400, response.text


async def test_non_string_if_match_is_400_not_500(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/fhir",
        json=tx(
            {
                "resource": {"resourceType": "Organization", "id": "o"},
                "request": {"method": "PUT", "url": "Organization/o", "ifMatch": 1},
            }
        ),
    )
    assert response.status_code == 400, response.text


async def test_batch_get_if_none_match_gives_304(client: httpx.AsyncClient) -> None:
    """Bundle.entry.request.ifNoneMatch: for managing cache currency (http.html#cread)."""
    patient = (await client.post("/fhir/Patient", json={"resourceType": "Patient"})).json()
    response = await client.post(
        "/fhir",
        json=tx(
            {"request": {"method": "GET", "url": f"Patient/{patient['id']}", "ifNoneMatch": 'W/"1"'}}, kind="batch"
        ),
    )
    assert response.json()["entry"][0]["response"]["status"].startswith("304"), response.text


async def test_delete_then_conditional_create_with_urn(client: httpx.AsyncClient) -> None:
    """Order: DELETE first, then POST. The conditional create then matches nothing and creates."""
    patient = (await client.post("/fhir/Patient", json={"resourceType": "Patient", "identifier": [CPR]})).json()
    response = await client.post(
        "/fhir",
        json=tx(
            {"request": {"method": "DELETE", "url": f"Patient/{patient['id']}"}},
            {
                "fullUrl": URN_A,
                "resource": {"resourceType": "Patient", "identifier": [CPR]},
                "request": {
                    "method": "POST",
                    "url": "Patient",
                    "ifNoneExist": f"identifier={CPR['system']}|{CPR['value']}",
                },
            },
        ),
    )
    assert response.status_code == 200, response.text
    assert response.json()["entry"][1]["response"]["status"] == "201 Created"


async def test_conditional_update_with_urn_and_mismatched_body_id(client: httpx.AsyncClient) -> None:
    """http.html#cond-update: a body id that differs from the match is 400 (as the REST route answers)."""
    await client.post(
        "/fhir/Organization",
        json={"resourceType": "Organization", "name": "N", "identifier": [{"system": "s", "value": "1"}]},
    )
    response = await client.post(
        "/fhir",
        json=tx(
            {
                "fullUrl": URN_A,
                "resource": {"resourceType": "Organization", "id": "other", "name": "M"},
                "request": {"method": "PUT", "url": "Organization?identifier=s|1"},
            }
        ),
    )
    assert response.status_code == 400, response.text


async def test_conditional_put_entry_if_match_is_honoured(client: httpx.AsyncClient) -> None:
    """Bundle.entry.request.ifMatch: "Only perform the operation if the Etag value matches"."""
    org = {"resourceType": "Organization", "name": "N", "identifier": [{"system": "s", "value": "1"}]}
    created = (await client.post("/fhir/Organization", json=org)).json()
    response = await client.post(
        "/fhir",
        json=tx(
            {
                "resource": {**org, "name": "changed"},
                "request": {"method": "PUT", "url": "Organization?identifier=s|1", "ifMatch": 'W/"7"'},
            }
        ),
    )
    assert response.status_code == 412, response.text
    assert (await client.get(f"/fhir/Organization/{created['id']}")).json()["name"] == "N"


async def test_batch_get_follows_the_servers_own_next_link(client: httpx.AsyncClient) -> None:
    """A searchset's `next` link is a GET the REST API serves; as a batch GET entry it is refused as unknown params."""
    for i in range(3):
        await client.post("/fhir/Organization", json={"resourceType": "Organization", "name": f"o{i}"})
    first = (await client.get("/fhir/Organization?_count=2")).json()
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    assert (await client.get(next_url)).status_code == 200  # the REST route serves it
    response = await client.post(
        "/fhir", json=tx({"request": {"method": "GET", "url": next_url.split("/fhir/", 1)[1]}}, kind="batch")
    )
    entry = response.json()["entry"][0]
    assert entry["response"]["status"] == "200 OK", entry
    assert len(entry["resource"]["entry"]) == 1
