"""An organisation's searches walk its own rows of `resource_access` (issue 18), and those rows outlive the grants
they came from: an organisation whose consent period has ended, or whose consent was withdrawn, may still have
rows there. Through the real app, every search shape it could try finds nothing of the plan once its grant is
over, and an organisation never named finds nothing at any time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from gateway.config import Settings
from tests.conftest import SteppingClock
from tests.security.conftest import Headers
from tests.support import cast

#: Searches whose shape is the walk over the caller's rows (`_lastUpdated` or `_id` order, broad criteria), and
#: for contrast the other shapes (descending, by another key, counted, paged one at a time), with `_include` and
#: `_revinclude`, and the histories; `found` also sends them all again as one batch.
SEARCHES = [
    "CarePlan",
    "CarePlan?status=active",
    "CarePlan?_sort=_id",
    "CarePlan?_sort=_lastUpdated&_count=1",
    "CarePlan?_sort=-_lastUpdated",
    "CarePlan?date=ge2000-01-01&_total=accurate",
    "CareTeam",
    "CareTeam?_sort=_id&_total=accurate",
    "CareTeam?status=active",
    "Practitioner?_count=1",
    "Practitioner?_sort=-family",
    "Patient",
    "CarePlan?_include=CarePlan:subject&_revinclude=CareTeam:patient",
    "Patient?_revinclude=CarePlan:subject&_sort=_id",
    "CarePlan/_history",
    "Patient/_history",  # (the whole server's history shows the open directory: the plan's Organizations)
]


async def found(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, tuple[int, int | None]]:
    """Per search: how many entries its first page has, and its total (None where it is not given)."""
    answers = {}
    for search in SEARCHES:
        response = await client.get(f"/fhir/{search}", headers=headers)
        assert response.status_code == 200, (search, response.text)
        bundle = response.json()
        answers[search] = (len(bundle.get("entry", [])), bundle.get("total"))
    searches = [search for search in SEARCHES if "_history" not in search]  # a batch takes searches and reads
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": search}} for search in searches],
    }
    response = await client.post("/fhir", json=batch, headers=headers)
    assert response.status_code == 200, response.text
    for search, entry in zip(searches, response.json()["entry"], strict=True):
        inner = entry["resource"]
        answers[f"batch {search}"] = (len(inner.get("entry", [])), inner.get("total"))
    return answers


def nothing(answers: dict[str, tuple[int, int | None]]) -> bool:
    return all(entries == 0 and total in (0, None) for entries, total in answers.values())


async def test_a_consent_whose_period_ended_shows_nothing_through_the_rows_it_left(
    client: httpx.AsyncClient, as_: Headers, clock: SteppingClock, settings: Settings
) -> None:
    ends = clock.now() + timedelta(days=30)
    document = cast.plan_document(period={"start": "2025-03-04", "end": ends.date().isoformat()})
    assert (await client.post("/plans", json=document, headers=as_("region"))).status_code == 201
    named = await found(client, as_("slagelse"))
    assert named["CarePlan"][0] == 1 and named["CareTeam"][0] == 1, "the organisation named sees the plan: can fail"
    assert nothing(await found(client, as_("x")))
    clock.advance(timedelta(days=60))
    after = await found(client, cast.bearer(settings, "slagelse", clock.now()))  # a token of the day
    assert nothing(after), after
    assert not nothing(await found(client, cast.bearer(settings, "region", clock.now()))), "the author still sees it"


async def test_a_withdrawn_consent_shows_nothing_through_any_search_shape(
    client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    assert not nothing(await found(client, as_("slagelse")))
    withdrawn = cast.plan_document(decision="withdrawn")
    assert (await client.put(f"/plans/{plan['planId']}", json=withdrawn, headers=as_("region"))).status_code == 200
    after = await found(client, as_("slagelse"))
    assert nothing(after), after
    assert nothing(await found(client, as_("x")))
