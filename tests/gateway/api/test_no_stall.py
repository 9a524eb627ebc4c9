"""No input stalls the server: while a big A01 (30,000 repetitions of the PID fields the mapping reads) is being
parsed, `/health` answers.

The parse runs in a worker process (`services/parsing.py`). To make the big message really cost its minute, the
HL7 limits are raised as far as an operator could; its time budget then stops it. With the default limits it is
refused at once (`tests/gateway/services/test_parsing.py`)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from gateway.api import create_app
from gateway.clock import SequenceIds
from gateway.config import Settings
from gateway.inbound import Limits
from gateway.services.parsing import ProcessParsing
from tests.support import scenario


@pytest.fixture
def app(tmp_path: Path, clock: object) -> FastAPI:
    app = create_app(Settings(data_dir=tmp_path, insecure_no_auth=True), clock=clock, ids=SequenceIds())  # type: ignore[arg-type]
    app.state.intake.limits = Limits(max_hl7_repetitions=10**6, max_hl7_elements=10**7)
    app.state.intake.parsing = ProcessParsing(workers=1, budget_seconds=4)
    return app


async def test_health_answers_while_the_big_message_is_parsed(client: httpx.AsyncClient) -> None:
    headers = {"content-type": "x-application/hl7-v2+er7", "accept": "application/json"}
    big = asyncio.create_task(
        client.post("/messages", content=scenario.oversized_a01(positions=scenario.READ_FIELDS), headers=headers)
    )
    await asyncio.sleep(0.3)  # the big one is being parsed
    answered_meanwhile: list[float] = []
    while not big.done():
        started = time.perf_counter()
        health = await client.get("/health")
        if not big.done():
            answered_meanwhile.append(time.perf_counter() - started)
        assert health.status_code == 200
        await asyncio.sleep(0.1)
    response = await big
    assert answered_meanwhile, "/health answered while the big message was still being parsed"
    print(
        f"/health during the big A01: {len(answered_meanwhile)} answers, "
        f"median {sorted(answered_meanwhile)[len(answered_meanwhile) // 2] * 1000:.1f} ms, "
        f"max {max(answered_meanwhile) * 1000:.1f} ms"
    )
    assert response.status_code == 400
    assert response.json()["issue"][0]["details"]["coding"][0]["code"] == "intake.over-time-budget"
