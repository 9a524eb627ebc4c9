"""At admission: the crisis plan to the admitting ward and the admission to the coordinator's organisation, each
only where the citizen's consent permits it; what is withheld is said in the reply and in the audit trail."""

from __future__ import annotations

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
from gateway.validation import default_validator
from tests.support import scenario

WARD = "http://ward.test/fhir"
MUNICIPALITY = "http://municipality.test/fhir"
HL7 = {"content-type": "x-application/hl7-v2+er7", "accept": "application/json"}
CRISIS_PLAN = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-careCommunication-categoryCodes"


@pytest.fixture
def app(tmp_path: Path, clock: Any) -> FastAPI:
    scenario.write_directory(tmp_path / "directory.yaml", WARD, MUNICIPALITY)
    return create_app(Settings(data_dir=tmp_path, insecure_no_auth=True), clock=clock, ids=SequenceIds())


async def admit(client: httpx.AsyncClient, sample: str = "adt_a01_inpatient_8859-1.hl7", **consent: Any) -> Any:
    document = scenario.plan_document()
    document["consent"].update(consent)
    assert (await client.post("/plans", json=document)).status_code == 201
    response = await client.post("/messages", content=scenario.adt(sample), headers=HL7)
    assert response.status_code == 202, response.text
    return response.json()


async def notices(client: httpx.AsyncClient, reply: dict[str, Any]) -> dict[str, dict[str, Any]]:
    shown = (await client.get(f"/messages/{reply['messageId']}")).json()
    return {n["kind"]: n["message"] for n in shown["notices"]}


def resource(message: dict[str, Any], resource_type: str) -> dict[str, Any]:
    return next(e["resource"] for e in message["entry"] if e["resource"]["resourceType"] == resource_type)


async def test_the_ward_gets_the_crisis_plan_and_advance_directive(client: httpx.AsyncClient) -> None:
    reply = await admit(client)
    message = (await notices(client, reply))["care-communication-crisisplan"]
    assert not default_validator().validate(message).errors
    communication = resource(message, "Communication")
    assert communication["category"][0]["coding"][0] == {"system": CRISIS_PLAN, "code": "psychiatry-social-disability"}
    plans = scenario.plan_document()["crisis_plans"]
    assert [p["contentString"] for p in communication["payload"]] == [
        f"Kriseplan (udarbejdet 20.11.2023):\n{plans[0]['text']}",
        f"Forhåndstilkendegivelse (udarbejdet 20.11.2023):\n{plans[1]['text']}",
    ]
    header = resource(message, "MessageHeader")
    assert header["destination"][0]["endpoint"] == "https://sor2.sum.dsdn.dk/#id=265161000016000", "the ward"
    assert header["source"]["endpoint"] == "https://sor2.sum.dsdn.dk/#id=329631000016003", "the plan's FACT team"
    assert "Encounter" not in {e["resource"]["resourceType"] for e in message["entry"]}


async def test_the_coordinators_botilbud_is_told_of_the_admission(client: httpx.AsyncClient) -> None:
    reply = await admit(client)
    message = (await notices(client, reply))["care-communication-admission"]
    assert not default_validator().validate(message).errors
    communication = resource(message, "Communication")
    assert communication["category"][0]["coding"][0]["code"] == "carecoordination"
    (text,) = (p["contentString"] for p in communication["payload"])
    assert text == "Søren Ærling Østergård er indlagt på Psykiatrisk Center Øst 20.02.2024 kl. 08:30."
    assert resource(message, "MessageHeader")["destination"][0]["endpoint"].endswith("378921000016004")
    assert resource(message, "Encounter")["status"] == "in-progress"


async def test_without_crisisplan_in_the_consent_the_ward_gets_nothing_and_the_reply_says_why(
    client: httpx.AsyncClient,
) -> None:
    reply = await admit(client, data=["careplan", "careteam", "followup"])
    assert [n["kind"] for n in reply["notices"]] == ["hospital-notification", "care-communication-admission"]
    (withheld,) = reply["withheld"]
    assert withheld["kind"] == "care-communication-crisisplan"
    assert withheld["code"] == "consent.data-not-covered"
    assert "crisisplan" in withheld["reason"]
    assert any(note.startswith("withheld: care-communication-crisisplan") for note in reply["notes"])


async def test_a_ward_the_citizen_did_not_choose_gets_nothing(client: httpx.AsyncClient) -> None:
    reply = await admit(client, permitted=["bo1", "fact1", "soc1", "gp1"])
    assert "care-communication-crisisplan" not in [n["kind"] for n in reply["notices"]]
    assert ("care-communication-crisisplan", "consent.not-permitted") in {
        (w["kind"], w["code"]) for w in reply["withheld"]
    }


async def test_without_consent_only_the_hospital_notification_goes(client: httpx.AsyncClient) -> None:
    reply = await admit(client, decision="refused", permitted=[])
    assert [n["kind"] for n in reply["notices"]] == ["hospital-notification"]
    assert {(w["kind"], w["code"]) for w in reply["withheld"]} == {
        ("care-communication-crisisplan", "consent.refused"),
        ("care-communication-admission", "consent.refused"),
    }


async def test_an_emergency_admission_brings_the_crisis_plan_too(client: httpx.AsyncClient) -> None:
    reply = await admit(client, "adt_a01_emergency_utf8.hl7")
    assert [n["kind"] for n in reply["notices"]] == [
        "hospital-notification",
        "care-communication-crisisplan",
        "care-communication-admission",
    ]


async def test_a_consented_ward_the_directory_cannot_reach_is_422_not_a_silent_drop(tmp_path: Path, clock: Any) -> None:
    data = scenario.directory(WARD, MUNICIPALITY)
    data["recipients"] = [r for r in data["recipients"] if r["sor"] != "265161000016000"]
    (tmp_path / "directory.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    app = create_app(Settings(data_dir=tmp_path, insecure_no_auth=True), clock=clock, ids=SequenceIds())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as client:
        assert (await client.post("/plans", json=scenario.plan_document())).status_code == 201
        response = await client.post("/messages", content=scenario.adt("adt_a01_inpatient_8859-1.hl7"), headers=HL7)
    assert response.status_code == 422
    assert response.json()["issue"][0]["details"]["coding"][0]["code"] == "delivery.recipient-unknown"


async def test_withheld_disclosures_are_audited(tmp_path: Path, clock: Any) -> None:
    clients = [
        {
            "client_id": "region",
            "organisation": {"name": "Psykiatrisk Center Øst", "sor": "265161000016000", "gln": "5790000209354"},
            "scopes": ["system/*.cruds", "system/Messages.cr"],
        },
        {  # the plan's keeper: the demo plan's source is the FACT team's SOR namespace
            "client_id": "fact",
            "organisation": {"name": "FACT-team Nord", "sor": "329631000016003", "gln": "5790000555550"},
            "scopes": ["system/*.cruds"],
        },
        {
            "client_id": "auditor",
            "organisation": {"name": "Region, databeskyttelse", "sor": "265161000016000", "gln": "5790000209354"},
            "scopes": ["system/AuditEvent.rs"],
        },
    ]
    (tmp_path / "clients.yaml").write_text(yaml.safe_dump({"clients": clients}, allow_unicode=True), "utf-8")
    scenario.write_directory(tmp_path / "directory.yaml", WARD, MUNICIPALITY)
    settings = Settings(data_dir=tmp_path)
    app = create_app(settings, clock=clock, ids=SequenceIds())
    key = LocalSigningKey.load_or_create(tmp_path)

    def token(client: str, scopes: str) -> dict[str, str]:
        signed = issue_token(
            key,
            client_id=client,
            scopes=scopes,
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            now=clock.now(),
            lifetime=timedelta(hours=1),
        )
        return {"Authorization": f"Bearer {signed}"}

    region = token("region", "system/*.cruds system/Messages.cr")
    document = scenario.plan_document()
    document["consent"]["data"] = ["careplan", "careteam", "followup"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as client:
        fact = token("fact", "system/*.cruds")
        assert (await client.post("/plans", json=document, headers=fact)).status_code == 201
        response = await client.post(
            "/messages", content=scenario.adt("adt_a01_inpatient_8859-1.hl7"), headers=HL7 | region
        )
        assert response.status_code == 202, response.text
        trail = await client.get("/fhir/AuditEvent?_count=200", headers=token("auditor", "system/AuditEvent.rs"))
    texts = [str(e["resource"]) for e in trail.json()["entry"]]
    assert any("withheld: care-communication-crisisplan" in t and "consent.data-not-covered" in t for t in texts)


async def test_an_hl7_client_hears_of_what_was_withheld_in_its_ack(client: httpx.AsyncClient) -> None:
    document = scenario.plan_document()
    document["consent"]["data"] = ["careplan", "careteam", "followup"]
    assert (await client.post("/plans", json=document)).status_code == 201
    response = await client.post(
        "/messages",
        content=scenario.adt("adt_a01_inpatient_8859-1.hl7"),
        headers={"content-type": "x-application/hl7-v2+er7"},
    )
    assert response.status_code == 202
    assert b"MSA|AA|" in response.content and b"; 1 withheld" in response.content
