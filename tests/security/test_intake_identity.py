"""Message intake by Organisation X (it holds `system/Messages.c`, as every cast client does). Until stop 26, X could
post an ADT naming the region's facility in MSH-4 and notices went out in the region's name, and a repeat of the
region's message id (MSH-3/4/10: guessable) returned the region's reply. A message now names only a sender its
poster may send as (`require_sender`), and a repeat is answered only to the organisation that posted it first."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.security.conftest import Headers
from tests.support import cast, scenario

HL7 = {"content-type": "x-application/hl7-v2+er7", "accept": "application/json"}
OTHER_CPR = "0101709998"


async def test_x_admitting_the_citizen_answers_as_for_a_citizen_without_a_plan(
    client: httpx.AsyncClient, as_: Headers
) -> None:
    assert (await client.post("/plans", json=scenario.plan_document(), headers=as_("fact"))).status_code == 201

    async def admit(cpr: str) -> httpx.Response:
        body = scenario.adt_for("adt_a01_inpatient_8859-1.hl7", cpr, f"X-{cpr}", f"V-{cpr}")
        return await client.post("/messages", content=body, headers=HL7 | as_("x"))

    citizen, nobody = await admit(cast.CPR), await admit(OTHER_CPR)
    assert citizen.status_code == nobody.status_code
    assert citizen.text.replace(cast.CPR, "<cpr>") == nobody.text.replace(OTHER_CPR, "<cpr>")


async def test_x_cannot_send_notices_in_the_regions_name(client: httpx.AsyncClient, as_: Headers) -> None:
    """X writes a plan of its own for the citizen (so the home municipality is known) and posts the ADT admission
    with MSH-4 naming the region (Psykiatrisk Center Øst): the gateway must not send a HospitalNotification from
    the region that the region never sent."""
    forged = scenario.plan_document()
    forged["source"] = {"system": f"https://sor2.sum.dsdn.dk/#id={cast.X_SOR}", "value": "X-0001"}
    forged["crisis_plans"] = []
    forged["consent"]["data"] = ["careplan"]
    assert (await client.post("/plans", json=forged, headers=as_("x"))).status_code == 201
    body = scenario.adt("adt_a01_inpatient_8859-1.hl7")
    assert b"265161000016000" in body.split(b"\r")[0], "MSH-4: the region's SOR code"
    response = await client.post("/messages", content=body, headers=HL7 | as_("x"))
    queued: list[dict[str, Any]] = response.json().get("notices", []) if response.status_code == 202 else []
    assert queued == [], f"X queued {[(n['kind'], n['recipient']) for n in queued]} as the region"


async def test_x_reposting_the_regions_adt_learns_nothing_of_it(client: httpx.AsyncClient, as_: Headers) -> None:
    """The inbound id is derived from MSH-3/4/10 (guessable: MSH-10 is the sender's control id). X posts a message
    with the region's identity: the answer must be what it gets when the region never sent it."""
    body = scenario.adt("adt_a03_discharge_8859-1.hl7")
    before = await client.post("/messages", content=body, headers=HL7 | as_("x"))  # no plan X may see: refused
    assert (await client.post("/plans", json=scenario.plan_document(), headers=as_("fact"))).status_code == 201
    for sample in ("adt_a01_inpatient_8859-1.hl7", "adt_a03_discharge_8859-1.hl7"):
        posted = await client.post("/messages", content=scenario.adt(sample), headers=HL7 | as_("region"))
        assert posted.status_code == 202
    after = await client.post("/messages", content=body, headers=HL7 | as_("x"))
    assert after.status_code == before.status_code, f"X gets the region's reply: {after.text[:600]}"


async def test_x_cannot_send_a_letter_or_its_attachments_in_the_regions_name(
    client: httpx.AsyncClient, as_: Headers
) -> None:
    xml = {"content-type": "application/xml", "accept": "application/json"}
    letter = await client.post("/messages", content=scenario.adt("xdis91_utf-8.xml"), headers=xml | as_("x"))
    assert letter.status_code == 403, letter.text
    assert letter.json()["issue"][0]["expression"] == ["/Emessage/ClinicalEmail/Sender/EANIdentifier"]
    binary = scenario.medcom("Flow1-XBIN01_Ex_to_FHIR.xml")
    held = await client.post("/messages", content=binary, headers=xml | as_("x"))
    assert held.status_code == 403, held.text
    assert held.json()["issue"][0]["expression"] == ["/Emessage/BinaryLetter/Sender/EANIdentifier"]


def relayed(sender_sor: str) -> bytes:
    """MedCom's CareCommunication example (sent by the region's SOR code) with its sender's SOR code replaced."""
    bundle = json.loads(scenario.medcom("Bundle-k7bfbc0c-553d-11ed-bdc3-0242ac120002.json"))
    for entry in bundle["entry"]:
        for identifier in (
            entry["resource"].get("identifier", []) if entry["resource"]["resourceType"] == "Organization" else []
        ):
            if identifier["value"] == cast.REGION_SOR:
                identifier["value"] = sender_sor
    return json.dumps(bundle).encode()


FHIR = {"content-type": "application/fhir+json", "accept": "application/json"}


async def test_x_cannot_relay_a_carecommunication_in_the_regions_name(client: httpx.AsyncClient, as_: Headers) -> None:
    refused = await client.post("/messages", content=relayed(cast.REGION_SOR), headers=FHIR | as_("x"))
    assert refused.status_code == 403, refused.text
    assert refused.json()["issue"][0]["expression"] == ["MessageHeader.sender"]
    process = await client.post("/fhir/$process-message", content=relayed(cast.REGION_SOR), headers=FHIR | as_("x"))
    assert process.status_code == 403


async def test_the_refusal_is_in_the_audit_trail(client: httpx.AsyncClient, as_: Headers) -> None:
    body = scenario.adt("adt_a01_inpatient_8859-1.hl7")
    assert (await client.post("/messages", content=body, headers=HL7 | as_("x"))).status_code == 403
    trail = (await client.get("/fhir/AuditEvent?outcome=4", headers=as_("auditor"))).json()
    said = [(entry["resource"]["agent"][0]["who"]["identifier"]["value"], entry["resource"]["outcomeDesc"])
            for entry in trail["entry"]]  # fmt: skip
    assert ("x", f"message in the name of {cast.REGION_SOR}: not this client's") in said, said


async def test_the_regions_integration_engine_sends_as_the_region_and_sees_its_plan(
    client: httpx.AsyncClient, as_: Headers
) -> None:
    """`sends_as` lets the engine post the region's ADT; the notices are planned with the region's sight of the
    plan (the engine's own organisation is named in no consent), as when the region posts it itself."""
    assert (await client.post("/plans", json=scenario.plan_document(), headers=as_("fact"))).status_code == 201
    body = scenario.adt("adt_a01_inpatient_8859-1.hl7")
    by_engine = await client.post("/messages", content=body, headers=HL7 | as_("intake-only"))
    assert by_engine.status_code == 202, by_engine.text
    kinds = sorted(notice["kind"] for notice in by_engine.json()["notices"])
    assert "care-communication-crisisplan" in kinds, kinds  # the region's sight: the ward gets the crisis plan
    again = await client.post("/messages", content=body, headers=HL7 | as_("intake-only"))
    assert again.status_code == 202 and again.json()["created"] is False
    by_region = await client.post("/messages", content=body, headers=HL7 | as_("region"))
    assert by_region.status_code == 409, "the region did not post it: the engine's reply is not the region's"
    assert by_region.json()["issue"][0]["code"] == "conflict"


async def test_a_repeated_messageheader_id_from_another_sender_is_refused_without_the_first_reply(
    client: httpx.AsyncClient, as_: Headers
) -> None:
    """A FHIR message's inbound id is its MessageHeader.id alone: X, naming itself as the sender, reuses the
    region's id. X learns that the id was taken (it knew it already), and nothing the region was told."""
    first = await client.post("/messages", content=relayed(cast.REGION_SOR), headers=FHIR | as_("region"))
    assert first.status_code == 202, first.text
    reused = await client.post("/messages", content=relayed(cast.X_SOR), headers=FHIR | as_("x"))
    assert reused.status_code == 409, reused.text
    for notice in first.json()["notices"]:
        assert notice["id"] not in reused.text
