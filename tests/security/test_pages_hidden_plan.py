"""The team pages and `/plans` as Organisation X sees a hidden plan and a missing one: the same answer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.security.conftest import Headers
from tests.security.test_hidden_is_missing import both
from tests.support import cast


@pytest.mark.parametrize("path", ["/app/plans/{}", "/app/plans/{}/plan.pdf"])
async def test_x_on_the_team_page_of_a_hidden_plan(
    app: FastAPI, client: httpx.AsyncClient, plan: dict[str, Any], path: str
) -> None:
    link = app.state.web.sessions.create_link("organisation", "x")
    assert (await client.post(f"/app/sign-in/{link}")).status_code == 303

    async def get(plan_id: str) -> httpx.Response:
        return await client.get(path.format(plan_id))

    seen_hidden, seen_missing = await both(client, plan["planId"], get)
    assert seen_hidden == seen_missing and seen_hidden[0] == 404


async def test_x_plans_put_with_its_own_document(client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]) -> None:
    document = cast.plan_document()
    document["source"] = {"system": f"https://sor2.sum.dsdn.dk/#id={cast.X_SOR}", "value": "X-1"}

    async def put(plan_id: str) -> httpx.Response:
        return await client.put(f"/plans/{plan_id}", json=document, headers=as_("x"))

    seen_hidden, seen_missing = await both(client, plan["planId"], put)
    assert seen_hidden == seen_missing


async def test_a_named_organisation_sees_the_team_page_without_the_crisis_plans_it_was_not_granted(
    app: FastAPI, client: httpx.AsyncClient, as_: Headers, plan: dict[str, Any]
) -> None:
    """Slagelse is named for `careplan` and `careteam`, not `crisisplan`: its team page shows the plan without the
    crisis plans, as `GET /plans/{id}` does. (It answered 404: one part it may not see hid the whole plan.)"""
    crisis_text = "Tidlige tegn: sover dårligt"
    for organisation, shows_crisis_plan in (("slagelse", False), ("region", True)):
        client.cookies.clear()
        link = app.state.web.sessions.create_link("organisation", organisation)
        assert (await client.post(f"/app/sign-in/{link}")).status_code == 303
        page = await client.get(f"/app/plans/{plan['planId']}")
        assert page.status_code == 200, (organisation, page.status_code)
        assert (crisis_text in page.text) is shows_crisis_plan, organisation
    api = (await client.get(f"/plans/{plan['planId']}", headers=as_("slagelse"))).json()
    assert api.get("crisis_plans", []) == []
