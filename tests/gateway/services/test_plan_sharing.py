"""The plan shared after every coordination meeting: who gets it, what it is, that it arrives (fixture servers).

The pages' cast (tests/support/pages.py): the directory knows the GP practice and Slagelse municipality; the consent
permits both; the other team organisations have no endpoint.
"""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pypdf
import pytest
from fastapi import FastAPI

from fixtures.receiver import ReceiverSettings
from fixtures.receiver import create_app as receiver_app
from gateway.config import Settings
from gateway.services.delivery import build_worker
from gateway.validation import default_validator
from tests.support import scenario
from tests.support.pages import app, csrf_of, plan_id, settings, sign_in, token  # noqa: F401

SHARED = "care-communication-plan"


def next_meeting(document: dict[str, Any], meeting: str = "2025-06-03") -> dict[str, Any]:
    document["coordination"] |= {"meeting_date": meeting, "next_meeting": "2025-09-02"}
    document["interventions"][1]["status"] = "completed"
    return document


async def shared_notices(app: FastAPI) -> list[Any]:
    return [n for n in await app.state.messages.list_notices(limit=200) if n.kind == SHARED]


async def test_a_new_meeting_sends_the_plan_to_each_consented_organisation_with_an_endpoint(
    app: FastAPI, client: httpx.AsyncClient, plan_id: str, token: Any
) -> None:
    same_meeting = scenario.plan_document()
    same_meeting["goals"][0]["status"] = "on-hold"
    assert (await client.put(f"/plans/{plan_id}", json=same_meeting, headers=token("region"))).status_code == 200
    assert await shared_notices(app) == [], "no new meeting, nothing shared"

    response = await client.put(
        f"/plans/{plan_id}", json=next_meeting(scenario.plan_document()), headers=token("region")
    )
    assert response.status_code == 200
    notices = await shared_notices(app)
    assert sorted(n.recipient for n in notices) == [
        "sor:265161000016000",  # the ward (psy1): the plan is the FACT team's, the ward a consented team member
        "sor:375431000016008",
        "sor:378921000016004",
        "sor:481561000016002",
    ]
    for notice in notices:
        assert [i for i in default_validator().validate(notice.message).issues if i.severity == "error"] == []
        communication = next(
            e["resource"] for e in notice.message["entry"] if e["resource"]["resourceType"] == "Communication"
        )
        assert communication["category"][0]["coding"][0]["code"] == "carecoordination"
        assert communication["topic"]["text"] == "Fælles plan KIP-2024-000417: koordinationsmøde 03.06.2025"
        text, attachment = (
            communication["payload"][0]["contentString"],
            communication["payload"][1]["contentAttachment"],
        )
        assert "Stafetholder indtil næste møde: Mette Kjærgaard" in text
        assert "Ansøgning om budgetrådgivning" not in text, "completed interventions are not news"
        assert attachment["contentType"] == "application/pdf"
        pdf = pypdf.PdfReader(io.BytesIO(base64.b64decode(attachment["data"])))
        assert "Fælles plan for Søren Ærling Østergård" in pdf.pages[0].extract_text()

    again = await client.put(f"/plans/{plan_id}", json=next_meeting(scenario.plan_document()), headers=token("region"))
    assert again.status_code == 200
    assert len(await shared_notices(app)) == 4, "one meeting is shared once"


async def test_an_organisation_the_citizen_closed_for_gets_nothing_and_the_team_page_says_who_did(
    app: FastAPI, client: httpx.AsyncClient, plan_id: str, token: Any, sign_in: Any
) -> None:
    await sign_in("citizen", scenario.CPR)
    csrf = csrf_of((await client.get("/app/mig")).text)
    await client.post(f"/app/mig/{plan_id}/consent", data={"csrf": csrf, "member": "gp1", "permit": "no"})
    document = next_meeting((await client.get(f"/plans/{plan_id}", headers=token("region"))).json())
    assert (await client.put(f"/plans/{plan_id}", json=document, headers=token("region"))).status_code == 200
    shared_to = sorted(n.recipient for n in await shared_notices(app))
    assert shared_to == ["sor:265161000016000", "sor:375431000016008", "sor:378921000016004"]
    await sign_in("organisation", "slagelse")
    shared = (await client.get(f"/app/plans/{plan_id}")).text.split('id="delt"')[1]
    assert "Slagelse Kommune, Socialpsykiatri: venter på at blive sendt" in shared
    assert "Lægerne i Slagelse Bymidte: ikke sendt (intet samtykke" in shared
    assert "Jobcenter Slagelse: ikke sendt (ingen adresse i modtagerkataloget)" in shared


async def test_each_disclosure_is_audited_by_the_writer(
    app: FastAPI, client: httpx.AsyncClient, plan_id: str, token: Any
) -> None:
    await client.put(f"/plans/{plan_id}", json=next_meeting(scenario.plan_document()), headers=token("region"))
    with app.state.fhir.store.reading() as tx:
        events = [m.resource for m in tx.history("AuditEvent", None, since=None, count=500, offset=0).versions]
    disclosures = [e for e in events if e["subtype"][0]["code"] == "disclose" and SHARED in e.get("outcomeDesc", "")]
    assert len(disclosures) == 4
    writer = "Distriktspsykiatrien Slagelse, FACT-team Nord"  # the plan's author (tests/support/pages.py)
    assert all(any(a.get("name") == writer for a in e["agent"]) for e in disclosures)


class HostRouter(httpx.AsyncBaseTransport):
    def __init__(self, apps: dict[str, FastAPI]) -> None:
        self.transports = {host: httpx.ASGITransport(app=app) for host, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.transports[request.url.host].handle_async_request(request)


@pytest.fixture
async def receivers() -> AsyncIterator[dict[str, FastAPI]]:
    yield {
        "gp.test": receiver_app("gp", ReceiverSettings()),
        "kommune.test": receiver_app("municipality", ReceiverSettings()),
    }


async def test_the_fixture_servers_receive_the_plan_and_acknowledge_it(
    app: FastAPI,
    client: httpx.AsyncClient,
    plan_id: str,
    token: Any,
    receivers: dict[str, FastAPI],
    settings: Settings,
    clock: Any,
) -> None:
    await client.put(f"/plans/{plan_id}", json=next_meeting(scenario.plan_document()), headers=token("region"))
    async with httpx.AsyncClient(transport=HostRouter(receivers)) as http:
        worker = build_worker(app.state.messages.outbox, http, settings, clock, app.state.fhir.ids)
        assert await worker.drain() == 4
    # The GP's fixture also plays the ward, the municipality's the botilbud (the demo directory gives them its
    # endpoint).
    for host, expected in (("gp.test", 2), ("kommune.test", 2)):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=receivers[host]), base_url=f"http://{host}"
        ) as c:
            received = (await c.get("/received")).json()
        assert received["count"] == expected, host
        for item in received["messages"]:
            topics = [e["resource"].get("topic", {}).get("text", "") for e in item["message"]["entry"]]
            assert any(topic.startswith("Fælles plan") for topic in topics)
    assert {n.state.value for n in await shared_notices(app)} == {"acknowledged"}
