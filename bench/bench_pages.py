"""The pages' server-side cost for a big plan: 10 goals, 20 interventions, 10 team members.

Run: .venv/bin/python bench/bench_pages.py   (prints times and ratios from one run; the target is a team page
well under 50 ms)

Measured through ASGI without network, as the gateway serves them: the team's page (the plan, the previous meeting's
version and the diff, audited reads), the citizen's page (plus "who looked"), the template rendering alone, the PDF,
and for scale the API's `GET /plans/{id}` of the same plan.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from gateway.api import create_app
from gateway.clock import SystemClock
from gateway.config import Settings
from gateway.security.tokens import LocalSigningKey, issue_token
from gateway.web.pdf import plan_pdf
from gateway.web.templating import render
from gateway.web.views import plan_view
from mappings.documents.plan import parse_plan_document

sys.path.insert(0, str(Path(__file__).parent))
from bench_plan_and_store import per_call as per_call_sync  # noqa: E402  (one timing loop for the benchmarks)

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "samples" / "demo" / "plan.json"
REGION = {"name": "Psykiatrisk Center Øst", "sor": "265161000016000", "gln": "5790000209354"}


def big_plan() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DEMO.read_text("utf-8"))
    team = document["team"]
    while len(team) < 10:
        extra = copy.deepcopy(team[1])
        extra["key"] = f"m{len(team)}"
        extra["name"] = {"given": ["Person"], "family": f"Nummer {len(team)}"}
        team.append(extra)
    document["goals"] = [
        {"key": f"g{i}", "description": f"Mål nummer {i}: en god hverdag med faste rutiner og overskud.",
         "term": "short-term" if i % 2 else "long-term", "status": "active", "start_date": "2025-03-04"}
        for i in range(10)
    ]  # fmt: skip
    document["interventions"] = [
        {"key": f"i{i}", "description": f"Indsats nummer {i}: samtale, opfølgning og hjælp i hverdagen.",
         "responsible": team[i % 10]["key"], "until": "2025-06-03", "status": "in-progress", "goals": [f"g{i % 10}"]}
        for i in range(20)
    ]  # fmt: skip
    document["consent"]["permitted"] = [member["key"] for member in team]
    return document


async def per_call(function: Callable[[], Awaitable[object]], repeat: int) -> float:
    await function()
    start = time.perf_counter()
    for _ in range(repeat):
        await function()
    return (time.perf_counter() - start) / repeat


async def main() -> None:
    document = big_plan()
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        clients = [{"client_id": "region", "organisation": REGION, "scopes": ["system/*.cruds"]}]
        (data / "clients.yaml").write_text(yaml.safe_dump({"clients": clients}, allow_unicode=True), "utf-8")
        settings = Settings(data_dir=data)
        app = create_app(settings)
        signed = issue_token(
            LocalSigningKey.load_or_create(data), client_id="region", scopes="system/*.cruds",
            issuer=settings.token_issuer, audience=settings.token_audience, now=SystemClock().now(),
            lifetime=timedelta(hours=1),
        )  # fmt: skip
        api = {"Authorization": f"Bearer {signed}"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            plan_id = (await client.post("/plans", json=document, headers=api)).json()["planId"]
            document["coordination"] |= {"meeting_date": "2025-06-03", "next_meeting": "2025-09-02"}
            document["interventions"][3]["status"] = "completed"
            assert (await client.put(f"/plans/{plan_id}", json=document, headers=api)).status_code == 200
            web = app.state.web
            await client.post(f"/app/sign-in/{web.sessions.create_link('organisation', 'region')}")

            async def team_page() -> None:
                assert (await client.get(f"/app/plans/{plan_id}")).status_code == 200

            async def api_read() -> None:
                assert (await client.get(f"/plans/{plan_id}", headers=api)).status_code == 200

            team = await per_call(team_page, 50)
            read = await per_call(api_read, 50)
            client.cookies.clear()
            await client.post(f"/app/sign-in/{web.sessions.create_link('citizen', document['citizen']['cpr'])}")

            async def citizen_page() -> None:
                assert (await client.get("/app/mig")).status_code == 200

            citizen = await per_call(citizen_page, 50)
    parsed = parse_plan_document(document)
    view = plan_view(parsed, plan_id, 2)
    template = per_call_sync(lambda: render("team.html", title="x", plan=view, changes=[], previous=None,
                                            organisation="x", notices=[], shared=[], session=None), 200)  # fmt: skip
    pdf = per_call_sync(lambda: plan_pdf(view, SystemClock().now()), 10)
    print("plan: 10 goals, 20 interventions, 10 team members; 2 versions (the diff has something to show)")
    print(f"  API GET /plans/{{id}}        {read * 1e3:7.1f} ms   1.0x")
    print(f"  team page /app/plans/{{id}}  {team * 1e3:7.1f} ms  {team / read:5.1f}x")
    print(f"  citizen page /app/mig       {citizen * 1e3:7.1f} ms  {citizen / read:5.1f}x")
    print(f"  template rendering alone    {template * 1e3:7.1f} ms  {template / read:5.2f}x")
    print(f"  plan PDF (fpdf2)            {pdf * 1e3:7.1f} ms  {pdf / read:5.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
