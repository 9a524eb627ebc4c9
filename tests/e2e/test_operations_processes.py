"""Operations with real processes: MedCom's acknowledgement-timeout rule end to end, SIGTERM draining, and two API
instances sharing one rate limit through Redis."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support import processes, scenario

pytestmark = pytest.mark.e2e
HL7 = {"content-type": "x-application/hl7-v2+er7", "accept": "application/json"}


def notices_of(gateway: processes.Service, message_id: str) -> list[dict[str, Any]]:
    return list(httpx.get(f"{gateway.url}/messages/{message_id}", timeout=10).json()["notices"])


def wait_for(
    gateway: processes.Service,
    message_id: str,
    state: str,
    timeout: float = 60,
    kind: str = "hospital-notification",
) -> dict[str, Any]:
    """The message's notice of `kind` once it is in `state` (an admission also makes consented plan notices)."""
    deadline = time.monotonic() + timeout
    while True:
        notice = next(n for n in notices_of(gateway, message_id) if n["kind"] == kind)
        if notice["state"] == state or time.monotonic() > deadline:
            assert notice["state"] == state, notice
            return notice
        time.sleep(0.1)


def test_an_unacknowledged_notice_is_resent_twice_then_dead_lettered(
    tmp_path: Path, receivers: tuple[processes.Service, processes.Service]
) -> None:
    gp, municipality = receivers
    # The municipality stores every message and never sends the acknowledgement it promises (202, no body).
    assert httpx.post(f"{municipality.url}/faults", json={"kind": "no-ack", "count": 10}).is_success
    gateway = processes.gateway(
        tmp_path, processes.directory(tmp_path, gp, municipality), ack_timeout_seconds="2", ack_max_resends="2"
    ).start()
    try:
        assert httpx.post(f"{gateway.url}/plans", json=scenario.plan_document()).status_code == 201
        reply = httpx.post(f"{gateway.url}/messages", content=scenario.adt("adt_a01_inpatient_8859-1.hl7"), headers=HL7)
        assert reply.status_code == 202
        notice = wait_for(gateway, reply.json()["messageId"], "dead")
    finally:
        gateway.stop()
    assert notice["resends"] == 2
    assert notice["lastError"] == "no-ack: no acknowledgement after 2 resend(s)"
    sends = notice["attempts"]
    assert [a["outcome"] for a in sends] == ["delivered"] * 3 and {a["status"] for a in sends} == {202}
    assert len({a["bundleId"] for a in sends}) == 3, "a new Bundle.id on every send"
    deliveries = httpx.get(f"{municipality.url}/received/raw", timeout=10).json()["deliveries"]
    raw = [r for r in deliveries if r["message_header_id"] == notice["messageHeaderId"]]
    assert len(raw) == 3, "the same MessageHeader.id on every send"
    assert [r["delivery"] for r in raw] == ["new", "resend", "resend"]
    assert [r["bundle_id"] for r in raw] == [a["bundleId"] for a in sends]


def test_sigterm_drains_the_send_in_flight_and_the_requests_in_flight(
    tmp_path: Path, receivers: tuple[processes.Service, processes.Service]
) -> None:
    gp, municipality = receivers
    assert httpx.post(f"{municipality.url}/faults", json={"kind": "delay", "seconds": 3, "count": 1}).is_success
    gateway = processes.gateway(
        tmp_path,
        processes.directory(tmp_path, gp, municipality),
        delivery_timeout_seconds="10",
        delivery_lease_seconds="12",
    )
    gateway.start()
    try:
        assert httpx.post(f"{gateway.url}/plans", json=scenario.plan_document()).status_code == 201
        admission = httpx.post(
            f"{gateway.url}/messages", content=scenario.adt("adt_a01_inpatient_8859-1.hl7"), headers=HL7
        ).json()["messageId"]
        wait_for(gateway, admission, "sending")  # the municipality takes 3 s to answer
        slow: dict[str, Any] = {}

        def body() -> Iterator[bytes]:  # a discharge whose body trickles in over a second
            data = scenario.adt("adt_a03_discharge_8859-1.hl7")
            for start in range(0, len(data), len(data) // 4 + 1):
                yield data[start : start + len(data) // 4 + 1]
                time.sleep(0.3)

        def post() -> None:
            slow["reply"] = httpx.post(f"{gateway.url}/messages", content=body(), headers=HL7, timeout=30)

        sender = threading.Thread(target=post)
        sender.start()
        time.sleep(0.4)
        assert gateway.process is not None
        gateway.process.send_signal(signal.SIGTERM)
        sender.join(timeout=30)
        returncode = gateway.process.wait(timeout=30)
    finally:
        gateway.stop()
    assert slow["reply"].status_code == 202, "the request in flight was answered before the process ended"
    # uvicorn re-raises the signal once it has shut down gracefully, so the exit status is "ended by SIGTERM".
    assert returncode in (0, -signal.SIGTERM)
    assert "Finished server process" in (tmp_path / "gateway.log").read_text(errors="replace")
    restarted = processes.gateway(
        tmp_path, processes.directory(tmp_path, gp, municipality), worker_enabled="false"
    ).start()
    try:
        notice = next(n for n in notices_of(restarted, admission) if n["kind"] == "hospital-notification")
    finally:
        restarted.stop()
    assert notice["state"] == "acknowledged", "the send in flight was finished and recorded"
    assert [a["outcome"] for a in notice["attempts"]] == ["delivered"]
    deliveries = httpx.get(f"{municipality.url}/received/raw", timeout=10).json()["deliveries"]
    assert [d["message_header_id"] for d in deliveries].count(notice["messageHeaderId"]) == 1, "sent once"


@pytest.mark.redis
def test_two_api_instances_give_a_client_its_rate_once(tmp_path: Path, redis_server: str, redis_prefix: str) -> None:
    clients = {
        "clients": [
            {
                "client_id": "slow",
                "organisation": {"name": "Rate limited", "sor": "123456789012", "gln": "5790000209354"},
                "scopes": ["system/Patient.rs"],
                "rate_limit": 1,
            }
        ]
    }
    (tmp_path / "clients.yaml").write_text(yaml.safe_dump(clients), "utf-8")
    settings = {
        "insecure_no_auth": "false",
        "redis_url": redis_server,
        "redis_prefix": redis_prefix,
        "rate_limit_burst": "2",
    }
    apis = [processes.gateway(tmp_path, tmp_path / "directory.yaml", name=f"api-{n}", **settings) for n in (1, 2)]
    apis[0].start()
    apis[1].start()
    try:
        token = subprocess.run(
            [sys.executable, "-m", "gateway", "token", "create", "--client", "slow"],
            env={**apis[0].env, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        headers = {"Authorization": f"Bearer {token}"}
        statuses = [httpx.get(f"{api.url}/fhir/Patient", headers=headers).status_code for api in (*apis, apis[0])]
    finally:
        for api in apis:
            api.stop()
    assert statuses == [200, 200, 429], "a burst of two, spent across both instances"
