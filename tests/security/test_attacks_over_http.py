"""The attacks against a real `gateway serve` (authentication on, 127.0.0.1), as the issue's reviewers will run
them: over HTTP, with tokens from the gateway's own key, and the audit trail and the log read afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.clock import SystemClock
from gateway.config import Settings
from tests.support import cast, processes, scenario

pytestmark = pytest.mark.e2e
SOR = "urn:oid:1.2.208.176.1.1"


def test_the_attacks_fail_over_http_and_leave_a_trail(tmp_path: Path) -> None:
    cast.write_clients(tmp_path / "clients.yaml")
    directory = scenario.write_directory(tmp_path / "directory.yaml", "http://127.0.0.1:9/gp", "http://127.0.0.1:9/k")
    gateway = processes.gateway(
        tmp_path, directory, insecure_no_auth="false", rate_limit_per_minute="100000", rate_limit_burst="100000"
    ).start()
    settings = Settings(data_dir=tmp_path)
    now = SystemClock().now()
    as_ = {name: cast.bearer(settings, name, now) for name in cast.CLIENTS}
    try:
        with httpx.Client(base_url=gateway.url, timeout=30) as http:
            run_attacks(http, as_)
            trail = http.get("/fhir/AuditEvent?outcome=4&_count=200", headers=as_["auditor"]).json()
            refused_for_x = [
                event["resource"]
                for event in trail["entry"]
                if any(
                    agent.get("who", {}).get("identifier", {}).get("value") == "x"
                    for agent in event["resource"]["agent"]
                )
            ]
            assert len(refused_for_x) >= 4, "the refusals are in the audit trail"
    finally:
        gateway.stop()
    log = (tmp_path / "gateway.log").read_text(errors="replace")
    assert "GET /fhir/Patient?identifier=" in log
    encoded = "".join(f"%{ord(digit):02X}" for digit in cast.CPR)
    assert cast.CPR not in log and encoded not in log


def run_attacks(http: httpx.Client, as_: dict[str, dict[str, str]]) -> None:
    document = cast.plan_document()
    assert http.post("/fhir/CarePlan", json=squat(document), headers=as_["x"]).status_code == 403
    assert http.post("/plans", json=document, headers=as_["x"]).status_code == 403
    posted = http.post("/plans", json=document, headers=as_["region"])
    assert posted.status_code == 201, posted.text
    receipt: dict[str, Any] = posted.json()
    plan_id = receipt["planId"]
    for reader, expected in (("x", 404), ("slagelse", 200), ("gp", 200)):
        assert http.get(f"/fhir/CarePlan/{plan_id}", headers=as_[reader]).status_code == expected, reader
        assert http.get(f"/plans/{plan_id}", headers=as_[reader]).status_code == expected, reader
    missing = http.get("/fhir/CarePlan/00000000-0000-5000-8000-000000000000", headers=as_["x"])
    hidden = http.get(f"/fhir/CarePlan/{plan_id}", headers=as_["x"])
    assert hidden.text.replace(plan_id, "<id>") == missing.text.replace("00000000-0000-5000-8000-000000000000", "<id>")
    for practitioner_id in receipt["resources"]["Practitioner"]:
        record = http.get(f"/fhir/Practitioner/{practitioner_id}", headers=as_["region"]).json()
        forged = {**record, "identifier": [*record["identifier"], {"system": SOR, "value": cast.X_SOR}]}
        assert http.put(f"/fhir/Practitioner/{practitioner_id}", json=forged, headers=as_["x"]).status_code == 404
    assert http.get(f"/fhir/CarePlan/{plan_id}", headers=as_["x"]).status_code == 404
    crisis = receipt["resources"]["Consent"][1:]
    assert all(http.get(f"/fhir/Consent/{i}", headers=as_["slagelse"]).status_code == 404 for i in crisis)
    withdrawn = cast.plan_document(decision="withdrawn")
    assert http.put(f"/plans/{plan_id}", json=withdrawn, headers=as_["region"]).status_code == 200
    assert http.get(f"/fhir/CarePlan/{plan_id}", headers=as_["slagelse"]).status_code == 404
    second = http.post("/plans", json=cast.plan_document("KIP-2025-000999"), headers=as_["region"]).json()
    assert http.get(f"/fhir/CarePlan/{second['planId']}", headers=as_["slagelse"]).status_code == 200
    assert http.get(f"/fhir/CarePlan/{plan_id}", headers=as_["slagelse"]).status_code == 404
    encoded = "".join(f"%{ord(digit):02X}" for digit in cast.CPR)
    found = http.get(f"/fhir/Patient?identifier=urn:oid:1.2.208.176.1.2%7C{encoded}", headers=as_["x"])
    assert found.json()["total"] == 0


def squat(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "identifier": [document["source"]],
        "subject": {"display": "the citizen"},
    }
