"""The gateway with authentication on, the cast of `tests/support/cast.py`, and the attack plan posted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI

from gateway.api import create_app
from gateway.clock import FixedClock, SequenceIds
from gateway.config import Settings
from tests.support import cast, scenario

Headers = Callable[[str], dict[str, str]]


def settings_in(tmp_path: Path, **changes: Any) -> Settings:
    """The attack deployment's settings in `tmp_path` (clients, directory), with `changes`."""
    cast.write_clients(tmp_path / "clients.yaml")
    directory = scenario.directory("http://127.0.0.1:9/gp", "http://127.0.0.1:9/kommune")
    # X sends messages in its own name too (a sender of the directory): what it may not do is send in others'
    directory["senders"].append({"name": "Organisation X", "sor": cast.X_SOR, "gln": cast.X_GLN})
    (tmp_path / "directory.yaml").write_text(yaml.safe_dump(directory, allow_unicode=True), "utf-8")
    return Settings(data_dir=tmp_path, rate_limit_per_minute=100_000, rate_limit_burst=100_000, **changes)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_in(tmp_path)


@pytest.fixture
def app(settings: Settings, clock: FixedClock) -> FastAPI:
    return create_app(settings, clock=clock, ids=SequenceIds())


@pytest.fixture
def as_(settings: Settings, clock: FixedClock) -> Headers:
    """`as_("x")`: the Authorization header of a registered client (token valid for a day of the test clock)."""
    made: dict[str, dict[str, str]] = {}

    def headers(client: str) -> dict[str, str]:
        if client not in made:
            made[client] = cast.bearer(settings, client, clock.now())
        return made[client]

    return headers


@pytest.fixture
async def plan(client: httpx.AsyncClient, as_: Headers) -> dict[str, Any]:
    """The region's receipt for the attack plan (`planId`, `resources` by type)."""
    response = await client.post("/plans", json=cast.plan_document(), headers=as_("region"))
    assert response.status_code == 201, response.text
    receipt: dict[str, Any] = response.json()
    return receipt
