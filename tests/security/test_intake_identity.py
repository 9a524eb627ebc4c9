"""Message intake by Organisation X (it holds `system/Messages.c`, as every cast client does). Until stop 26, X could
post an ADT naming the region's facility in MSH-4 and notices went out in the region's name, and a repeat of the
region's message id (MSH-3/4/10: guessable) returned the region's reply. A message now names only a sender its
poster may send as (`require_sender`), and a repeat is answered only to the organisation that posted it first."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

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


REGION_GLN = "5790000209354"


def relayed(sender_sor: str, sender_gln: str = REGION_GLN) -> bytes:
    """MedCom's CareCommunication example, sent by the region (its SOR code and GLN on the sender Organization, in
    `MessageHeader.source.endpoint` and on the Provenance's agent), with the sender's codes replaced."""
    text = scenario.medcom("Bundle-k7bfbc0c-553d-11ed-bdc3-0242ac120002.json").decode()
    return text.replace(cast.REGION_SOR, sender_sor).replace(REGION_GLN, sender_gln).encode()


def x_relay() -> dict[str, Any]:
    """The example as X's own message: X's codes wherever it names its sender, and an id of its own."""
    bundle: dict[str, Any] = json.loads(relayed(cast.X_SOR, cast.X_GLN))
    header = bundle["entry"][0]["resource"]["id"]
    return cast_ids(bundle, header, "0e0e0e0e-0000-4000-8000-000000000001")


def cast_ids(bundle: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    replaced: dict[str, Any] = json.loads(json.dumps(bundle).replace(old, new))
    return replaced


def sender_organization(bundle: dict[str, Any]) -> dict[str, Any]:
    reference = bundle["entry"][0]["resource"]["sender"]["reference"].split("/")[-1]
    found: dict[str, Any] = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == reference)
    return found


FHIR = {"content-type": "application/fhir+json", "accept": "application/json"}


async def test_x_cannot_relay_a_carecommunication_in_the_regions_name(client: httpx.AsyncClient, as_: Headers) -> None:
    refused = await client.post("/messages", content=relayed(cast.REGION_SOR), headers=FHIR | as_("x"))
    assert refused.status_code == 403, refused.text
    assert refused.json()["issue"][0]["expression"] == ["Bundle.entry[7].resource.identifier[0]"]  # the GLN
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
    reused = await client.post("/messages", content=relayed(cast.X_SOR, cast.X_GLN), headers=FHIR | as_("x"))
    assert reused.status_code == 409, reused.text
    for notice in first.json()["notices"]:
        assert notice["id"] not in reused.text


# -- a relayed Bundle goes out as it came: every way it names its sender must name the same one (review, stop 26) --


async def test_x_cannot_relay_with_its_sor_code_beside_the_regions_gln(client: httpx.AsyncClient, as_: Headers) -> None:
    mixed = await client.post("/messages", content=relayed(cast.X_SOR), headers=FHIR | as_("x"))
    assert mixed.status_code == 422, mixed.text
    assert mixed.json()["issue"][0]["details"]["coding"][0]["code"] == "intake.senders-disagree"


async def test_x_cannot_relay_a_message_whose_provenance_names_the_region_as_its_sender(
    client: httpx.AsyncClient, as_: Headers
) -> None:
    """MessageHeader.sender names a new Organization with X's codes; the Provenance of the message still names
    the region's Organization as the agent that sent it."""
    bundle: dict[str, Any] = json.loads(relayed(cast.REGION_SOR))
    header = bundle["entry"][0]["resource"]
    header["source"]["endpoint"] = f"https://sor2.sum.dsdn.dk/#id={cast.X_SOR}"
    own = json.loads(json.dumps(sender_organization(bundle)))
    own["id"] = "0e0e0e0e-0000-4000-8000-00000000000a"
    own["identifier"] = [{"system": "https://www.gs1.org/gln", "value": cast.X_GLN},
                         {"system": "urn:oid:1.2.208.176.1.1", "value": cast.X_SOR}]  # fmt: skip
    bundle["entry"].append({"fullUrl": f"urn:uuid:{own['id']}", "resource": own})
    header["sender"] = {"reference": f"urn:uuid:{own['id']}"}
    refused = await client.post("/messages", content=json.dumps(bundle), headers=FHIR | as_("x"))
    assert refused.status_code == 422, refused.text
    issue = refused.json()["issue"][0]
    assert issue["details"]["coding"][0]["code"] == "intake.senders-disagree"
    assert "names Psykiatrisk Center Øst" in issue["diagnostics"], issue


async def test_x_cannot_hide_a_second_organization_behind_one_id(client: httpx.AsyncClient, as_: Headers) -> None:
    """Two entries Organization/<one id>: the gateway would resolve one, a receiver may resolve the other."""
    bundle = x_relay()
    twin = json.loads(json.dumps(sender_organization(json.loads(relayed(cast.REGION_SOR)))))
    twin["id"] = sender_organization(bundle)["id"]
    bundle["entry"].insert(1, {"fullUrl": "urn:uuid:0e0e0e0e-0000-4000-8000-00000000000b", "resource": twin})
    refused = await client.post("/messages", content=json.dumps(bundle), headers=FHIR | as_("x"))
    assert refused.status_code == 400, refused.text
    assert refused.json()["issue"][0]["details"]["coding"][0]["code"] == "fhir.duplicate-entry"


async def test_x_relays_in_its_own_name(client: httpx.AsyncClient, as_: Headers) -> None:
    sent = await client.post("/messages", content=json.dumps(x_relay()), headers=FHIR | as_("x"))
    assert sent.status_code == 202, sent.text


def in_xs_name(sample: str, control_id: str) -> bytes:
    """A sample ADT sent by X in its own name (MSH-4 names X), with the region's visit number (PV1-19) left in."""
    out = []
    for segment in scenario.adt(sample).split(b"\r"):
        fields = segment.split(b"|")
        if fields[0] == b"MSH":
            fields[3] = b"X^" + cast.X_SOR.encode() + b"^SOR"
            fields[9] = control_id.encode()
        out.append(b"|".join(fields))
    return b"\r".join(out)


async def test_x_in_its_own_name_cannot_continue_or_cancel_the_regions_stay(
    client: httpx.AsyncClient, as_: Headers
) -> None:
    """The region's visit number is 32 hex digits, so it is the stay's episode id whoever sends it; the stay's
    history is its sender's notices only (review, stop 26: X's A13 cancelled the region's discharge notice)."""
    assert (await client.post("/plans", json=scenario.plan_document(), headers=as_("fact"))).status_code == 201
    regions: list[str] = []
    for sample in ("adt_a01_inpatient_8859-1.hl7", "adt_a03_discharge_8859-1.hl7"):
        posted = await client.post("/messages", content=scenario.adt(sample), headers=HL7 | as_("region"))
        assert posted.status_code == 202, posted.text
        regions += [n["messageHeaderId"] for n in posted.json()["notices"] if n["kind"] == "hospital-notification"]
    own = scenario.plan_document()  # X's own plan: X knows the home municipality, as the region does
    own["source"] = {"system": f"https://sor2.sum.dsdn.dk/#id={cast.X_SOR}", "value": "X-0001"}
    assert (await client.post("/plans", json=own, headers=as_("x"))).status_code == 201
    cancel = await client.post(
        "/messages", content=in_xs_name("adt_a13_cancel_discharge_8859-1.hl7", "X1"), headers=HL7 | as_("x")
    )
    assert cancel.status_code == 422, f"X's notice continued the region's stay: {cancel.text[:300]}"
    assert cancel.json()["issue"][0]["details"]["coding"][0]["code"] == "hn.history-missing"  # as for no stay
    for header_id in regions:
        assert header_id not in cancel.text


REGION_ORG_ID = "0e0e0e0e-0000-4000-8000-0000000000aa"


def with_the_regions_organization(bundle: dict[str, Any]) -> dict[str, Any]:
    """X's relay plus an Organization entry with the region's SOR code and GLN (named by nothing yet)."""
    region = json.loads(json.dumps(sender_organization(json.loads(relayed(cast.REGION_SOR)))))
    region["id"] = REGION_ORG_ID
    bundle["entry"].append({"fullUrl": f"urn:uuid:{REGION_ORG_ID}", "resource": region})
    return bundle


def of_type(bundle: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind)
    return found


def provenance_by_the_headers_full_url(bundle: dict[str, Any]) -> None:
    with_the_regions_organization(bundle)
    provenance = of_type(bundle, "Provenance")
    provenance["target"] = [{"reference": bundle["entry"][0]["fullUrl"]}]
    provenance["agent"] = [{"who": {"reference": f"urn:uuid:{REGION_ORG_ID}"}}]


def provenance_agent_by_identifier(bundle: dict[str, Any]) -> None:
    identifier = {"system": "urn:oid:1.2.208.176.1.1", "value": cast.REGION_SOR}
    of_type(bundle, "Provenance")["agent"] = [{"who": {"identifier": identifier}}]


def communication_sender(bundle: dict[str, Any]) -> None:
    with_the_regions_organization(bundle)
    of_type(bundle, "Communication")["sender"] = {"reference": f"urn:uuid:{REGION_ORG_ID}"}


@pytest.mark.parametrize(
    "forge", [provenance_by_the_headers_full_url, provenance_agent_by_identifier, communication_sender]
)
async def test_x_cannot_relay_a_message_that_names_the_region_as_sender_elsewhere(
    client: httpx.AsyncClient, as_: Headers, forge: Any
) -> None:
    """X's codes on the sender Organization, the region's where else a receiver reads who sent it (review 2)."""
    bundle = x_relay()
    forge(bundle)
    refused = await client.post("/messages", content=json.dumps(bundle), headers=FHIR | as_("x"))
    assert refused.status_code == 422, refused.text
    assert refused.json()["issue"][0]["details"]["coding"][0]["code"] == "intake.senders-disagree"
