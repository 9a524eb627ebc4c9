"""Hidden = missing: a resource the caller may not see answers every interaction exactly as one that does not exist
(same status, same headers, same body but for the id it was asked about), with no version count, after the same
queries. The timing test prints the medians and asserts only that the answers were identical (no timed assertion:
STYLE.md)."""

from __future__ import annotations

import json
import statistics
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.security.conftest import Headers
from tests.support import cast

Answer = tuple[int, dict[str, str], str]


def answer(response: httpx.Response, asked: str) -> Answer:
    # Date and X-Request-ID differ on every response, whatever was asked for.
    headers = {k: v for k, v in response.headers.items() if k not in ("date", "x-request-id")}
    return response.status_code, headers, response.text.replace(asked, "<id>")


@pytest.fixture
async def hidden(client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]) -> str:
    """The plan's CarePlan id, at version 2 (so a version count would show)."""
    changed = cast.plan_document() | {"status": "on-hold"}
    assert (await client.put(f"/plans/{plan['planId']}", json=changed, headers=as_("region"))).status_code == 200
    return str(plan["planId"])


async def both(client: httpx.AsyncClient, hidden: str, request: Any) -> tuple[Answer, Answer]:
    missing = str(uuid.uuid4())
    assert len(missing) == len(hidden)
    return answer(await request(hidden), hidden), answer(await request(missing), missing)


def care_plan(resource_id: str) -> dict[str, Any]:
    return {"resourceType": "CarePlan", "id": resource_id, "status": "active", "intent": "plan", "subject": {}}


@pytest.mark.parametrize(
    "route",
    [
        "read",
        "vread 1",
        "vread 2",
        "vread 3",
        "history",
        "update",
        "conditional update",
        "delete",
        "plans read",
        "plans read version",
        "plans update",
    ],
)
async def test_a_hidden_resource_answers_as_a_missing_one(
    client: httpx.AsyncClient, as_: Headers, hidden: str, route: str
) -> None:
    x = as_("x")
    calls: dict[str, Any] = {
        "read": lambda i: client.get(f"/fhir/CarePlan/{i}", headers=x),
        "vread 1": lambda i: client.get(f"/fhir/CarePlan/{i}/_history/1", headers=x),
        "vread 2": lambda i: client.get(f"/fhir/CarePlan/{i}/_history/2", headers=x),
        "vread 3": lambda i: client.get(f"/fhir/CarePlan/{i}/_history/3", headers=x),
        "history": lambda i: client.get(f"/fhir/CarePlan/{i}/_history", headers=x),
        "update": lambda i: client.put(f"/fhir/CarePlan/{i}", json=care_plan(i), headers=x),
        "conditional update": lambda i: client.put(f"/fhir/CarePlan?_id={i}", json=care_plan(i), headers=x),
        "delete": lambda i: client.delete(f"/fhir/CarePlan/{i}", headers=x),
        "plans read": lambda i: client.get(f"/plans/{i}", headers=x),
        "plans read version": lambda i: client.get(f"/plans/{i}?version=1", headers=x),
        "plans update": lambda i: client.put(f"/plans/{i}", json=cast.plan_document(), headers=as_("slagelse")),
    }
    seen_hidden, seen_missing = await both(client, hidden, calls[route])
    assert seen_hidden == seen_missing
    assert seen_hidden[0] in (404, 403, 422)


async def test_searches_and_batches_show_no_difference(client: httpx.AsyncClient, as_: Headers, hidden: str) -> None:
    x = as_("x")

    async def search(i: str) -> httpx.Response:
        return await client.get(f"/fhir/CarePlan?_id={i}&_summary=count", headers=x)

    hidden_count, missing_count = await both(client, hidden, search)
    assert hidden_count[0] == missing_count[0] == 200
    assert '"total":0' in hidden_count[2] and '"total":0' in missing_count[2]

    async def batch(i: str) -> httpx.Response:
        entries = [
            {"request": {"method": "GET", "url": f"CarePlan/{i}"}},
            {"request": {"method": "GET", "url": f"CarePlan/{i}/_history/2"}},
            {"request": {"method": "GET", "url": f"CarePlan/{i}/_history"}},
            {"request": {"method": "DELETE", "url": f"CarePlan/{i}"}},
            {"resource": care_plan(i), "request": {"method": "PUT", "url": f"CarePlan/{i}"}},
        ]
        return await client.post("/fhir", json={"resourceType": "Bundle", "type": "batch", "entry": entries}, headers=x)

    hidden_batch, missing_batch = await both(client, hidden, batch)
    entries = [json.loads(body)["entry"] for _status, _headers, body in (hidden_batch, missing_batch)]
    assert entries[0] == entries[1]
    assert [entry["response"]["status"] for entry in entries[0]] == ["404 Not Found"] * 5


@pytest.mark.parametrize("url", ["CarePlan/_history", "_history"])
async def test_histories_in_a_batch_list_what_rest_lists(
    client: httpx.AsyncClient, as_: Headers, hidden: str, url: str
) -> None:
    """A batch's type and system history GETs show X what the REST routes show it: nothing of the hidden plan."""
    x = as_("x")
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [{"request": {"method": "GET", "url": url}}]}
    answered = await client.post("/fhir", json=batch, headers=x)
    assert answered.status_code == 200
    entry = answered.json()["entry"][0]
    assert entry["response"]["status"] == "200 OK"
    assert entry["resource"]["type"] == "history"
    listed = [item["fullUrl"] for item in entry["resource"].get("entry", [])]
    over_rest = (await client.get(f"/fhir/{url}", headers=x)).json()
    assert listed == [item["fullUrl"] for item in over_rest.get("entry", [])]
    assert not any(hidden in full_url for full_url in listed)
    region = await client.post("/fhir", json=batch, headers=as_("region"))
    assert any(hidden in item["fullUrl"] for item in region.json()["entry"][0]["resource"]["entry"])


async def test_hidden_and_missing_take_the_same_time_to_refuse(
    client: httpx.AsyncClient, as_: Headers, hidden: str
) -> None:
    """Prints the medians of 200 reads each (interleaved); asserts only that every answer was the same."""
    x, missing = as_("x"), str(uuid.uuid4())
    timings: dict[str, list[float]] = {"hidden": [], "missing": []}
    answers: set[str] = set()
    for _ in range(200):
        for name, resource_id in (("hidden", hidden), ("missing", missing)):
            started = time.perf_counter()
            response = await client.get(f"/fhir/CarePlan/{resource_id}", headers=x)
            timings[name].append(time.perf_counter() - started)
            answers.add(repr(answer(response, resource_id)))
    medians = {name: statistics.median(values) * 1000 for name, values in timings.items()}
    print(f"\nmedian of 200 reads: hidden {medians['hidden']:.2f} ms, missing {medians['missing']:.2f} ms")
    assert len(answers) == 1
