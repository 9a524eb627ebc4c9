"""Authentication, SMART scopes, consent-enforced access and the audit trail, through the API with auth on.

Cast (synthetic, see tests/support/scenario.py): the region's FACT team (client `region`, whose SOR namespace the
demo plan's source is) writes the citizen's plan; the citizen consents to
Slagelse municipality (her social worker's organisation) and her GP seeing it, not Herlev municipality.
"""

from __future__ import annotations

import logging
import os
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
from tests.support.direct import write_directly

CLIENTS = {
    "region": (
        {"name": "Distriktspsykiatrien Slagelse, FACT-team Nord", "sor": "329631000016003", "gln": "5790000555550"},
        ["system/*.cruds", "system/Messages.cr"],
    ),
    "slagelse": (
        {
            "name": "Slagelse Kommune, Socialpsykiatri",
            "sor": "375431000016008",
            "gln": "5790001348120",
            "municipality": "0330",
        },
        ["system/CarePlan.rs", "system/CareTeam.rs", "system/Goal.rs", "system/Consent.rs", "system/Patient.rs"],
    ),
    "herlev": (
        {"name": "Herlev Kommune", "sor": "953741000016009", "gln": "5790000121441", "municipality": "0163"},
        ["system/CarePlan.rs", "system/CareTeam.rs", "system/Goal.rs", "system/Patient.rs"],
    ),
    "auditor": (
        {"name": "Region, databeskyttelse", "sor": "265161000016000", "gln": "5790000209354"},
        ["system/AuditEvent.rs"],
    ),
    "rogue": (  # a municipality that may write plans and consents, but that the citizen never consented to
        {"name": "Rogue Kommune", "sor": "111111111111", "gln": "5790000121441", "municipality": "0101"},
        ["system/CarePlan.cruds", "system/Consent.cruds", "system/Patient.rs", "system/Organization.cruds"],
    ),
    "slow": (
        {"name": "Rate limited client", "sor": "123456789012", "gln": "5790000209354"},
        ["system/Patient.rs"],
    ),
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    clients = [
        {"client_id": name, "organisation": organisation, "scopes": scopes}
        | ({"rate_limit": 2} if name == "slow" else {})
        for name, (organisation, scopes) in CLIENTS.items()
    ]
    (tmp_path / "clients.yaml").write_text(yaml.safe_dump({"clients": clients}, allow_unicode=True), "utf-8")
    scenario.write_directory(tmp_path / "directory.yaml", "http://127.0.0.1:9/gp", "http://127.0.0.1:9/kommune")
    return Settings(data_dir=tmp_path, rate_limit_burst=2)


@pytest.fixture
def app(settings: Settings, clock: Any) -> FastAPI:
    return create_app(settings, clock=clock, ids=SequenceIds())


@pytest.fixture
def token(settings: Settings, clock: Any):  # type: ignore[no-untyped-def]
    key = LocalSigningKey.load_or_create(settings.data_dir)

    def make(client: str, **overrides: Any) -> dict[str, str]:
        signing_key = overrides.pop("key", key)
        arguments: dict[str, Any] = {
            "client_id": client,
            "scopes": " ".join(CLIENTS[client][1]),
            "issuer": settings.token_issuer,
            "audience": settings.token_audience,
            "now": clock.now(),
            "lifetime": timedelta(hours=1),
        } | overrides
        return {"Authorization": f"Bearer {issue_token(signing_key, **arguments)}"}

    return make


@pytest.fixture
async def plan_id(client: httpx.AsyncClient, token: Any) -> str:
    response = await client.post("/plans", json=scenario.plan_document(), headers=token("region"))
    assert response.status_code == 201, response.text
    return str(response.json()["planId"])


def outcome(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body


async def test_no_token_is_401_with_bearer_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/fhir/CarePlan")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert outcome(response)["issue"][0]["code"] == "login"


@pytest.mark.parametrize(
    "tamper",
    ["expired", "wrong-audience", "forged", "garbage"],
)
async def test_bad_tokens_are_401(
    client: httpx.AsyncClient, token: Any, clock: Any, tmp_path: Path, tamper: str
) -> None:
    if tamper == "expired":
        headers = token("slagelse", now=clock.now() - timedelta(hours=3))
    elif tamper == "wrong-audience":
        headers = token("slagelse", audience="https://someone-else.example/fhir")
    elif tamper == "forged":
        headers = token("slagelse", key=LocalSigningKey.load_or_create(tmp_path / "other"))
    else:
        headers = {"Authorization": "Bearer not.a.jwt"}
    response = await client.get("/fhir/CarePlan", headers=headers)
    assert response.status_code == 401
    assert "Bearer ey" not in response.text


async def test_a_token_that_served_a_request_is_refused_once_it_expires(
    client: httpx.AsyncClient, token: Any, clock: Any
) -> None:
    headers = token("herlev", lifetime=timedelta(minutes=5))
    assert (await client.get("/fhir/Patient", headers=headers)).status_code == 200
    clock.advance(timedelta(minutes=6))  # past exp and the 30 s leeway
    refused = await client.get("/fhir/Patient", headers=headers)
    assert refused.status_code == 401 and "invalid_token" in refused.headers["www-authenticate"]


async def test_a_client_taken_out_of_the_registry_is_refused_at_once(
    client: httpx.AsyncClient, token: Any, settings: Settings
) -> None:
    headers = token("herlev")
    assert (await client.get("/fhir/Patient", headers=headers)).status_code == 200
    registry = settings.effective_clients_file()
    kept = [entry for entry in yaml.safe_load(registry.read_text("utf-8"))["clients"] if entry["client_id"] != "herlev"]
    registry.write_text(yaml.safe_dump({"clients": kept}, allow_unicode=True), "utf-8")
    os.utime(registry, ns=(registry.stat().st_mtime_ns + 10**9,) * 2)  # a changed file, even within one tick
    assert (await client.get("/fhir/Patient", headers=headers)).status_code == 401


async def test_too_few_scopes_is_403_naming_the_scope(client: httpx.AsyncClient, token: Any) -> None:
    response = await client.post(
        "/fhir/CarePlan",
        json={"resourceType": "CarePlan", "status": "active", "intent": "plan", "subject": {"reference": "Patient/x"}},
        headers=token("slagelse"),
    )
    assert response.status_code == 403
    assert "system/CarePlan.c" in outcome(response)["issue"][0]["diagnostics"]


async def test_consent_decides_who_reads_the_plan(client: httpx.AsyncClient, token: Any, plan_id: str) -> None:
    assert (await client.get(f"/fhir/CarePlan/{plan_id}", headers=token("slagelse"))).status_code == 200
    hidden = await client.get(f"/fhir/CarePlan/{plan_id}", headers=token("herlev"))
    assert hidden.status_code == 404
    for path in (f"/plans/{plan_id}", f"/fhir/CarePlan/{plan_id}/_history", f"/fhir/CarePlan/{plan_id}/_history/1"):
        assert (await client.get(path, headers=token("herlev"))).status_code == 404, path
    assert (await client.get(f"/plans/{plan_id}", headers=token("slagelse"))).status_code == 200


async def test_searches_filter_silently_and_include_cannot_leak(
    client: httpx.AsyncClient, token: Any, plan_id: str
) -> None:
    query = "/fhir/CarePlan?_include=CarePlan:care-team&_include=CarePlan:goal"
    seen = (await client.get(query, headers=token("slagelse"))).json()
    assert seen["total"] == 1
    assert {e["resource"]["resourceType"] for e in seen["entry"]} >= {"CarePlan", "CareTeam", "Goal"}
    unseen = (await client.get(query, headers=token("herlev"))).json()
    assert unseen["total"] == 0 and "entry" not in unseen
    teams = (await client.get("/fhir/CareTeam?_revinclude=CarePlan:care-team", headers=token("herlev"))).json()
    assert teams["total"] == 0 and "entry" not in teams
    history = (await client.get("/fhir/CarePlan/_history", headers=token("herlev"))).json()
    assert history["total"] == 0


async def test_withdrawn_consent_takes_effect_at_once(client: httpx.AsyncClient, token: Any, plan_id: str) -> None:
    assert (await client.get(f"/fhir/CarePlan/{plan_id}", headers=token("slagelse"))).status_code == 200
    withdrawn = scenario.plan_document()
    withdrawn["consent"]["decision"] = "withdrawn"
    assert (await client.put(f"/plans/{plan_id}", json=withdrawn, headers=token("region"))).status_code == 200
    assert (await client.get(f"/fhir/CarePlan/{plan_id}", headers=token("slagelse"))).status_code == 404
    assert (await client.get(f"/fhir/CarePlan/{plan_id}", headers=token("region"))).status_code == 200, "authored"


async def test_audit_trail_records_reads_and_denials_for_the_auditor_only(
    client: httpx.AsyncClient, token: Any, plan_id: str
) -> None:
    await client.get(f"/fhir/CarePlan/{plan_id}", headers=token("slagelse"))
    await client.get(f"/fhir/CarePlan/{plan_id}", headers=token("herlev"))
    await client.get("/fhir/CarePlan")  # no token
    assert (await client.get("/fhir/AuditEvent", headers=token("slagelse"))).status_code == 403
    trail = (await client.get("/fhir/AuditEvent?_count=200", headers=token("auditor"))).json()
    events = [e["resource"] for e in trail["entry"]]

    def by(client_id: str) -> list[dict[str, Any]]:
        return [
            e
            for e in events
            if any(a.get("who", {}).get("identifier", {}).get("value") == client_id for a in e["agent"])
        ]

    read_ok = [e for e in by("slagelse") if e["action"] == "R" and e["outcome"] == "0"]
    assert any(f"CarePlan/{plan_id}" in str(e["entity"]) for e in read_ok)
    denied = [e for e in by("herlev") if e["outcome"] == "4"]
    assert any(f"CarePlan/{plan_id}" in str(e.get("entity")) for e in denied)
    assert not any(e["subtype"][0]["code"] == "110122" for e in events), "a failed login writes nothing at once"
    assert by("region"), "the writes are audited too"
    client_app = client._transport.app  # type: ignore[attr-defined]
    assert client_app.state.authorities.flush_failed_logins("http://gateway.test/", everything=True) == 1
    trail = (await client.get("/fhir/AuditEvent?subtype=110122", headers=token("auditor"))).json()
    (login,) = [e["resource"] for e in trail["entry"]]
    assert login["outcome"] == "4" and login["outcomeDesc"].startswith("1 failed authentication attempt(s) from ")


async def test_a_read_holds_no_write_lock_and_its_audit_is_one_append_only_row(
    client: httpx.AsyncClient, token: Any, plan_id: str
) -> None:
    """Issue 18: an authenticated read runs in a read transaction and its AuditEvent follows in one short write
    transaction, as one `audit_event` row (no versioned FHIR resource, no history copy, no index rows)."""
    from sqlalchemy import func, select

    from gateway.store import tables as t
    from gateway.store.database import IMMEDIATE

    engine = client._transport.app.state.engine  # type: ignore[attr-defined]

    def counts() -> tuple[int, int, int]:
        with engine.connect() as connection:
            events = connection.execute(select(func.count()).select_from(t.audit_event)).scalar_one()
            stored = connection.execute(
                select(func.count()).select_from(t.resource).where(t.resource.c.resource_type == "AuditEvent")
            ).scalar_one()
            versions = connection.execute(select(func.count()).select_from(t.resource_version)).scalar_one()
        return events, stored, versions

    before = counts()
    # Another connection holds SQLite's write lock for the whole read: the read itself does not wait for it (a
    # read in a write transaction would, for the 30 s busy timeout), only its audit row does, after the lock goes.
    with engine.connect() as holder:
        held = holder.execution_options(**{IMMEDIATE: True}).begin()  # BEGIN IMMEDIATE: the write lock
        transactions: list[str] = []
        store = client._transport.app.state.fhir.store  # type: ignore[attr-defined]
        reading, writing = store.reading, store.writing

        def read():  # type: ignore[no-untyped-def]
            transactions.append("read")
            return reading()

        def write():  # type: ignore[no-untyped-def]
            transactions.append("write")
            held.commit()  # the lock goes when the audit asks for it
            return writing()

        store.reading, store.writing = read, write
        try:
            response = await client.get(f"/fhir/CarePlan/{plan_id}", headers=token("slagelse"))
        finally:
            del store.reading, store.writing
    assert response.status_code == 200
    assert transactions == ["read", "write"], "the read, then one write transaction for its audit"
    events, stored, versions = counts()
    assert (events, stored, versions) == (before[0] + 1, before[1], before[2])


async def test_audit_events_cannot_be_written_through_the_api(client: httpx.AsyncClient, token: Any) -> None:
    event = {
        "resourceType": "AuditEvent",
        "type": {"code": "rest"},
        "recorded": "2026-01-01T00:00:00Z",
        "agent": [{"requestor": True}],
        "source": {"observer": {"display": "x"}},
    }
    response = await client.post("/fhir/AuditEvent", json=event, headers=token("region"))
    assert response.status_code == 403


async def test_rate_limit_gives_429_with_retry_after(client: httpx.AsyncClient, token: Any) -> None:
    statuses = [(await client.get("/fhir/Patient", headers=token("slow"))).status_code for _ in range(6)]
    assert 429 in statuses
    limited = await client.get("/fhir/Patient", headers=token("slow"))
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


async def test_every_route_is_behind_the_access_check(app: FastAPI) -> None:
    from fastapi.routing import APIRoute

    from gateway.api.security import PUBLIC_PATHS, access_for

    def depends_on_access(route: APIRoute) -> bool:
        stack = list(route.dependant.dependencies)
        while stack:
            dependency = stack.pop()
            if dependency.call is access_for:
                return True
            stack.extend(dependency.dependencies)
        return False

    unguarded = [
        route.path
        for route in app.routes
        if isinstance(route, APIRoute) and route.path not in PUBLIC_PATHS and not depends_on_access(route)
    ]
    assert unguarded == []


async def test_no_cpr_number_reaches_the_logs(
    client: httpx.AsyncClient, token: Any, plan_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    from gateway.security.masking import install_privacy_filter

    install_privacy_filter()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("gateway.test").info("request for identifier=urn:oid:1.2.208.176.1.2|%s", scenario.CPR)
    await client.get(f"/fhir/Patient?identifier=urn:oid:1.2.208.176.1.2|{scenario.CPR}", headers=token("slagelse"))
    assert scenario.CPR not in caplog.text


async def test_a_failed_transaction_leaves_no_audit_of_what_it_did_not_do(
    client: httpx.AsyncClient, token: Any
) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}},
            {"request": {"method": "DELETE", "url": "Patient/does-not-exist"}},
        ],
    }
    assert (await client.post("/fhir", json=bundle, headers=token("region"))).status_code == 404
    trail = (await client.get("/fhir/AuditEvent?action=C", headers=token("auditor"))).json()
    assert trail["total"] == 0, "the create rolled back, and its AuditEvent with it"


async def test_a_consent_written_by_someone_else_grants_nothing(
    app: FastAPI, client: httpx.AsyncClient, token: Any, plan_id: str
) -> None:
    plan = (await client.get(f"/fhir/CarePlan/{plan_id}", headers=token("region"))).json()
    self_granted = {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": plan["subject"],
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
        "provision": {
            "type": "permit",
            "actor": [
                {
                    "role": {"coding": [{"code": "IRCP"}]},
                    "reference": {"identifier": {"system": "urn:oid:1.2.208.176.1.1", "value": "111111111111"}},
                }
            ],
        },
    }
    # the API refuses a reference to a Patient the rogue may not see (as one to a missing Patient) ...
    assert (await client.post("/fhir/Consent", json=self_granted, headers=token("rogue"))).status_code == 422
    write_directly(app, self_granted, "111111111111")  # ... and a consent stored without that check grants nothing
    assert (await client.get(f"/fhir/CarePlan/{plan_id}", headers=token("rogue"))).status_code == 404
    overwrite = {**plan, "status": "revoked"}
    assert (await client.put(f"/fhir/CarePlan/{plan_id}", json=overwrite, headers=token("rogue"))).status_code == 404
    assert (await client.get(f"/fhir/CarePlan/{plan_id}", headers=token("region"))).json()["status"] == "active"


async def test_a_plans_resources_are_written_through_plans_only(
    client: httpx.AsyncClient, token: Any, plan_id: str
) -> None:
    plan = (await client.get(f"/fhir/CarePlan/{plan_id}", headers=token("region"))).json()
    refused = await client.delete(f"/fhir/CarePlan/{plan_id}", headers=token("region"))
    assert refused.status_code == 422
    assert f"PUT /plans/{plan_id}" in outcome(refused)["issue"][0]["diagnostics"]
    overwrite = await client.put(f"/fhir/CarePlan/{plan_id}", json=plan, headers=token("rogue"))
    missing = await client.put(
        "/fhir/CarePlan/no-such-plan", json={**plan, "id": "no-such-plan"}, headers=token("rogue")
    )
    assert overwrite.status_code == missing.status_code == 404
    assert outcome(overwrite)["issue"][0]["diagnostics"].replace(plan_id, "X") == outcome(missing)["issue"][0][
        "diagnostics"
    ].replace("no-such-plan", "X")
    assert (await client.get(f"/fhir/CarePlan/{plan_id}", headers=token("region"))).json()["meta"]["versionId"] == "1"


async def test_conditional_create_matches_only_the_callers_own_resources(
    client: httpx.AsyncClient, token: Any, plan_id: str
) -> None:
    gp = {"system": "urn:oid:1.2.208.176.1.1", "value": "481561000016002"}
    seen = await client.get(f"/fhir/Organization?identifier={gp['system']}|{gp['value']}", headers=token("rogue"))
    assert seen.json()["total"] == 1, "the region's Organization is in the open directory"
    decoy = {"resourceType": "Organization", "identifier": [gp], "name": "Lægerne i Slagelse Bymidte"}
    criteria = {"If-None-Exist": f"identifier={gp['system']}|{gp['value']}"}
    first = await client.post("/fhir/Organization", json=decoy, headers=token("rogue") | criteria)
    assert first.status_code == 201, "the region's Organization is not the rogue's to match"
    again = await client.post("/fhir/Organization", json=decoy, headers=token("rogue") | criteria)
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    document = scenario.plan_document()
    document["status"] = "on-hold"
    rewritten = await client.put(f"/plans/{plan_id}", json=document, headers=token("region"))
    assert rewritten.status_code == 200, "two Organizations with the GP's SOR code neither capture nor block the plan"


async def test_filtered_searches_page_through_everything(client: httpx.AsyncClient, token: Any) -> None:
    entries = [
        {
            "resource": {"resourceType": "Organization", "name": f"Org {n}"},
            "request": {"method": "POST", "url": "Organization"},
        }
        for n in range(620)
    ]
    batch = {"resourceType": "Bundle", "type": "batch", "entry": entries}
    assert (await client.post("/fhir", json=batch, headers=token("rogue"))).status_code == 200
    first = (await client.get("/fhir/Organization?_count=200&_offset=600", headers=token("rogue"))).json()
    assert first["total"] == 620 and len(first["entry"]) == 20


async def test_message_inspection_is_audited(client: httpx.AsyncClient, token: Any) -> None:
    assert (await client.get("/messages", headers=token("herlev"))).status_code == 403, "no Messages.r scope"
    assert (await client.get("/messages", headers=token("region"))).status_code == 200
    trail = [e["resource"] for e in (await client.get("/fhir/AuditEvent", headers=token("auditor"))).json()["entry"]]
    assert any(e["outcome"] == "4" and "Messages" in e.get("outcomeDesc", "") for e in trail)
    assert any(e["outcome"] == "0" and "list of 0 notices" in e.get("outcomeDesc", "") for e in trail)
