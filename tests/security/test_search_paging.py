"""Stored search results (stable paging) under the access rule: a `next` link is its caller's alone, and every page
is checked again when it is read (an organisation whose consent ended sees nothing more of a search it began)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.security.conftest import Headers
from tests.support import cast


def link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((item["url"] for item in bundle["link"] if item["relation"] == relation), None)


async def first_page(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    # `_total=accurate`: a result not yet stored to its end is counted only when asked (stable paging's passes)
    response = await client.get("/fhir/Practitioner?_count=1&_total=accurate", headers=headers)
    assert response.status_code == 200
    bundle: dict[str, Any] = response.json()
    assert bundle["total"] > 1 and link(bundle, "next"), "the plan's team has several practitioners"
    return bundle


async def test_another_organisation_cannot_page_through_someone_elses_search(
    client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    bundle = await first_page(client, as_("slagelse"))
    next_url = link(bundle, "next") or ""
    stolen = await client.get(next_url, headers=as_("x"))
    assert stolen.status_code == 410
    assert "entry" not in stolen.json()
    made_up = await client.get(next_url.replace("_getpages=", "_getpages=9"), headers=as_("x"))
    assert made_up.status_code == 410

    def code(response: httpx.Response) -> str:
        return str(response.json()["issue"][0]["details"]["coding"][0]["code"])

    assert code(stolen) == code(made_up) == "search.result-expired", "someone else's search reads as a missing one"
    mine = await client.get(next_url, headers=as_("slagelse"))
    assert mine.status_code == 200 and mine.json()["entry"]


async def test_a_page_read_after_the_consent_ended_shows_nothing_hidden(
    client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    bundle = await first_page(client, as_("slagelse"))
    withdrawn = cast.plan_document(decision="withdrawn")
    assert (await client.put(f"/plans/{plan['planId']}", json=withdrawn, headers=as_("region"))).status_code == 200
    later = await client.get(link(bundle, "next") or "", headers=as_("slagelse"))
    assert later.status_code == 200
    assert "entry" not in later.json()
    assert later.json()["total"] == 0, "the total counts only what the caller may still see"


async def test_the_attackers_own_paged_search_counts_nothing_of_the_plan(
    client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    response = await client.get("/fhir/Practitioner?_count=1", headers=as_("x"))
    assert response.status_code == 200
    assert response.json()["total"] == 0 and link(response.json(), "next") is None


async def test_sort_total_and_summary_tell_the_attacker_nothing(
    client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    for query in (
        "_sort=-family,given&_total=accurate",
        "_summary=count",
        "_summary=true&_sort=name",
        "_elements=name",
    ):
        response = await client.get(f"/fhir/Practitioner?{query}", headers=as_("x"))
        assert response.status_code == 200
        assert response.json()["total"] == 0 and "entry" not in response.json(), query
    named = await client.get("/fhir/Practitioner?_sort=-family&_total=accurate", headers=as_("slagelse"))
    assert named.json()["total"] > 0, "the organisation the citizen named sees the team"
