"""CareCommunication: XDIS91 + XBIN01 conversion against MedCom's own example, and the messages about a stay."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.clock import SequenceIds
from gateway.inbound.fhir_message import parse_fhir_message
from gateway.inbound.limits import Limits
from gateway.inbound.oioxml import parse_oioxml
from mappings.context import ExplainCollector, MappingContext
from mappings.documents.discharge import (
    Author,
    BinaryLetter,
    Citizen,
    Correspondence,
    DischargeEvent,
    Party,
    ResolvedParties,
)
from mappings.documents.plan_facts import InterventionDue, PlanFollowUp
from mappings.explain import Text
from mappings.issues import IssueError
from mappings.notices.correspondence import care_communication_from_correspondence
from mappings.notices.stay_messages import discharge_care_communication, municipality_care_communication

from .normalise import normalise

MEDCOM = Path(__file__).parents[3] / "fixtures" / "samples" / "inbound" / "medcom"
SAMPLES = MEDCOM.parent
NOW = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
ATTACHMENT_UUID = "c39ea6b2-6052-45e4-a207-415e0205ab6f"


def _ctx(explain: ExplainCollector | None = None) -> MappingContext:
    return MappingContext(now=NOW, new_uuid=SequenceIds().new_id, explain=explain)


def _flow1_letter() -> Correspondence:
    letter = parse_oioxml((MEDCOM / "Flow1-XDIS91_Ex_to_FHIR.xml").read_bytes(), limits=Limits())
    assert isinstance(letter, Correspondence)
    return letter


def _flow1_binary() -> BinaryLetter:
    binary = parse_oioxml((MEDCOM / "Flow1-XBIN01_Ex_to_FHIR.xml").read_bytes(), limits=Limits())
    assert isinstance(binary, BinaryLetter)
    return binary


def _flow1_parties(*, with_binary: bool = True) -> ResolvedParties:
    """What MedCom's conversion service looked up in the SOR directory for Flow 1 (see its output)."""
    return ResolvedParties(
        sender=Party(gln="5790001382445", sor="359001000016000", name="MedCom testcenter"),
        receiver=Party(gln="5790000121441", sor="328051000016008", name="Social og Sundhed Odense Kommune"),
        author=Author(family="Petersen", given=("K.",), phone="65432030", role_code="overlaege"),
        binaries=_flow1_binary().objects if with_binary else (),
    )


def _without_patient_name(bundle: dict[str, Any]) -> dict[str, Any]:
    for item in bundle["entry"]:
        if item["resource"]["resourceType"] == "Patient":
            item["resource"].pop("name")
    return bundle


def _expected_flow1() -> dict[str, Any]:
    return parse_fhir_message(
        (MEDCOM / "Flow1-CareCommunication_Ex_from_OIOXML.xml").read_bytes(), "application/fhir+xml", limits=Limits()
    ).bundle


def test_xdis91_with_its_xbin01_matches_medcom_flow1_field_for_field() -> None:
    built = care_communication_from_correspondence(_flow1_letter(), _flow1_parties(), _ctx())
    expected = _expected_flow1()
    # Known difference, not ours: MedCom's output names the patient "Nancy Ann Hansen" (from the CPR register),
    # while the letter says PersonGivenName "Nancy", PersonSurnameName "Ann Berggren"; we keep the letter's name.
    assert normalise(_without_patient_name(built), keep_uuids=(ATTACHMENT_UUID,)) == normalise(
        _without_patient_name(expected), keep_uuids=(ATTACHMENT_UUID,)
    )
    assert built["timestamp"] == expected["timestamp"] == "2023-11-20T17:45:00+01:00"


def test_the_attachment_payload_is_medcoms_exactly() -> None:
    built = care_communication_from_correspondence(_flow1_letter(), _flow1_parties(), _ctx())

    def attachment(bundle: dict[str, Any]) -> dict[str, Any]:
        communication = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Communication")
        payload: dict[str, Any] = communication["payload"][1]
        return payload

    ours, theirs = attachment(built), attachment(_expected_flow1())
    assert ours["contentAttachment"] == theirs["contentAttachment"]
    assert ours["contentAttachment"]["title"] == "vektor_grafik"  # a PDF's ObjectCode (use cases §4.6.2)
    assert ours["extension"][0] == theirs["extension"][0]
    assert ours["extension"][1]["valueIdentifier"]["value"] == f"urn:uuid:{ATTACHMENT_UUID}"


def test_xdis91_conversion_is_idempotent() -> None:
    ids = SequenceIds()
    first = care_communication_from_correspondence(_flow1_letter(), _flow1_parties(), MappingContext(NOW, ids.new_id))
    second = care_communication_from_correspondence(_flow1_letter(), _flow1_parties(), MappingContext(NOW, ids.new_id))
    assert first["id"] != second["id"]
    assert first["entry"] == second["entry"]


def test_xdis91_with_episode_of_care_gets_an_encounter() -> None:
    letter = parse_oioxml((SAMPLES / "xdis91_windows-1252.xml").read_bytes(), limits=Limits())
    assert isinstance(letter, Correspondence)
    parties = ResolvedParties(
        sender=Party(gln="5790000209354", sor="265161000016000", name="Psykiatrisk Center Øst", phone="38683868"),
        receiver=Party(gln="5790000167814", sor="481561000016002", name="Lægerne i Slagelse Bymidte"),
    )
    explain = ExplainCollector()
    bundle = care_communication_from_correspondence(letter, parties, _ctx(explain))
    resources = {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}
    assert resources["Encounter"]["episodeOfCare"][0]["identifier"] == {
        "system": "https://sor2.sum.dsdn.dk/#id=265161000016000",
        "value": "bd481c38-a921-11ed-afa1-0242ac120002",
    }
    assert resources["Communication"]["encounter"] == {"reference": f"Encounter/{resources['Encounter']['id']}"}
    assert resources["Communication"]["payload"][0]["contentString"].endswith("overlæge Jens Ærø")
    assert resources["PractitionerRole"]["code"][0]["coding"][0]["code"] == "NAVU"
    explained = {item.path: item.origin for item in explain.for_bundle(bundle)}
    assert explained["Bundle.entry[1].resource.identifier[0].value"].source == (
        "/Emessage/ClinicalEmail/Patient/CivilRegistrationNumber"
    )


def test_a_letter_without_its_xbin01_is_reported() -> None:
    with pytest.raises(IssueError) as exc:
        care_communication_from_correspondence(_flow1_letter(), _flow1_parties(with_binary=False), _ctx())
    assert exc.value.issues[0].message_id == "oioxml.xbin01-missing"


def _discharge() -> DischargeEvent:
    return DischargeEvent(
        source_key="hl7v2|SP-PSYK|RHP|SP0005",
        patient=Citizen(cpr="2509479989", family="Østergård", given=("Søren",)),
        sender=Party(gln="5790000209354", sor="265161000016000", name="Psykiatrisk Center Øst"),
        receiver=Party(gln="5790000167814", sor="481561000016002", name="Lægerne i Slagelse Bymidte"),
        author=Author(family="Ærø", given=("Jens",), phone="38683868", role_code="overlaege"),
        discharged=datetime(2024, 3, 1, 9, 10, tzinfo=UTC),
        text=Text("Søren er udskrevet til sit bosted.", (("text", "Søren er udskrevet til sit bosted."),)),
        episode_of_care_identifier="bd481c38-a921-11ed-afa1-0242ac120002",
        encounter_class="IMP",
    )


FOLLOW_UP = PlanFollowUp(
    coordinator_name="Mette Kjærgaard",
    coordinator_role="kontaktperson på botilbud",
    coordinator_phone="+45 58 57 36 00",
    next_meeting=date(2024, 3, 15),
    interventions_due=(InterventionDue("Kontrol af depotmedicin", date(2024, 3, 14), "egen læge", key="i3"),),
    crisis_plan_present=True,
)


def _resources(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}


def test_gp_discharge_without_consent_carries_only_the_discharge_text() -> None:
    bundle = discharge_care_communication(_discharge(), None, _ctx())
    resources = _resources(bundle)
    header, communication = resources["MessageHeader"], resources["Communication"]
    assert header["definition"].endswith("MedComCareCommunicationMessageDefinition|5.0")
    assert communication["category"][0]["coding"][0]["code"] == "discharge"
    assert communication["identifier"][0]["value"].startswith("urn:uuid:")
    assert [p["contentString"] for p in communication["payload"]] == ["Søren er udskrevet til sit bosted."]
    urls = [x["url"].rsplit("/", 1)[1] for x in communication["payload"][0]["extension"]]
    assert urls == [
        "medcom-core-datetime-extension",
        "medcom-core-identifier-extension",
        "medcom-core-practitioner-extension",
        "medcom-core-contact-extension",
    ]
    assert communication["payload"][0]["extension"][0]["valueDateTime"] == "2024-03-01T09:30:00+00:00"
    assert "koordinator" not in json.dumps(bundle, ensure_ascii=False).lower()


def test_gp_discharge_with_consent_adds_the_follow_up_payload() -> None:
    bundle = discharge_care_communication(_discharge(), FOLLOW_UP, _ctx())
    communication = _resources(bundle)["Communication"]
    follow_up = communication["payload"][1]["contentString"]
    assert "Koordinator (stafetholder): Mette Kjærgaard, kontaktperson på botilbud, tlf. +45 58 57 36 00" in follow_up
    assert "- Kontrol af depotmedicin (ansvarlig: egen læge, senest 14.03.2024)" in follow_up
    assert "Kriseplan: foreligger" in follow_up
    provenance = _resources(bundle)["Provenance"]
    payload_ids = [p["extension"][1]["valueIdentifier"]["value"] for p in communication["payload"]]
    assert [e["what"]["identifier"]["value"] for e in provenance["entity"]] == payload_ids


def test_a_date_only_meeting_is_written_as_a_date() -> None:
    bundle = discharge_care_communication(_discharge(), FOLLOW_UP, _ctx())
    follow_up = _resources(bundle)["Communication"]["payload"][1]["contentString"]
    meeting = next(line for line in follow_up.splitlines() if line.startswith("Næste koordinationsmøde"))
    assert meeting == "Næste koordinationsmøde: 15.03.2024"


def test_municipality_variant_uses_carecoordination() -> None:
    bundle = municipality_care_communication(_discharge(), FOLLOW_UP, _ctx())
    communication = _resources(bundle)["Communication"]
    assert communication["category"][0]["coding"][0]["code"] == "carecoordination"
    assert communication["payload"][0]["contentString"].startswith("Søren er udskrevet til sit bosted.\n")
    gp = discharge_care_communication(_discharge(), FOLLOW_UP, _ctx())
    assert _resources(bundle)["MessageHeader"]["id"] != _resources(gp)["MessageHeader"]["id"]
