"""`POST /messages` with an XDIS91 and its XBIN01: held until both halves are in, either order, then one
CareCommunication carrying the attachment exactly as MedCom's conversion example; refused when time runs out."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.api import create_app
from gateway.clock import SequenceIds
from gateway.config import Settings
from gateway.inbound.fhir_message import parse_fhir_message
from gateway.inbound.limits import Limits
from tests.mappings.notices.normalise import normalise
from tests.support import scenario

XML = {"content-type": "application/xml", "accept": "application/json"}
LETTER = "Flow1-XDIS91_Ex_to_FHIR.xml"
BINARY = "Flow1-XBIN01_Ex_to_FHIR.xml"
ATTACHMENT_UUID = "c39ea6b2-6052-45e4-a207-415e0205ab6f"


@pytest.fixture
def app(tmp_path: Path, clock: Any) -> FastAPI:
    scenario.write_flow1_directory(tmp_path / "directory.yaml", "http://gp.test/fhir", "http://kommune.test/fhir")
    settings = Settings(data_dir=tmp_path, insecure_no_auth=True, xbin01_wait_seconds=600)
    return create_app(settings, clock=clock, ids=SequenceIds())


async def post(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    response = await client.post("/messages", content=scenario.medcom(name), headers=XML)
    assert response.status_code == 202, response.text
    reply: dict[str, Any] = response.json()
    return reply


def _without_patient_name(bundle: dict[str, Any]) -> dict[str, Any]:
    for item in bundle["entry"]:
        if item["resource"]["resourceType"] == "Patient":
            item["resource"].pop("name")
    return bundle


def assert_is_medcoms_flow1(message: dict[str, Any]) -> None:
    expected = parse_fhir_message(
        scenario.medcom("Flow1-CareCommunication_Ex_from_OIOXML.xml"), "application/fhir+xml", limits=Limits()
    ).bundle
    # The one known difference: MedCom's output takes the patient's name from the CPR register.
    assert normalise(_without_patient_name(message), keep_uuids=(ATTACHMENT_UUID,)) == normalise(
        _without_patient_name(expected), keep_uuids=(ATTACHMENT_UUID,)
    )


async def test_letter_waits_for_its_binary_then_becomes_medcoms_carecommunication(client: httpx.AsyncClient) -> None:
    held = await post(client, LETTER)
    assert (held["state"], held["notices"]) == ("held", [])
    assert ATTACHMENT_UUID.replace("-", "") in held["notes"][0]  # as the letter writes it
    listed = (await client.get("/messages")).json()
    assert [(item["kind"], item["state"]) for item in listed] == [("xdis91-waiting-for-xbin01", "held")]
    assert listed[0]["objects"] == [ATTACHMENT_UUID.replace("-", "")]
    waiting = (await client.get(f"/messages/{held['messageId']}")).json()
    assert waiting["held"]["state"] == "held" and waiting["held"]["expiresAt"]

    completed = await post(client, BINARY)
    assert [n["kind"] for n in completed["notices"]] == ["care-communication"]
    assert any(held["messageId"] in note for note in completed["notes"])
    shown = (await client.get(f"/messages/{held['messageId']}")).json()
    assert_is_medcoms_flow1(shown["notices"][0]["message"])
    assert [item["kind"] for item in (await client.get("/messages")).json()] == ["care-communication"]


async def test_binary_may_arrive_first(client: httpx.AsyncClient) -> None:
    waiting = await post(client, BINARY)
    assert waiting["state"] == "held" and waiting["notices"] == []
    listed = (await client.get("/messages")).json()
    assert [item["kind"] for item in listed] == ["xbin01-waiting-for-xdis91"]
    letter = await post(client, LETTER)
    assert letter["state"] == "accepted"
    assert [n["kind"] for n in letter["notices"]] == ["care-communication"]
    shown = (await client.get(f"/messages/{letter['messageId']}")).json()
    assert_is_medcoms_flow1(shown["notices"][0]["message"])


async def test_the_same_halves_again_make_nothing_new(client: httpx.AsyncClient) -> None:
    first = await post(client, LETTER)
    again = await post(client, LETTER)
    assert (again["messageId"], again["state"], again["created"]) == (first["messageId"], "held", False)
    await post(client, BINARY)
    assert (await post(client, BINARY))["created"] is False
    after = await post(client, LETTER)
    assert after["created"] is False and len(after["notices"]) == 1


async def test_a_letter_whose_binary_does_not_come_in_time_is_refused_with_the_reason(
    client: httpx.AsyncClient, clock: Any
) -> None:
    held = await post(client, LETTER)
    clock.advance(timedelta(seconds=601))
    (listed,) = (await client.get("/messages")).json()
    assert listed["state"] == "refused"
    assert "did not all arrive within 10 minutes" in listed["reason"]
    assert ATTACHMENT_UUID.replace("-", "") in listed["reason"]
    late = await post(client, BINARY)
    assert late["notices"] == [] and "refused" in " ".join(late["notes"])
    again = await client.post("/messages", content=scenario.medcom(LETTER), headers=XML)
    assert again.status_code == 422
    assert again.json()["issue"][0]["details"]["coding"][0]["code"] == "intake.xbin01-timeout"
    shown = (await client.get(f"/messages/{held['messageId']}")).json()
    assert shown["notices"] == [] and shown["held"]["state"] == "refused", "a held letter is not a notice"


async def test_an_xbin01_is_schema_checked_like_any_letter(client: httpx.AsyncClient) -> None:
    broken = scenario.medcom(BINARY).replace(b"<TypeCode>XBIN01</TypeCode>", b"<TypeCode>XDIS91</TypeCode>")
    response = await client.post("/messages", content=broken, headers=XML)
    assert response.status_code == 400
    assert response.json()["issue"][0]["details"]["coding"][0]["code"] == "inbound.xml-schema"
