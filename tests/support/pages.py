"""Page tests' cast and helpers: an app with authentication on, the demo plan written by the region, sign-in.

Cast (synthetic, tests/support/scenario.py): the region's FACT team (client `region`; the demo plan's source is its
SOR namespace, so only it may write the plan) writes the plan; the GP practice
and Slagelse municipality are in the team and permitted by the citizen's consent; Herlev municipality is not.
Test modules import the fixtures they use from here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI

from gateway.api import create_app
from gateway.clock import SequenceIds
from gateway.config import Settings
from gateway.security.tokens import LocalSigningKey, issue_token
from tests.support import scenario

READER = ["system/CarePlan.rs", "system/CareTeam.rs", "system/Goal.rs", "system/Consent.rs", "system/Patient.rs"]
CLIENTS: dict[str, tuple[dict[str, str], list[str]]] = {
    "region": (
        {"name": "Distriktspsykiatrien Slagelse, FACT-team Nord", "sor": "329631000016003", "gln": "5790000555550"},
        ["system/*.cruds", "system/Messages.cr"],
    ),
    "gp": (
        {
            "name": "Lægerne i Slagelse Bymidte",
            "sor": "481561000016002",
            "gln": "5790000167814",
            "provider_number": "012345",
        },
        READER,
    ),
    "slagelse": (
        {
            "name": "Slagelse Kommune, Socialpsykiatri",
            "sor": "375431000016008",
            "gln": "5790001348120",
            "municipality": "0330",
        },
        READER,
    ),
    "herlev": (
        {"name": "Herlev Kommune", "sor": "953741000016009", "gln": "5790000121441", "municipality": "0163"},
        READER,
    ),
}
MUNICIPALITY_ENDPOINT = "http://kommune.test/fhir/$process-message"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    clients = [{"client_id": n, "organisation": o, "scopes": s} for n, (o, s) in CLIENTS.items()]
    (tmp_path / "clients.yaml").write_text(yaml.safe_dump({"clients": clients}, allow_unicode=True), "utf-8")
    scenario.write_directory(tmp_path / "directory.yaml", "http://gp.test/fhir/$process-message", MUNICIPALITY_ENDPOINT)
    return Settings(data_dir=tmp_path)


@pytest.fixture
def app(settings: Settings, clock: Any) -> FastAPI:
    return create_app(settings, clock=clock, ids=SequenceIds())


@pytest.fixture
def token(settings: Settings, clock: Any) -> Callable[[str], dict[str, str]]:
    key = LocalSigningKey.load_or_create(settings.data_dir)

    def make(client: str) -> dict[str, str]:
        signed = issue_token(
            key,
            client_id=client,
            scopes=" ".join(CLIENTS[client][1]),
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            now=clock.now(),
            lifetime=timedelta(hours=1),
        )
        return {"Authorization": f"Bearer {signed}"}

    return make


@pytest.fixture
async def plan_id(client: httpx.AsyncClient, token: Any) -> str:
    response = await client.post("/plans", json=scenario.plan_document(), headers=token("region"))
    assert response.status_code == 201, response.text
    return str(response.json()["planId"])


SignIn = Callable[[str, str], Any]


@pytest.fixture
def sign_in(app: FastAPI, client: httpx.AsyncClient) -> SignIn:
    """Sign `client` in through a fresh link (kind `citizen` with a CPR number, or `organisation` with a client
    id), as a person would: open the link, press the button. Returns the page's CSRF token getter."""

    async def go(kind: str, subject: str) -> None:
        client.cookies.clear()
        link = app.state.web.sessions.create_link(kind, subject)
        assert (await client.get(f"/app/sign-in/{link}")).status_code == 200
        response = await client.post(f"/app/sign-in/{link}")
        assert response.status_code == 303, response.text

    return go


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has a form with a CSRF token"
    return match.group(1)
