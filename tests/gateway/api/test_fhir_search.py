"""Search: parameters, date ranges, paging, _include (FHIR R4 search.html)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest


async def post(client: httpx.AsyncClient, resource: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"/fhir/{resource['resourceType']}", json=resource)
    assert response.status_code == 201, response.text
    return response.json()


def ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


@pytest.fixture
async def plans(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    team = await post(
        client,
        {
            "resourceType": "CareTeam",
            "status": "active",
            "name": "Patientens team",
            "subject": {"reference": "Patient/p1"},
        },
    )
    kip = {"system": "http://snomed.info/sct", "code": "736055007"}
    made = {
        "winter": await post(
            client,
            {
                "resourceType": "CarePlan",
                "status": "active",
                "intent": "plan",
                "identifier": [{"system": "urn:oid:1.2.208.176.1.1", "value": "kip-1"}],
                "category": [{"coding": [kip]}],
                "subject": {"reference": "Patient/p1"},
                "period": {"start": "2026-01-01", "end": "2026-03-31"},
                "careTeam": [{"reference": f"CareTeam/{team['id']}"}],
            },
        ),
        "spring": await post(
            client,
            {
                "resourceType": "CarePlan",
                "status": "draft",
                "intent": "plan",
                "subject": {"reference": "Patient/p1"},
                "period": {"start": "2026-04-01", "end": "2026-06-30"},
            },
        ),
        "other": await post(
            client,
            {
                "resourceType": "CarePlan",
                "status": "active",
                "intent": "plan",
                "subject": {"reference": "Patient/p2"},
                "period": {"start": "2026-02-01"},
            },
        ),
    }
    made["team"] = team
    return made


async def search(client: httpx.AsyncClient, query: str) -> dict[str, Any]:
    response = await client.get(f"/fhir/CarePlan?{query}")
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "searchset"
    return bundle


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("patient=p1", {"winter", "spring"}),
        ("patient=Patient/p2", {"other"}),
        ("subject=http://elsewhere/fhir/Patient/p1", {"winter", "spring"}),
        ("status=active", {"winter", "other"}),
        ("status=active,draft", {"winter", "spring", "other"}),
        ("status:not=active", {"spring"}),
        ("identifier=urn:oid:1.2.208.176.1.1|kip-1", {"winter"}),
        ("identifier=urn:oid:1.2.208.176.1.1|", {"winter"}),
        ("identifier=other|kip-1", set()),
        ("category=http://snomed.info/sct|736055007", {"winter"}),
        ("category:missing=true", {"spring", "other"}),
        ("date=ge2026-04-01", {"spring", "other"}),
        ("date=lt2026-02-01", {"winter"}),
        ("date=ge2026-01-01&date=le2026-06-30", {"winter", "spring", "other"}),
        ("date=ge2026-01-01&date=eb2026-07-01", {"winter", "spring"}),
        ("date=2026", {"winter", "spring"}),
        ("date=sa2026-03-31", {"spring"}),
        ("date=eb2026-04-01", {"winter"}),
        ("date=ap2026-05-15", {"spring", "other"}),
        ("patient=p1&status=draft", {"spring"}),
    ],
)
async def test_search_parameters(
    client: httpx.AsyncClient, plans: dict[str, Any], query: str, expected: set[str]
) -> None:
    bundle = await search(client, query)
    names = {name for name, plan in plans.items() if plan["id"] in ids(bundle)}
    assert names == expected
    assert bundle["total"] == len(expected)


async def test_id_and_last_updated(client: httpx.AsyncClient, plans: dict[str, Any]) -> None:
    winter = plans["winter"]
    assert ids(await search(client, f"_id={winter['id']}")) == [winter["id"]]
    stamp = plans["spring"]["meta"]["lastUpdated"]
    later = ids(await search(client, f"_lastUpdated=ge{stamp}"))
    assert later == [plans["spring"]["id"], plans["other"]["id"]]


async def test_include_brings_the_care_team(client: httpx.AsyncClient, plans: dict[str, Any]) -> None:
    bundle = await search(client, "patient=p1&_include=CarePlan:care-team")
    assert ids(bundle, "include") == [plans["team"]["id"]]
    assert bundle["total"] == 2


async def test_revinclude_from_patient_side(client: httpx.AsyncClient, plans: dict[str, Any]) -> None:
    response = await client.get(f"/fhir/CareTeam?_id={plans['team']['id']}&_revinclude=CarePlan:care-team")
    assert ids(response.json(), "include") == [plans["winter"]["id"]]


async def test_paging_walks_every_match_once(client: httpx.AsyncClient, plans: dict[str, Any]) -> None:
    seen: list[str] = []
    url: str | None = "/fhir/CarePlan?_count=2"
    while url:
        bundle = (await client.get(url)).json()
        seen += ids(bundle)
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    assert sorted(seen) == sorted(plans[name]["id"] for name in ("winter", "spring", "other"))


async def test_summary_count_gives_only_the_total(client: httpx.AsyncClient, plans: dict[str, Any]) -> None:
    bundle = await search(client, "_summary=count")
    assert bundle["total"] == 3 and "entry" not in bundle


async def test_deleted_resources_are_not_found(client: httpx.AsyncClient, plans: dict[str, Any]) -> None:
    await client.delete(f"/fhir/CarePlan/{plans['spring']['id']}")
    assert plans["spring"]["id"] not in ids(await search(client, "patient=p1"))


async def test_string_search_is_prefix_case_and_accent_insensitive(client: httpx.AsyncClient) -> None:
    patient = await post(client, {"resourceType": "Patient", "name": [{"family": "Sørensen", "given": ["Åse"]}]})
    for query in ("name=sør", "given=ase", "family:exact=Sørensen", "name:contains=rense"):
        bundle = (await client.get(f"/fhir/Patient?{query}")).json()
        assert ids(bundle) == [patient["id"]], query
    assert (await client.get("/fhir/Patient?family:exact=sørensen")).json()["total"] == 0


async def test_post_search_takes_form_parameters(client: httpx.AsyncClient, plans: dict[str, Any]) -> None:
    response = await client.post("/fhir/CarePlan/_search", data={"status": "draft"})
    assert ids(response.json()) == [plans["spring"]["id"]]


async def test_last_updated_values_separated_by_commas_are_ored(
    client: httpx.AsyncClient, plans: dict[str, Any]
) -> None:
    stamps = ",".join(plans[name]["meta"]["lastUpdated"] for name in ("winter", "other"))
    assert set(ids(await search(client, f"_lastUpdated={stamps}"))) == {plans["winter"]["id"], plans["other"]["id"]}


@pytest.mark.parametrize("query", ["_id:missing=true", "_lastUpdated:missing=true", "_id:exact=x"])
async def test_modifiers_that_special_parameters_do_not_take_are_400(client: httpx.AsyncClient, query: str) -> None:
    assert (await client.get(f"/fhir/CarePlan?{query}")).status_code == 400


async def test_dates_at_the_edge_of_time_are_400_not_500(client: httpx.AsyncClient) -> None:
    plan = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/p"},
        "period": {"start": "0001-01-01T00:30:00+01:00"},
    }
    assert (await client.post("/fhir/CarePlan", json=plan)).status_code == 201
    assert (await client.get("/fhir/_history?_since=0001-01-01T00:00:00%2B01:00")).status_code == 400
    assert (await client.get("/fhir/CarePlan?date=lt0001-01-01T00:00:00%2B01:00")).status_code == 400


async def test_a_stored_result_expires_after_an_hour(
    client: httpx.AsyncClient, plans: dict[str, Any], clock: Any
) -> None:
    first = await search(client, "_count=1")
    url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    assert (await client.get(url)).status_code == 200
    clock.advance(timedelta(hours=1, minutes=1))
    gone = await client.get(url)
    assert gone.status_code == 410
    assert gone.json()["issue"][0]["details"]["coding"][0]["code"] == "search.result-expired"


async def test_a_page_of_a_stored_result_takes_no_new_criteria(
    client: httpx.AsyncClient, plans: dict[str, Any]
) -> None:
    first = await search(client, "_count=1")
    url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    response = await client.get(url + "&status=draft")
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["status"]


async def test_a_stored_result_is_of_its_own_type(client: httpx.AsyncClient, plans: dict[str, Any]) -> None:
    first = await search(client, "_count=1")
    url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    assert (await client.get(url.replace("/CarePlan?", "/CareTeam?"))).status_code == 410
