"""Operations endpoints: liveness, readiness (database, migrations, delivery lag), Prometheus metrics, request ids."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from alembic import command
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from gateway.api import create_app
from gateway.clock import SequenceIds
from gateway.config import Settings
from gateway.logs import RequestIdFilter, configure
from gateway.store.database import alembic_config, make_engine
from tests.support import scenario

HL7 = {"content-type": "x-application/hl7-v2+er7", "accept": "application/json"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    scenario.write_directory(tmp_path / "directory.yaml", "http://127.0.0.1:9/gp", "http://127.0.0.1:9/kommune")
    return Settings(data_dir=tmp_path, insecure_no_auth=True)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert (body["status"], body["database"], body["migrations"]) == ("ready", "reachable", "current")
    assert body["worker"] == {"lagSeconds": 0.0, "status": "ok"}


async def test_not_ready_while_the_schema_is_behind_the_code(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    with engine.begin() as connection:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
    app = create_app(Settings(data_dir=tmp_path, insecure_no_auth=True), engine=engine, migrate=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        ready = await client.get("/ready")
        assert (await client.get("/health")).status_code == 200, "alive all the same"
    assert ready.status_code == 503
    assert ready.json()["migrations"].startswith("at 0002, this code needs ")


async def test_not_ready_without_a_database(tmp_path: Path) -> None:
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    app = create_app(Settings(data_dir=tmp_path, insecure_no_auth=True), engine=engine, migrate=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        ready = await client.get("/ready")
    assert ready.status_code == 503 and ready.json()["database"].startswith("unreachable")


async def test_metrics_show_the_queue_intake_and_validation(client: httpx.AsyncClient) -> None:
    assert (await client.post("/plans", json=scenario.plan_document())).status_code == 201
    for sample in ("adt_a01_inpatient_8859-1.hl7", "adt_a01_inpatient_8859-1.hl7", "adt_a03_discharge_8859-1.hl7"):
        await client.post("/messages", content=scenario.adt(sample), headers=HL7)
    await client.post("/messages", content=b"MSH|nonsense", headers=HL7)
    response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    assert found[("gateway_outbox_notices", (("state", "pending"),))] == 7, "A01: 3 notices, A03: 4"
    assert found[("gateway_outbox_notices", (("state", "dead"),))] == 0
    assert found[("gateway_intake_total", (("kind", "hl7v2"), ("outcome", "accepted")))] == 2
    assert found[("gateway_intake_total", (("kind", "hl7v2"), ("outcome", "repeat")))] == 1
    assert found[("gateway_intake_total", (("kind", "hl7v2"), ("outcome", "refused")))] == 1
    assert found[("gateway_validation_seconds_count", ())] == 7, "one profile check per notice"
    assert ("gateway_outbox_oldest_ready_seconds", ()) in found
    assert ("gateway_delivery_attempts_total", (("outcome", "delivered"),)) not in found, "no worker here"


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    made = (await client.get("/health")).headers["x-request-id"]
    assert made and made != (await client.get("/health")).headers["x-request-id"]
    assert (await client.get("/health", headers={"X-Request-ID": "trace-42"})).headers["x-request-id"] == "trace-42"
    hostile = (await client.get("/health", headers={"X-Request-ID": "a\\nb" * 40})).headers["x-request-id"]
    assert hostile != "a\\nb" * 40, "only a short token is taken over into the log lines"


def test_json_log_lines_carry_the_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers, root.level
    try:
        configure("info", "json")
        from gateway.logs import request_id

        token = request_id.set("req-1")
        logging.getLogger("gateway.test").info("delivered %s", "n-1")
        request_id.reset(token)
        root.handlers[0].flush()
    finally:
        root.handlers, root.level = handlers, level
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert (line["message"], line["request_id"], line["level"], line["logger"]) == (
        "delivered n-1",
        "req-1",
        "INFO",
        "gateway.test",
    )
    assert RequestIdFilter().filter(logging.makeLogRecord({})) is True


def test_app_exposes_a_registry_of_its_own(settings: Settings) -> None:
    first, second = (create_app(settings, ids=SequenceIds()) for _ in range(2))
    assert first.state.metrics.registry is not second.state.metrics.registry
    assert isinstance(first, FastAPI)
