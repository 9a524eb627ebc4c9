"""Search result parameters: `_sort` on indexed parameters, `_total`, `_summary`, `_elements` (R4 search.html)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.fhir.subsetting import SUBSETTED
from gateway.validation import default_validator


async def post(client: httpx.AsyncClient, resource: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"/fhir/{resource['resourceType']}", json=resource)
    assert response.status_code == 201, response.text
    return response.json()


def names(bundle: dict[str, Any]) -> list[str]:
    return [entry["resource"].get("name", [{}])[0].get("family", "-") for entry in bundle.get("entry", [])]


@pytest.fixture
async def people(client: httpx.AsyncClient) -> None:
    for family, born, gender in [
        ("Østergård", "1947-09-25", "male"),
        ("Andersen", "1990-01-01", "female"),
        ("Berg", "1947-09-25", "female"),
        (None, "1980-05-05", "male"),
    ]:
        patient: dict[str, Any] = {"resourceType": "Patient", "birthDate": born, "gender": gender}
        if family:
            patient["name"] = [{"family": family}]
        await post(client, patient)


async def get(client: httpx.AsyncClient, query: str) -> dict[str, Any]:
    response = await client.get(f"/fhir/Patient?{query}")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("family", ["Andersen", "Berg", "Østergård", "-"]),  # accents folded: Ø sorts as O; no value comes last
        ("-family", ["Østergård", "Berg", "Andersen", "-"]),
        ("birthdate,family", ["Berg", "Østergård", "-", "Andersen"]),
        ("-birthdate,-family", ["Andersen", "-", "Østergård", "Berg"]),
        ("gender,-birthdate", ["Andersen", "Berg", "-", "Østergård"]),
    ],
)
async def test_sort_on_indexed_parameters(
    client: httpx.AsyncClient, people: None, sort: str, expected: list[str]
) -> None:
    assert names(await get(client, f"_sort={sort}")) == expected


async def test_sorted_pages_follow_the_same_order(client: httpx.AsyncClient, people: None) -> None:
    bundle = await get(client, "_sort=-family&_count=1")
    seen = names(bundle)
    url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    while url:
        bundle = (await client.get(url)).json()
        seen += names(bundle)
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    assert seen == ["Østergård", "Berg", "Andersen", "-"]


@pytest.mark.parametrize("sort", ["general-practitioner", "colour", "family,", ",family"])
async def test_sort_on_what_has_no_order_is_400(client: httpx.AsyncClient, sort: str) -> None:
    response = await client.get(f"/fhir/Patient?_sort={sort}")
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["_sort"]


async def test_total(client: httpx.AsyncClient, people: None) -> None:
    assert "total" not in await get(client, "_total=none")
    assert (await get(client, "_total=accurate&_count=1"))["total"] == 4
    assert (await get(client, "_total=estimate"))["total"] == 4
    assert (await client.get("/fhir/Patient?_total=maybe")).status_code == 400


async def test_summary_and_elements_subset_the_matches(client: httpx.AsyncClient) -> None:
    plan = await post(
        client,
        {
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "plan",
            "subject": {"reference": "Patient/p1"},
            "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Planen</div>'},
            "title": "Min plan",
            "note": [{"text": "not a summary element"}],
        },
    )
    summary = (await client.get("/fhir/CarePlan?_summary=true")).json()["entry"][0]["resource"]
    assert "note" not in summary and "text" not in summary and summary["title"] == "Min plan"
    assert SUBSETTED in summary["meta"]["tag"]
    text = (await client.get("/fhir/CarePlan?_summary=text")).json()["entry"][0]["resource"]
    assert set(text) == {"resourceType", "id", "meta", "text", "status", "intent", "subject"}
    data = (await client.get("/fhir/CarePlan?_summary=data")).json()["entry"][0]["resource"]
    assert "text" not in data and data["note"] == plan["note"]
    elements = (await client.get("/fhir/CarePlan?_elements=title")).json()["entry"][0]["resource"]
    assert set(elements) == {"resourceType", "id", "meta", "status", "intent", "subject", "title"}
    whole = (await client.get(f"/fhir/CarePlan/{plan['id']}")).json()
    assert whole["note"] == plan["note"] and SUBSETTED not in whole["meta"].get("tag", []), "the stored one is whole"
    for shown in (summary, text, data, elements):
        assert not default_validator().validate(shown).errors


@pytest.mark.parametrize("query", ["_summary=maybe", "_elements=", "_elements=CarePlan.title", "_elements=a b"])
async def test_bad_summary_or_elements_is_400(client: httpx.AsyncClient, query: str) -> None:
    assert (await client.get(f"/fhir/CarePlan?{query}")).status_code == 400


async def test_searchset_bundles_of_the_new_features_are_valid_r4(client: httpx.AsyncClient, people: None) -> None:
    """Stored-result links, subsetted entries, `_total=none` and includes: each Bundle valid against R4 core."""
    first = await get(client, "_count=1&_summary=true&_total=none&_sort=-family")
    assert "total" not in first
    pages = [first]
    url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    pages.append((await client.get(url)).json())
    pages.append(await get(client, "_elements=gender&_has:CarePlan:patient:status=active&_sort=birthdate"))
    for bundle in pages:
        assert not default_validator().validate(bundle).errors, bundle
