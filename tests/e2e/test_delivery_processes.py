"""End to end with real processes: the gateway (with its delivery worker) and both fixture servers on loopback.

One discharge arrives at each receiver with the right content; and a gateway killed with SIGKILL again and again
during delivery still gets every notice to its receiver exactly once as the receiver sees it, none lost.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import processes, scenario

pytestmark = pytest.mark.e2e
HL7 = {"content-type": "x-application/hl7-v2+er7", "accept": "application/json"}


@pytest.fixture
def receivers(tmp_path: Path) -> Iterator[tuple[processes.Service, processes.Service]]:
    gp = processes.fixture("gp", tmp_path).start()
    municipality = processes.fixture("municipality", tmp_path).start()
    try:
        yield gp, municipality
    finally:
        gp.stop()
        municipality.stop()


def directory(tmp_path: Path, gp: processes.Service, municipality: processes.Service) -> Path:
    return scenario.write_directory(
        tmp_path / "directory.yaml", f"{gp.url}/fhir/$process-message", f"{municipality.url}/fhir/$process-message"
    )


def wait_until_delivered(base: str, message_ids: list[str], timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        notices = [n for m in message_ids for n in httpx.get(f"{base}/messages/{m}", timeout=5).json()["notices"]]
        if all(n["state"] == "acknowledged" for n in notices) or time.monotonic() > deadline:
            return notices
        time.sleep(0.2)


def received(service: processes.Service, raw: bool = False) -> list[dict[str, Any]]:
    reply = httpx.get(f"{service.url}/received" + ("/raw" if raw else ""), timeout=5).json()
    return list(reply["deliveries" if raw else "messages"])


def test_discharge_reaches_gp_and_municipality(
    tmp_path: Path, receivers: tuple[processes.Service, processes.Service]
) -> None:
    gp, municipality = receivers
    gateway = processes.gateway(tmp_path, directory(tmp_path, gp, municipality)).start()
    try:
        assert httpx.post(f"{gateway.url}/plans", json=scenario.plan_document()).status_code == 201
        ids = []
        for sample in ("adt_a01_inpatient_8859-1.hl7", "adt_a03_discharge_8859-1.hl7"):
            reply = httpx.post(f"{gateway.url}/messages", content=scenario.adt(sample), headers=HL7)
            assert reply.status_code == 202, reply.text
            ids.append(reply.json()["messageId"])
        notices = wait_until_delivered(gateway.url, ids)
        assert {n["state"] for n in notices} == {"acknowledged"}, notices
        by_cpr = httpx.get(f"{gateway.url}/fhir/Patient?identifier=urn:oid:1.2.208.176.1.2|{scenario.CPR}")
        assert by_cpr.json()["total"] == 1
    finally:
        gateway.stop()
    log = (tmp_path / "gateway.log").read_text(errors="replace")
    assert "GET /fhir/Patient?identifier=" in log, "the access log line is there..."
    assert scenario.CPR not in log, "...with the CPR number masked"
    to_gp = received(gp)
    to_municipality = received(municipality)
    # The demo directory routes the admitting ward to the GP fixture (the crisis plan) and the coordinator's botilbud
    # to the municipality fixture (admission and discharge), beside the GP letter, the follow-up and the two notices.
    assert [r["event"] for r in to_gp] == ["care-communication-message"] * 2
    assert (
        sorted(r["event"] for r in to_municipality)
        == ["care-communication-message"] * 3 + ["hospital-notification-message"] * 2
    )
    assert all(r["ack_code"] == "ok" for r in to_gp + to_municipality)


def test_sigkill_during_delivery_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, receivers: tuple[processes.Service, processes.Service]
) -> None:
    gp, municipality = receivers
    # The first two deliveries are stored and then the connection is dropped (the sender never learns they
    # arrived: MedCom's resend case); after that every delivery takes 0.4 s, so kills land mid-send.
    for fault in ({"kind": "drop", "after": True, "count": 2}, {"kind": "delay", "seconds": 0.4, "count": 1000}):
        assert httpx.post(f"{municipality.url}/faults", json=fault).status_code == 201
    gateway = processes.gateway(tmp_path, directory(tmp_path, gp, municipality)).start()
    assert httpx.post(f"{gateway.url}/plans", json=scenario.plan_document()).status_code == 201
    stays = 30
    ids = []
    for n in range(stays):
        body = scenario.adt_variant("adt_a01_inpatient_8859-1.hl7", f"CRASH{n:04d}", f"{n:032x}")
        reply = httpx.post(f"{gateway.url}/messages", content=body, headers=HL7)
        assert reply.status_code == 202, reply.text
        ids.append(reply.json()["messageId"])
    rng = random.Random(20261123)
    kills = 0
    try:
        for _ in range(8):
            time.sleep(rng.uniform(0.5, 1.5))
            gateway.kill()
            kills += 1
            gateway.start()
        notices = wait_until_delivered(gateway.url, ids, timeout=90)
    finally:
        gateway.stop()
    assert kills == 8
    assert {n["state"] for n in notices} == {"acknowledged"}, [(n["id"], n["state"], n["lastError"]) for n in notices]
    expected = sorted(n["messageHeaderId"] for n in notices)
    seen = sorted(r["message_header_id"] for r in received(municipality) + received(gp))
    assert seen == expected, "every notice exactly once as the receivers show it"
    raw = received(municipality, raw=True)
    to_municipality = {n["messageHeaderId"] for n in notices if n["endpoint"].startswith(municipality.url)}
    assert {r["message_header_id"] for r in raw} == to_municipality
    resends = [r for r in raw if r["delivery"] != "new"]
    assert len(resends) >= 2, "the dropped deliveries were sent again"
    assert all(r["delivery"] in ("resend", "duplicate") for r in resends)
    attempts = sum(len(n["attempts"]) for n in notices)
    print(
        f"crash loop: {kills} SIGKILLs, {len(expected)} notices, {attempts} attempts recorded, "
        f"{len(raw)} deliveries seen by the receiver, {len(resends)} of them resends, 0 lost, 0 duplicated"
    )
