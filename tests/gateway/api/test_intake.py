"""`POST /messages`: inputs become validated notices in the outbox, addressed and consent-gated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.api import create_app
from gateway.clock import SequenceIds
from gateway.config import Settings
from tests.support import scenario

GP = "http://gp.test/fhir/$process-message"
MUNICIPALITY = "http://municipality.test/fhir/$process-message"
HL7 = {"content-type": "x-application/hl7-v2+er7", "accept": "application/json"}


@pytest.fixture
def app(tmp_path: Path, clock: Any) -> FastAPI:
    scenario.write_directory(tmp_path / "directory.yaml", GP, MUNICIPALITY)
    return create_app(Settings(data_dir=tmp_path, insecure_no_auth=True), clock=clock, ids=SequenceIds())


async def plan(client: httpx.AsyncClient, **consent: Any) -> None:
    document = scenario.plan_document()
    document["consent"].update(consent)
    assert (await client.post("/plans", json=document)).status_code == 201


def kinds(reply: dict[str, Any]) -> list[tuple[str, str]]:
    return [(n["kind"], n["endpoint"]) for n in reply["notices"]]


def resource(message: dict[str, Any], resource_type: str) -> dict[str, Any]:
    return next(e["resource"] for e in message["entry"] if e["resource"]["resourceType"] == resource_type)


async def test_admission_then_discharge_gives_notices_to_municipality_ward_coordinator_and_gp(
    client: httpx.AsyncClient,
) -> None:
    await plan(client)
    admitted = await client.post("/messages", content=scenario.adt("adt_a01_inpatient_8859-1.hl7"), headers=HL7)
    assert admitted.status_code == 202, admitted.text
    # The demo directory sends the ward (Psykiatrisk Center Øst) to the GP fixture, the botilbud to the municipality's.
    assert kinds(admitted.json()) == [
        ("hospital-notification", MUNICIPALITY),
        ("care-communication-crisisplan", GP),
        ("care-communication-admission", MUNICIPALITY),
    ]
    discharged = await client.post("/messages", content=scenario.adt("adt_a03_discharge_8859-1.hl7"), headers=HL7)
    assert discharged.status_code == 202, discharged.text
    reply = discharged.json()
    assert kinds(reply) == [
        ("hospital-notification", MUNICIPALITY),
        ("care-communication-discharge", GP),
        ("care-communication-followup", MUNICIPALITY),
        ("care-communication-discharge-coordinator", MUNICIPALITY),
    ]
    shown = (await client.get(f"/messages/{reply['messageId']}")).json()
    notification, to_gp = (n["message"] for n in shown["notices"][:2])
    assert resource(notification, "Encounter")["status"] == "finished"
    provenance_activities = [
        p["activity"]["coding"][0]["code"]
        for p in (e["resource"] for e in notification["entry"])
        if p["resourceType"] == "Provenance"
    ]
    assert "discharge-inpatient-home" in provenance_activities and "admit-inpatient" in provenance_activities
    texts = [p["contentString"] for p in resource(to_gp, "Communication")["payload"]]
    assert any("Næste koordinationsmøde" in t or "koordin" in t.lower() for t in texts)


async def test_same_message_twice_makes_no_second_set(client: httpx.AsyncClient) -> None:
    await plan(client)
    first = await client.post("/messages", content=scenario.adt("adt_a01_inpatient_8859-1.hl7"), headers=HL7)
    again = await client.post("/messages", content=scenario.adt("adt_a01_inpatient_8859-1.hl7"), headers=HL7)
    assert first.json()["messageId"] == again.json()["messageId"]
    assert first.headers["location"] == f"http://gateway.test/messages/{first.json()['messageId']}"
    assert (await client.get(first.headers["location"])).status_code == 200, "Location names the stored message"
    assert again.json()["created"] is False
    assert [n["id"] for n in again.json()["notices"]] == [n["id"] for n in first.json()["notices"]]
    assert len((await client.get("/messages")).json()) == len(first.json()["notices"]) == 3


async def test_withdrawn_consent_keeps_plan_content_out_of_every_notice(client: httpx.AsyncClient) -> None:
    await plan(client, decision="withdrawn")
    await client.post("/messages", content=scenario.adt("adt_a01_inpatient_8859-1.hl7"), headers=HL7)
    reply = (await client.post("/messages", content=scenario.adt("adt_a03_discharge_8859-1.hl7"), headers=HL7)).json()
    assert [k for k, _ in kinds(reply)] == ["hospital-notification", "care-communication-discharge"]
    shown = (await client.get(f"/messages/{reply['messageId']}")).json()
    to_gp = shown["notices"][1]["message"]
    assert len(resource(to_gp, "Communication")["payload"]) == 1
    withheld = {(w["kind"], w["code"]) for w in reply["withheld"]}
    assert ("care-communication-followup", "consent.withdrawn") in withheld
    assert ("care-communication-discharge-coordinator", "consent.withdrawn") in withheld


async def test_discharge_without_a_known_admission_is_refused(client: httpx.AsyncClient) -> None:
    await plan(client)
    response = await client.post("/messages", content=scenario.adt("adt_a03_discharge_8859-1.hl7"), headers=HL7)
    assert response.status_code == 422
    assert response.json()["resourceType"] == "OperationOutcome"
    assert (await client.get("/messages")).json() == []


async def test_citizen_without_plan_is_422_naming_the_gap(client: httpx.AsyncClient) -> None:
    response = await client.post("/messages", content=scenario.adt("adt_a01_inpatient_8859-1.hl7"), headers=HL7)
    assert response.status_code == 422
    assert response.json()["issue"][0]["details"]["coding"][0]["code"] == "intake.municipality-unknown"


async def test_hl7_client_gets_an_hl7_ack(client: httpx.AsyncClient) -> None:
    await plan(client)
    response = await client.post(
        "/messages",
        content=scenario.adt("adt_a01_inpatient_8859-1.hl7"),
        headers={"content-type": "x-application/hl7-v2+er7"},
    )
    assert response.status_code == 202
    assert b"MSA|AA|" in response.content
    bad = await client.post("/messages", content=b"MSH|garbage", headers={"content-type": "x-application/hl7-v2+er7"})
    assert bad.status_code == 400
    assert b"MSA|AR|" in bad.content


async def test_xdis91_becomes_a_care_communication_to_its_receiver(client: httpx.AsyncClient) -> None:
    body = (scenario.SAMPLES / "inbound" / "xdis91_windows-1252.xml").read_bytes()
    response = await client.post("/messages", content=body, headers={"content-type": "application/xml"})
    assert response.status_code == 202, response.text
    assert kinds(response.json()) == [("care-communication", GP)]


async def test_unsupported_content_type_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post("/messages", content=b"hello", headers={"content-type": "image/png"})
    assert response.status_code == 415


async def test_a_whole_stay_gives_valid_notices_for_every_event(client: httpx.AsyncClient, app: FastAPI) -> None:
    """Admission, leave, return, discharge, cancelled discharge: each notice validated against MedCom's
    profiles at intake (a notice that would be invalid is refused with 422, so 202 means valid) and again here."""
    from gateway.validation import default_validator

    await plan(client)
    stay = [
        "adt_a01_inpatient_8859-1.hl7",
        "adt_a21_leave_8859-1.hl7",
        "adt_a22_return_8859-1.hl7",
        "adt_a03_discharge_8859-1.hl7",
        "adt_a13_cancel_discharge_8859-1.hl7",
    ]
    activities = []
    for sample in stay:
        reply = await client.post("/messages", content=scenario.adt(sample), headers=HL7)
        assert reply.status_code == 202, (sample, reply.text)
        shown = (await client.get(f"/messages/{reply.json()['messageId']}")).json()
        for notice in shown["notices"]:
            assert not default_validator().validate(notice["message"]).errors
        notification = shown["notices"][0]["message"]
        header = notification["entry"][0]["resource"]["id"]
        current = [
            e["resource"]
            for e in notification["entry"]
            if e["resource"]["resourceType"] == "Provenance"
            and e["resource"]["target"][0]["reference"].endswith(header)
        ]
        activities.append(current[0]["activity"]["coding"][0]["code"])
    assert activities[0] == "admit-inpatient"
    assert activities[3] == "discharge-inpatient-home"
    assert activities[4].startswith("cancel-discharge")


async def test_a_discharge_reads_only_the_stays_latest_notice_of_its_history(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The A03 continues the stay's latest HospitalNotification (here the return's, A22): that one notice's Bundle
    is read and parsed, not every earlier notice of the citizen's queue (up to 50), so a discharge does not cost
    more the longer the citizen's history is."""
    from gateway.delivery.outbox_sql import SqlOutbox

    await plan(client)
    latest: dict[str, str] = {}
    for sample in ("adt_a01_inpatient_8859-1.hl7", "adt_a21_leave_8859-1.hl7", "adt_a22_return_8859-1.hl7"):
        reply = await client.post("/messages", content=scenario.adt(sample), headers=HL7)
        assert reply.status_code == 202, (sample, reply.text)
        for shown in (await client.get(f"/messages/{reply.json()['messageId']}")).json()["notices"]:
            if shown["kind"] == "hospital-notification":
                latest[shown["recipient"]] = shown["id"]
    parsed: list[str] = []
    original = SqlOutbox.stored_message

    def counting(self: SqlOutbox, notice_id: str) -> dict[str, Any] | None:
        parsed.append(notice_id)
        return original(self, notice_id)

    monkeypatch.setattr(SqlOutbox, "stored_message", counting)
    reply = await client.post("/messages", content=scenario.adt("adt_a03_discharge_8859-1.hl7"), headers=HL7)
    assert reply.status_code == 202, reply.text
    assert latest and sorted(parsed) == sorted(latest.values())


async def test_a_notice_that_breaks_its_profile_is_never_stored(client: httpx.AsyncClient, app: FastAPI) -> None:
    from mappings.issues import Issue

    await plan(client)
    app.state.intake.check = lambda message: [Issue("error", "invariant", "broken on purpose", "Bundle.entry[0]")]
    response = await client.post("/messages", content=scenario.adt("adt_a01_inpatient_8859-1.hl7"), headers=HL7)
    assert response.status_code == 422
    assert response.json()["issue"][0]["expression"] == ["notice[0].Bundle.entry[0]"]
    assert (await client.get("/messages")).json() == []


async def discharge_notices(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    await client.post("/messages", content=scenario.adt("adt_a01_inpatient_8859-1.hl7"), headers=HL7)
    reply = (await client.post("/messages", content=scenario.adt("adt_a03_discharge_8859-1.hl7"), headers=HL7)).json()
    notices: list[dict[str, Any]] = (await client.get(f"/messages/{reply['messageId']}")).json()["notices"]
    return notices


@pytest.mark.parametrize(
    ("consent", "gp_gets_follow_up", "municipality_gets_follow_up", "coordinator_told"),
    [
        ({}, True, True, True),
        ({"period": {"start": "2025-03-04", "end": "2026-02-01"}}, False, False, False),  # expired before it
        ({"period": {"start": "2026-06-01", "end": "2027-06-01"}}, False, False, False),  # not yet valid
        ({"decision": "withdrawn"}, False, False, False),
        ({"permitted": ["bo1", "fact1", "soc1", "sis1"]}, False, True, True),  # the GP is not among those chosen
        ({"permitted": ["gp1", "soc1"]}, True, True, False),  # the coordinator's botilbud is not
        ({"data": ["careplan", "careteam"]}, False, False, False),  # follow-up not among the data consented to
    ],
)
async def test_consent_decides_every_disclosure_path(
    client: httpx.AsyncClient,
    consent: dict[str, Any],
    gp_gets_follow_up: bool,
    municipality_gets_follow_up: bool,
    coordinator_told: bool,
) -> None:
    await plan(client, **consent)
    notices = await discharge_notices(client)
    by_kind = {n["kind"]: n for n in notices}
    assert "hospital-notification" in by_kind, "the HospitalNotification goes regardless of consent"
    gp_payloads = resource(by_kind["care-communication-discharge"]["message"], "Communication")["payload"]
    assert (len(gp_payloads) == 2) is gp_gets_follow_up
    assert ("care-communication-followup" in by_kind) is municipality_gets_follow_up
    assert ("care-communication-discharge-coordinator" in by_kind) is coordinator_told
    for notice in notices:
        if notice["kind"] == "hospital-notification":
            text = str(notice["message"])
            assert "koordinationsmøde" not in text.lower() and "kriseplan" not in text.lower()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Emessage>&e;</Emessage>', 400),
        (
            b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><Emessage>&c;</Emessage>',
            400,
        ),
        (b"<Emessage><unclosed></Emessage>", 400),
        (b'<?xml version="1.0"?><Emessage xmlns="urn:wrong"/>', 400),
    ],
    ids=["xxe", "billion-laughs", "malformed", "wrong-namespace"],
)
async def test_hostile_xml_is_refused_without_expansion(client: httpx.AsyncClient, body: bytes, status: int) -> None:
    response = await client.post("/messages", content=body, headers={"content-type": "application/xml"})
    assert response.status_code == status, response.text
    assert "root:" not in response.text
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_huge_body_is_413_before_parsing(client: httpx.AsyncClient) -> None:
    huge = b"<Emessage>" + b"x" * (11 * 1024 * 1024) + b"</Emessage>"  # over the 10 MiB default
    response = await client.post("/messages", content=huge, headers={"content-type": "application/xml"})
    assert response.status_code == 413


async def test_a_newer_carePlan_that_is_no_shared_plan_does_not_steer_the_notices(client: httpx.AsyncClient) -> None:
    await plan(client)
    patient = (await client.get(f"/fhir/Patient?identifier=urn:oid:1.2.208.176.1.2|{scenario.CPR}")).json()
    patient_id = patient["entry"][0]["resource"]["id"]
    stray = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": f"Patient/{patient_id}"},
        "description": "written straight to /fhir",
    }
    assert (await client.post("/fhir/CarePlan", json=stray)).status_code == 201
    response = await client.post("/messages", content=scenario.adt("adt_a01_inpatient_8859-1.hl7"), headers=HL7)
    assert response.status_code == 202, response.text
    assert kinds(response.json())[0] == ("hospital-notification", MUNICIPALITY)
    assert ("care-communication-crisisplan", GP) in kinds(response.json())


async def test_a_stay_not_seen_begin_goes_through_as_the_stays_first_notice(client: httpx.AsyncClient) -> None:
    await plan(client)
    refused = await client.post(
        "/messages",
        content=scenario.adt("adt_a03_discharge_8859-1.hl7"),
        headers={"content-type": "x-application/hl7-v2+er7"},
    )
    assert refused.status_code == 422
    assert b"MSA|AE|" in refused.content and b"first-of-stay=true" in refused.content, "the way through, in the ACK"
    reply = await client.post(
        "/messages?first-of-stay=true", content=scenario.adt("adt_a03_discharge_8859-1.hl7"), headers=HL7
    )
    assert reply.status_code == 202, reply.text
    assert any("first notice" in note for note in reply.json()["notes"])
    shown = (await client.get(f"/messages/{reply.json()['messageId']}")).json()
    assert shown["inbound"]["summary"]["firstOfStay"] is True
    notification = shown["notices"][0]["message"]
    provenances = [e["resource"] for e in notification["entry"] if e["resource"]["resourceType"] == "Provenance"]
    assert len(provenances) == 1 and "entity" not in provenances[0]
