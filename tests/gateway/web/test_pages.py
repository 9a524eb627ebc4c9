"""The pages through HTTP, with the API beside them: a citizen's right of use takes effect on the API at once."""

from __future__ import annotations

from typing import Any

import httpx
import pypdf
import pytest
from fastapi import FastAPI

from tests.support import scenario
from tests.support.pages import csrf_of


async def test_citizen_page_shows_wishes_first_then_goals_team_crisis_plan_and_consent(
    client: httpx.AsyncClient, sign_in: Any, plan_id: str
) -> None:
    await sign_in("citizen", scenario.CPR)
    page = await client.get("/app/mig")
    assert page.status_code == 200
    html = page.text
    sections = ("onsker", "maal", "indsatser", "moede", "team", "kriseplan", "samtykke", "log")
    order = [html.index(f'<h2 id="{section}"') for section in sections]
    assert order == sorted(order)
    assert "At bo i egen lejlighed tæt på min søster" in html
    assert "Mette Kjærgaard</strong> (stafetholder)" in html
    assert "Næste koordinationsmøde er 9. april 2024." in html
    assert "Ved indlæggelse ønsker jeg ikke at få Haldol." in html
    assert "din far, Bent Østergård" in html, "the consent's exception, in words"
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


async def test_wish_written_by_the_citizen_is_a_goal_expressed_by_the_patient_and_audited_as_theirs(
    client: httpx.AsyncClient, sign_in: Any, plan_id: str, token: Any
) -> None:
    await sign_in("citizen", scenario.CPR)
    csrf = csrf_of((await client.get("/app/mig")).text)
    text = "Jeg vil gerne lære at lave mad til mine venner."
    saved = await client.post(f"/app/mig/{plan_id}/wishes", data={"csrf": csrf, "kind": "wish", "text": text})
    assert saved.status_code == 303
    assert "Dit ønske er gemt" in (await client.get(saved.headers["location"])).text
    document = (await client.get(f"/plans/{plan_id}", headers=token("region"))).json()
    assert document["wishes"][-1] == {"kind": "wish", "text": text}
    goals = (await client.get("/fhir/Goal?_count=50", headers=token("region"))).json()["entry"]
    goal = next(e["resource"] for e in goals if e["resource"]["description"]["text"] == text)
    assert goal["expressedBy"] == goal["subject"]
    assert goal["meta"]["source"] == "https://sor2.sum.dsdn.dk/#id=329631000016003", "the plan's author stays"
    assert goal["text"]["status"] == "generated" and text in goal["text"]["div"]
    history = (await client.get(f"/fhir/Goal/{goal['id']}/_history", headers=token("region"))).json()
    assert history["total"] == 1


async def test_withdrawing_a_member_turns_their_api_read_into_404_on_the_next_request(
    client: httpx.AsyncClient, sign_in: Any, plan_id: str, token: Any
) -> None:
    assert (await client.get(f"/fhir/CarePlan/{plan_id}", headers=token("gp"))).status_code == 200
    await sign_in("citizen", scenario.CPR)
    csrf = csrf_of((await client.get("/app/mig")).text)
    closed = await client.post(f"/app/mig/{plan_id}/consent", data={"csrf": csrf, "member": "gp1", "permit": "no"})
    assert closed.status_code == 303
    assert (await client.get(f"/fhir/CarePlan/{plan_id}", headers=token("gp"))).status_code == 404
    assert (await client.get(f"/plans/{plan_id}", headers=token("gp"))).status_code == 404
    assert (await client.get(f"/plans/{plan_id}", headers=token("slagelse"))).status_code == 200, "others keep it"
    page = (await client.get("/app/mig")).text
    assert "Peter Æbelø (Egen læge): må ikke se din plan" in page
    opened = await client.post(f"/app/mig/{plan_id}/consent", data={"csrf": csrf, "member": "gp1", "permit": "yes"})
    assert opened.status_code == 303
    assert (await client.get(f"/fhir/CarePlan/{plan_id}", headers=token("gp"))).status_code == 200


async def test_a_plan_on_hold_stays_on_the_citizens_page_and_the_citizen_can_still_withdraw_a_member(
    client: httpx.AsyncClient, sign_in: Any, plan_id: str, token: Any
) -> None:
    """The FACT team pauses the plan (an admission, say). The team still reads it by the consent it holds, so the
    citizen must still see it and be able to change who may see what (it said "no shared plan yet" before)."""
    paused = scenario.plan_document() | {"status": "on-hold"}
    assert (await client.post("/plans", json=paused, headers=token("region"))).status_code == 200
    assert (await client.get(f"/fhir/CarePlan/{plan_id}", headers=token("gp"))).status_code == 200
    await sign_in("citizen", scenario.CPR)
    page = await client.get("/app/mig")
    assert page.status_code == 200
    assert "Din plan er sat på pause for en tid." in page.text
    assert "At bo i egen lejlighed tæt på min søster" in page.text
    closed = await client.post(
        f"/app/mig/{plan_id}/consent", data={"csrf": csrf_of(page.text), "member": "gp1", "permit": "no"}
    )
    assert closed.status_code == 303
    assert (await client.get(f"/fhir/CarePlan/{plan_id}", headers=token("gp"))).status_code == 404
    document = (await client.get(f"/plans/{plan_id}", headers=token("region"))).json()
    assert document["status"] == "on-hold", "the citizen's change leaves the plan paused"
    document["status"] = "active"
    assert (await client.post("/plans", json=document, headers=token("region"))).status_code == 200
    assert "sat på pause" not in (await client.get("/app/mig")).text


async def test_a_data_category_can_be_withdrawn_and_given_back(
    client: httpx.AsyncClient, sign_in: Any, plan_id: str, token: Any
) -> None:
    await sign_in("citizen", scenario.CPR)
    csrf = csrf_of((await client.get("/app/mig")).text)
    form = {"csrf": csrf, "category": "careteam", "permit": "no"}
    assert (await client.post(f"/app/mig/{plan_id}/consent", data=form)).status_code == 303
    team = (await client.get("/fhir/CareTeam", headers=token("slagelse"))).json()
    assert team["total"] == 0, "the team is no longer shared"
    assert (await client.get(f"/fhir/CarePlan/{plan_id}", headers=token("slagelse"))).status_code == 200
    assert (await client.get(f"/plans/{plan_id}", headers=token("region"))).json()["consent"]["data"] == [
        "careplan",
        "followup",
        "crisisplan",
    ]


async def test_forms_without_the_sessions_csrf_token_are_refused(
    client: httpx.AsyncClient, sign_in: Any, plan_id: str, token: Any
) -> None:
    await sign_in("citizen", scenario.CPR)
    refused = await client.post(f"/app/mig/{plan_id}/consent", data={"csrf": "forged", "member": "gp1", "permit": "no"})
    assert refused.status_code == 403
    assert (await client.get(f"/fhir/CarePlan/{plan_id}", headers=token("gp"))).status_code == 200


async def test_another_citizen_sees_no_plan_and_cannot_write_to_this_one(
    client: httpx.AsyncClient, sign_in: Any, plan_id: str, token: Any
) -> None:
    await sign_in("citizen", "0101010101")
    page = await client.get("/app/mig")
    assert "Du har ingen fælles plan endnu" in page.text
    csrf = csrf_of(page.text)
    attempt = await client.post(f"/app/mig/{plan_id}/wishes", data={"csrf": csrf, "kind": "wish", "text": "Hej"})
    assert attempt.status_code == 404
    assert (await client.get(f"/app/mig/{plan_id}/plan.pdf")).status_code == 404
    assert len((await client.get(f"/plans/{plan_id}", headers=token("region"))).json()["wishes"]) == 3


async def test_sign_in_link_works_once_and_sign_out_ends_the_session(
    app: FastAPI, client: httpx.AsyncClient, plan_id: str
) -> None:
    link = app.state.web.sessions.create_link("citizen", scenario.CPR)
    assert (await client.post(f"/app/sign-in/{link}")).status_code == 303
    cookie = client.cookies.get("gateway_session")
    assert cookie
    client.cookies.clear()
    assert (await client.post(f"/app/sign-in/{link}")).status_code == 400, "used up"
    client.cookies.set("gateway_session", cookie, path="/app")
    page = await client.get("/app/mig")
    assert page.status_code == 200
    out = await client.post("/app/sign-out", data={"csrf": csrf_of(page.text)})
    assert out.status_code == 200
    client.cookies.set("gateway_session", cookie, path="/app")
    assert (await client.get("/app/mig")).status_code == 401


async def test_team_page_for_a_permitted_organisation_shows_what_changed_since_the_previous_meeting(
    client: httpx.AsyncClient, sign_in: Any, plan_id: str, token: Any
) -> None:
    document = scenario.plan_document()
    document["coordination"] |= {"meeting_date": "2025-06-03", "next_meeting": "2025-09-02", "coordinator": "fact1"}
    document["interventions"][1]["status"] = "completed"
    document["goals"].append(
        {"key": "g4", "description": "Have et fritidsjob.", "term": "long-term", "status": "proposed"}
    )
    assert (await client.put(f"/plans/{plan_id}", json=document, headers=token("region"))).status_code == 200
    await sign_in("organisation", "slagelse")
    page = await client.get(f"/app/plans/{plan_id}")
    assert page.status_code == 200
    html = page.text
    assert "Sammenlignet med planen fra mødet 9. januar 2024" in html
    assert "Ny</span> Mål: Have et fritidsjob." in html
    assert "Status: Ikke startet → Færdig" in html
    assert "Stafetholder: Mette Kjærgaard → Jonas Bækgaard" in html
    assert "Borgerens beskeder" not in html, "notice states are for the plan's author"
    await sign_in("organisation", "region")
    assert "Borgerens beskeder" in (await client.get(f"/app/plans/{plan_id}")).text


async def test_team_page_is_404_for_an_organisation_the_citizen_did_not_name(
    client: httpx.AsyncClient, sign_in: Any, plan_id: str
) -> None:
    await sign_in("organisation", "herlev")
    page = await client.get(f"/app/plans/{plan_id}")
    assert page.status_code == 404
    assert "Planen findes ikke" in page.text


@pytest.mark.parametrize("path", ["/app/mig", "/app/plans/x", "/app/plans"])
async def test_pages_need_a_session(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 401


async def test_citizen_page_is_not_for_organisations_and_team_page_not_for_citizens(
    client: httpx.AsyncClient, sign_in: Any, plan_id: str
) -> None:
    await sign_in("organisation", "slagelse")
    assert (await client.get("/app/mig")).status_code == 403
    await sign_in("citizen", scenario.CPR)
    refused = await client.get(f"/app/plans/{plan_id}")
    assert refused.status_code == 403 and "Siden er ikke til dig" in refused.text


async def test_who_looked_at_my_plan_lists_the_organisations_that_read_it(
    client: httpx.AsyncClient, sign_in: Any, plan_id: str, token: Any
) -> None:
    await client.get(f"/fhir/CarePlan/{plan_id}", headers=token("slagelse"))
    await client.get(f"/fhir/CarePlan/{plan_id}", headers=token("herlev"))
    await sign_in("citizen", scenario.CPR)
    log = (await client.get("/app/mig")).text.split('id="log"')[1]
    assert "Slagelse Kommune, Socialpsykiatri</td><td>læste din plan" in log
    assert "Herlev Kommune</td><td>prøvede (uden lov) at se din plan" in log
    assert "Borgeren selv" not in log, "the citizen's own visits are not listed"


async def test_plan_pdf_has_the_plan_in_danish_letters(client: httpx.AsyncClient, sign_in: Any, plan_id: str) -> None:
    import io

    await sign_in("citizen", scenario.CPR)
    response = await client.get(f"/app/mig/{plan_id}/plan.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(response.content)).pages)
    assert "Fælles plan for Søren Ærling Østergård" in text
    assert "Mette Kjærgaard" in text and "Ønske: Jeg vil gerne spille fodbold" in text


async def test_every_page_route_needs_a_session_or_is_on_the_public_list() -> None:
    from fastapi.routing import APIRoute

    from gateway.web.context import page_caller
    from gateway.web.routes import PUBLIC_PAGES, router

    def needs_session(route: APIRoute) -> bool:
        stack = list(route.dependant.dependencies)
        while stack:
            dependency = stack.pop()
            if dependency.call is page_caller:
                return True
            stack.extend(dependency.dependencies)
        return False

    routes = [route for route in router.routes if isinstance(route, APIRoute)]
    assert len(routes) >= 10
    assert [r.path for r in routes if r.path not in PUBLIC_PAGES and not needs_session(r)] == []


async def test_changes_between_meetings_count_from_the_plan_the_previous_meeting_agreed(
    client: httpx.AsyncClient, sign_in: Any, plan_id: str, token: Any
) -> None:
    await sign_in("citizen", scenario.CPR)
    csrf = csrf_of((await client.get("/app/mig")).text)
    wish = {"csrf": csrf, "kind": "need", "text": "En fast tid hos lægen hver måned."}
    assert (await client.post(f"/app/mig/{plan_id}/wishes", data=wish)).status_code == 303
    document = (await client.get(f"/plans/{plan_id}", headers=token("region"))).json()
    document["coordination"] |= {"meeting_date": "2025-06-03", "next_meeting": "2025-09-02"}
    assert (await client.put(f"/plans/{plan_id}", json=document, headers=token("region"))).status_code == 200
    await sign_in("organisation", "slagelse")
    html = (await client.get(f"/app/plans/{plan_id}")).text
    assert "Ny</span> Ønsker, drømme og behov: Behov: En fast tid hos lægen hver måned." in html


async def test_a_sign_in_or_form_posted_from_another_site_is_refused(
    app: FastAPI, client: httpx.AsyncClient, sign_in: Any, plan_id: str
) -> None:
    link = app.state.web.sessions.create_link("citizen", scenario.CPR)
    elsewhere = {"Origin": "https://evil.example"}
    assert (await client.post(f"/app/sign-in/{link}", headers=elsewhere)).status_code == 403
    assert (await client.post(f"/app/sign-in/{link}", headers={"Sec-Fetch-Site": "cross-site"})).status_code == 403
    assert (await client.post(f"/app/sign-in/{link}", headers={"Origin": "http://gateway.test"})).status_code == 303
    csrf = csrf_of((await client.get("/app/mig")).text)
    form = {"csrf": csrf, "kind": "wish", "text": "Fra et andet sted"}
    assert (await client.post(f"/app/mig/{plan_id}/wishes", data=form, headers=elsewhere)).status_code == 403
