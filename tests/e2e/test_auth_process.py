"""The default `gateway serve` (authentication on) as a real process: a new user's token from
`gateway token create` works at once; no token, or a token from another key, does not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import processes

pytestmark = pytest.mark.e2e


def test_token_from_the_cli_opens_the_api(tmp_path: Path) -> None:
    gateway = processes.gateway(tmp_path, tmp_path / "directory.yaml", insecure_no_auth="false").start()
    try:
        plan: dict[str, object] = {
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "plan",
            "subject": {"reference": "Patient/x"},
        }
        assert httpx.post(f"{gateway.url}/fhir/CarePlan", json=plan).status_code == 401
        token = subprocess.run(
            [sys.executable, "-m", "gateway", "token", "create"],
            env={**gateway.env, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        headers = {"Authorization": f"Bearer {token}"}
        patient = httpx.post(f"{gateway.url}/fhir/Patient", json={"resourceType": "Patient"}, headers=headers)
        assert patient.status_code == 201
        plan["subject"] = {"reference": f"Patient/{patient.json()['id']}"}
        created = httpx.post(f"{gateway.url}/fhir/CarePlan", json=plan, headers=headers)
        assert created.status_code == 201, created.text
        assert httpx.get(f"{gateway.url}/fhir/CarePlan/{created.json()['id']}", headers=headers).status_code == 200
        other = subprocess.run(
            [sys.executable, "-m", "gateway", "token", "create"],
            env={**gateway.env, "GATEWAY_DATA_DIR": str(tmp_path / "elsewhere"), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        forged = httpx.get(f"{gateway.url}/fhir/CarePlan", headers={"Authorization": f"Bearer {other}"})
        assert forged.status_code == 401
    finally:
        gateway.stop()
    log = (tmp_path / "gateway.log").read_text(errors="replace")
    assert "2509479989" not in log
    assert "GATEWAY_PLAN_ID_NAMESPACE is the public default" in log, "the public namespace is said at start"


def test_a_secret_plan_id_namespace_is_not_warned_about(tmp_path: Path) -> None:
    secret = "0b6f2a8e-3c1d-4e5f-8a9b-7c6d5e4f3a2b"  # synthetic
    gateway = processes.gateway(
        tmp_path, tmp_path / "directory.yaml", insecure_no_auth="false", plan_id_namespace=secret
    ).start()
    gateway.stop()
    assert "public default" not in (tmp_path / "gateway.log").read_text(errors="replace")


def test_insecure_mode_is_refused_off_loopback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--insecure-no-auth", "--host", "0.0.0.0", "--port", "1"],
        env={"GATEWAY_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "refused" in result.stdout + result.stderr
