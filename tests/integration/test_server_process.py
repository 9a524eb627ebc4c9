"""The real `gateway serve` process on a free loopback port, driven with httpx and with fhirpy, an
independent FHIR client library (its own URL building, paging and conditional-create handling)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fhirpy import SyncFHIRClient

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    data_dir = tmp_path_factory.mktemp("gateway-data")
    env = {
        **os.environ,
        "GATEWAY_DATA_DIR": str(data_dir),
        "GATEWAY_CONFIG_FILE": str(data_dir / "none.toml"),
        "GATEWAY_INSECURE_NO_AUTH": "true",
    }
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(Path(log.name).read_text())
            time.sleep(0.1)
        assert (data_dir / "gateway.db").is_file(), "the embedded SQLite database was created"
        yield f"{base}/fhir"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_create_read_update_history_over_real_http(server: str) -> None:
    plan: dict[str, object] = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
    }
    with httpx.Client(base_url=server) as http:
        patient = http.post("/Patient", json={"resourceType": "Patient"})
        assert patient.status_code == 201
        plan["subject"] = {"reference": f"Patient/{patient.json()['id']}"}
        created = http.post("/CarePlan", json=plan, headers={"Content-Type": "application/fhir+json"})
        assert created.status_code == 201
        location = created.headers["location"]
        assert location.startswith(server)
        plan_id = created.json()["id"]
        assert http.get(f"/CarePlan/{plan_id}").json()["status"] == "active"
        updated = http.put(
            f"/CarePlan/{plan_id}",
            json={**created.json(), "status": "completed"},
            headers={"If-Match": created.headers["etag"]},
        )
        assert updated.status_code == 200
        stale = http.put(f"/CarePlan/{plan_id}", json=created.json(), headers={"If-Match": created.headers["etag"]})
        assert stale.status_code == 412
        assert http.get(f"/CarePlan/{plan_id}/_history").json()["total"] == 2
        assert http.post("/CarePlan", content=b"{not json").status_code == 400


def test_independent_fhir_client_library(server: str) -> None:
    client = SyncFHIRClient(server, extra_headers={"Content-Type": "application/fhir+json"})
    patient = client.resource(
        "Patient",
        identifier=[{"system": "urn:oid:1.2.208.176.1.2", "value": "0101709996"}],
        name=[{"family": "Testesen", "given": ["Åse"]}],
    )
    patient.save()
    assert patient.id
    team = client.resource("CareTeam", status="active", name="Patientens team", subject=patient.to_reference())
    team.save()
    for month in ("01", "04", "07"):
        client.resource(
            "CarePlan",
            status="active",
            intent="plan",
            subject=patient.to_reference(),
            period={"start": f"2026-{month}-01", "end": f"2026-{month}-28"},
            careTeam=[team.to_reference()],
        ).save()
    found = client.resources("Patient").search(identifier="urn:oid:1.2.208.176.1.2|0101709996").fetch()
    assert [p.id for p in found] == [patient.id]
    plans = client.resources("CarePlan").search(patient=patient.id, date__ge="2026-03-01").fetch_all()
    assert len(plans) == 2
    paged = client.resources("CarePlan").search(patient=patient.id).limit(1).fetch_all()
    assert len(paged) == 3
    with_team = client.resources("CarePlan").search(patient=patient.id).include("CarePlan", "care-team").fetch_raw()
    assert {e["search"]["mode"] for e in with_team["entry"]} == {"match", "include"}
    patient["active"] = True
    patient.save()
    assert client.reference("Patient", patient.id).to_resource()["meta"]["versionId"] == "2"
    team.delete()
    assert httpx.get(f"{server}/CareTeam/{team.id}").status_code == 410
