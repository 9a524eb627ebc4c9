"""CareCommunication: XDIS91 conversion against MedCom's own example, and the discharge notices."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from gateway.clock import SequenceIds
from gateway.inbound.fhir_message import parse_fhir_message
from gateway.inbound.limits import Limits
from gateway.inbound.oioxml import parse_oioxml
from mappings.context import ExplainCollector, MappingContext
from mappings.documents.discharge import (
    Author,
    BinaryAttachment,
    Citizen,
    Correspondence,
    DischargeEvent,
    InterventionDue,
    Party,
    PlanFollowUp,
    ResolvedParties,
)
from mappings.issues import IssueError
from mappings.notices.care_communication import (
    care_communication_from_correspondence,
    discharge_care_communication,
    municipality_care_communication,
)

from .normalise import normalise

MEDCOM = Path(__file__).parents[3] / "fixtures" / "samples" / "inbound" / "medcom"
SAMPLES = MEDCOM.parent
NOW = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
ATTACHMENT_UUID = "c39ea6b2-6052-45e4-a207-415e0205ab6f"


def _ctx(explain: ExplainCollector | None = None) -> MappingContext:
    return MappingContext(now=NOW, new_uuid=SequenceIds().new_id, explain=explain)


def _xbin01_data() -> str:
    root = etree.parse(str(MEDCOM / "Flow1-XBIN01_Ex_to_FHIR.xml")).getroot()
    return "".join(root.itertext(tag="{*}Object_Base64Encoded")).strip()


def _flow1_parties() -> ResolvedParties:
    """What MedCom's conversion service looked up in the SOR directory for Flow 1 (see its output)."""
    return ResolvedParties(
        sender=Party(gln="5790001382445", sor="359001000016000", name="MedCom testcenter"),
        receiver=Party(gln="5790000121441", sor="328051000016008", name="Social og Sundhed Odense Kommune"),
        author=Author(family="Petersen", given=("K.",), phone="65432030", role_code="overlaege"),
        attachments=(("c39ea6b2605245e4a207415e0205ab6f", BinaryAttachment(_xbin01_data(), "vektor_grafik")),),
    )


def _without_patient_name(bundle: dict[str, Any]) -> dict[str, Any]:
    for item in bundle["entry"]:
        if item["resource"]["resourceType"] == "Patient":
            item["resource"].pop("name")
    return bundle


def test_xdis91_conversion_matches_medcom_flow1_field_for_field() -> None:
    letter = parse_oioxml((MEDCOM / "Flow1-XDIS91_Ex_to_FHIR.xml").read_bytes(), limits=Limits())
    assert isinstance(letter, Correspondence)
    built = care_communication_from_correspondence(letter, _flow1_parties(), _ctx())
    expected = parse_fhir_message(
        (MEDCOM / "Flow1-CareCommunication_Ex_from_OIOXML.xml").read_bytes(), "application/fhir+xml", limits=Limits()
    ).bundle
    # Known difference, not ours: MedCom's output names the patient "Nancy Ann Hansen" (from the CPR register),
    # while the letter says PersonGivenName "Nancy", PersonSurnameName "Ann Berggren"; we keep the letter's name.
    assert normalise(_without_patient_name(built), keep_uuids=(ATTACHMENT_UUID,)) == normalise(
        _without_patient_name(expected), keep_uuids=(ATTACHMENT_UUID,)
    )
    assert built["timestamp"] == expected["timestamp"] == "2023-11-20T17:45:00+01:00"


def test_xdis91_conversion_is_idempotent() -> None:
    letter = parse_oioxml((MEDCOM / "Flow1-XDIS91_Ex_to_FHIR.xml").read_bytes(), limits=Limits())
    assert isinstance(letter, Correspondence)
    ids = SequenceIds()
    first = care_communication_from_correspondence(letter, _flow1_parties(), MappingContext(NOW, ids.new_id))
    second = care_communication_from_correspondence(letter, _flow1_parties(), MappingContext(NOW, ids.new_id))
    assert first["id"] != second["id"]
    assert first["entry"] == second["entry"]


def test_xdis91_with_episode_of_care_gets_an_encounter() -> None:
    letter = parse_oioxml((SAMPLES / "xdis91_windows-1252.xml").read_bytes(), limits=Limits())
    assert isinstance(letter, Correspondence)
    parties = ResolvedParties(
        sender=Party(gln="5790000209354", sor="265161000016000", name="Psykiatrisk Center Øst", phone="38683868"),
        receiver=Party(gln="5790000128686", sor="123451000016008", name="Lægehuset Ølstykke"),
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
    assert (
        "Bundle.entry[1].resource.identifier[0].value",
        "/Emessage/ClinicalEmail/Patient/CivilRegistrationNumber",
    ) in explain.pairs


def test_missing_xbin01_is_reported() -> None:
    letter = parse_oioxml((MEDCOM / "Flow1-XDIS91_Ex_to_FHIR.xml").read_bytes(), limits=Limits())
    assert isinstance(letter, Correspondence)
    flow1 = _flow1_parties()
    parties = ResolvedParties(sender=flow1.sender, receiver=flow1.receiver, author=flow1.author)
    with pytest.raises(IssueError) as exc:
        care_communication_from_correspondence(letter, parties, _ctx())
    assert exc.value.issues[0].message_id == "oioxml.xbin01-missing"


def _discharge() -> DischargeEvent:
    return DischargeEvent(
        source_key="hl7v2|SP-PSYK|RHP|SP0005",
        patient=Citizen(cpr="2509479989", family="Ærbødig-Sørensen", given=("Åse",)),
        sender=Party(gln="5790000209354", sor="265161000016000", name="Psykiatrisk Center Øst"),
        receiver=Party(gln="5790000128686", sor="123451000016008", name="Lægehuset Ølstykke"),
        author=Author(family="Ærø", given=("Jens",), phone="38683868", role_code="overlaege"),
        discharged=datetime(2024, 3, 1, 9, 10, tzinfo=UTC),
        text="Åse er udskrevet til sit bosted.",
        episode_of_care_identifier="bd481c38-a921-11ed-afa1-0242ac120002",
        encounter_class="IMP",
    )


FOLLOW_UP = PlanFollowUp(
    coordinator_name="Birthe Østergaard",
    coordinator_role="kontaktperson, bostedet Lærkebo",
    coordinator_phone="44556677",
    next_meeting=datetime(2024, 3, 15, 9, 0, tzinfo=UTC),
    interventions_due=(InterventionDue("Kontrol af depotmedicin", date(2024, 3, 14), "egen læge"),),
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
    assert [p["contentString"] for p in communication["payload"]] == ["Åse er udskrevet til sit bosted."]
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
    assert "Koordinator (stafetholder): Birthe Østergaard, kontaktperson, bostedet Lærkebo, tlf. 44556677" in follow_up
    assert "Næste koordinationsmøde: 15-03-2024 kl. 10:00" in follow_up
    assert "- Kontrol af depotmedicin (ansvarlig: egen læge, senest 14-03-2024)" in follow_up
    assert "Kriseplan: foreligger" in follow_up
    provenance = _resources(bundle)["Provenance"]
    payload_ids = [p["extension"][1]["valueIdentifier"]["value"] for p in communication["payload"]]
    assert [e["what"]["identifier"]["value"] for e in provenance["entity"]] == payload_ids


def test_municipality_variant_uses_carecoordination() -> None:
    bundle = municipality_care_communication(_discharge(), FOLLOW_UP, _ctx())
    communication = _resources(bundle)["Communication"]
    assert communication["category"][0]["coding"][0]["code"] == "carecoordination"
    assert communication["payload"][0]["contentString"].startswith("Borgeren er udskrevet 01-03-2024 kl. 10:10.")
    gp = discharge_care_communication(_discharge(), FOLLOW_UP, _ctx())
    assert _resources(bundle)["MessageHeader"]["id"] != _resources(gp)["MessageHeader"]["id"]
