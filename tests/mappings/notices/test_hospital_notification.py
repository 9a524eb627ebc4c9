"""HospitalNotification: each MedCom example rebuilt from its facts must come out field for field the same."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.clock import SequenceIds
from mappings.context import ExplainCollector, MappingContext
from mappings.documents.discharge import Citizen, HospitalStayEvent, Party, PriorNotice
from mappings.issues import IssueError
from mappings.notices.hospital_notification import hospital_notification_from_event, prior_notices_from_bundle

from .normalise import normalise

MEDCOM = Path(__file__).parents[3] / "fixtures" / "samples" / "inbound" / "medcom"

EXAMPLES = {
    "a5e5b880-c087-4055-b9ec-99108695f81d": "STIN",
    "bfab3e80-9584-11ec-b909-0242ac120002": "RE_STIN",
    "c83671a4-9584-11ec-b909-0242ac120002": "AN_STIN",
    "d3128d9b-cede-4c7f-8904-809eab322d7d": "STOR",
    "e94de8ee-bd94-475e-b454-b8fbbef8a685": "SLOR",
    "f4aa42a4-86db-4e68-9b38-9dda0dfd5774": "SLHJ",
    "g099bbf3-3fca-4722-a248-bfe1aa956410": "MORS",
    "h1c8e4a8-6b45-4669-94ad-2a99ad96bf03": "STAA",
    "kcab461b-f44e-4d97-a041-ef7e64800587": "SLHJ",
    "ld31e08a-b91f-49c3-841a-ce80e6380517": "MORS",
}


def _example(bundle_id: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((MEDCOM / f"Bundle-{bundle_id}.json").read_text(encoding="utf-8"))
    return loaded


def _party(organization: dict[str, Any]) -> Party:
    ids = {i["system"]: i["value"] for i in organization["identifier"]}
    return Party(gln=ids["https://www.gs1.org/gln"], sor=ids["urn:oid:1.2.208.176.1.1"], name=organization.get("name"))


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def event_from_example(bundle: dict[str, Any], use_case: str) -> tuple[HospitalStayEvent, datetime]:
    """The facts a hospital system would give us for the example's notice, read out of the example."""
    by_ref = {f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"] for e in bundle["entry"]}
    header = bundle["entry"][0]["resource"]
    encounter = by_ref[header["focus"][0]["reference"]]
    patient = by_ref[encounter["subject"]["reference"]]
    provenances = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Provenance"]
    own = next(p for p in provenances if p["target"][0]["reference"] == f"MessageHeader/{header['id']}")
    history = tuple(
        sorted(
            (
                PriorNotice(
                    message_header_id=p["target"][0]["reference"].removeprefix("MessageHeader/"),
                    activity=p["activity"]["coding"][0]["code"],
                    occurred=datetime.fromisoformat(p["occurredDateTime"]),
                    entity_role=p["entity"][0]["role"] if p.get("entity") else None,
                    entity_reference=p["entity"][0]["what"]["reference"] if p.get("entity") else None,
                )
                for p in provenances
                if p is not own
            ),
            key=lambda notice: notice.occurred,
        )
    )
    leave = next((x["valuePeriod"] for x in encounter.get("extension", [])), {})
    name = patient["name"][0]
    event = HospitalStayEvent(
        use_case=use_case,
        source_key=f"example|{bundle['id']}",
        patient=Citizen(
            cpr=patient["identifier"][0]["value"], family=name.get("family"), given=tuple(name.get("given", []))
        ),
        encounter_class=encounter["class"]["code"],
        episode_of_care_identifier=encounter["episodeOfCare"][0]["identifier"]["value"],
        admitted=datetime.fromisoformat(encounter["period"]["start"]),
        discharged=_when(encounter["period"].get("end")),
        occurred=_when(encounter["period"].get("end")) or datetime.fromisoformat(own["occurredDateTime"]),
        sender=_party(by_ref[header["sender"]["reference"]]),
        receiver=_party(by_ref[header["destination"][0]["receiver"]["reference"]]),
        leave_start=_when(leave.get("start")),
        leave_end=_when(leave.get("end")),
        history=history,
        report_of_admission=bool(header.get("extension")),
    )
    return event, datetime.fromisoformat(own["occurredDateTime"])


@pytest.mark.parametrize(("bundle_id", "use_case"), EXAMPLES.items(), ids=[f"{v}-{k[:8]}" for k, v in EXAMPLES.items()])
def test_notice_matches_medcom_example_field_for_field(bundle_id: str, use_case: str) -> None:
    expected = _example(bundle_id)
    event, now = event_from_example(expected, use_case)
    built = hospital_notification_from_event(event, MappingContext(now=now, new_uuid=SequenceIds().new_id))
    assert normalise(built) == normalise(expected)


def test_message_header_id_is_idempotent_and_bundle_id_new_per_send() -> None:
    event, now = event_from_example(_example("f4aa42a4-86db-4e68-9b38-9dda0dfd5774"), "SLHJ")
    ids = SequenceIds()
    first = hospital_notification_from_event(event, MappingContext(now=now, new_uuid=ids.new_id))
    second = hospital_notification_from_event(event, MappingContext(now=now, new_uuid=ids.new_id))
    assert first["entry"][0]["resource"]["id"] == second["entry"][0]["resource"]["id"]
    assert first["id"] != second["id"]
    assert first["entry"][1:] == second["entry"][1:]


def test_history_of_a_sent_notice_feeds_the_next_one() -> None:
    stor, now = event_from_example(_example("d3128d9b-cede-4c7f-8904-809eab322d7d"), "STOR")
    sent = hospital_notification_from_event(stor, MappingContext(now=now, new_uuid=SequenceIds().new_id))
    history = prior_notices_from_bundle(sent)
    assert [n.activity for n in history] == ["admit-inpatient", "start-leave-inpatient"]
    assert history[-1].message_header_id == sent["entry"][0]["resource"]["id"]
    assert history[-1].entity_role == "revision"


@pytest.mark.parametrize(
    ("use_case", "encounter_class", "status", "activity", "role", "deceased"),
    [
        ("RE_STAA", "EMER", "in-progress", "revise-admit-emergency", "revision", None),
        ("AN_STAA", "EMER", "entered-in-error", "cancel-admit-emergency", "removal", None),
        ("RE_STOR", "IMP", "onleave", "revise-start-leave-inpatient", "revision", None),
        ("AN_STOR", "IMP", "in-progress", "cancel-start-leave-inpatient", "removal", None),
        ("RE_SLOR", "IMP", "in-progress", "revise-end-leave-inpatient", "revision", None),
        ("AN_SLOR", "IMP", "onleave", "cancel-end-leave-inpatient", "removal", None),
        ("RE_SLHJ", "IMP", "finished", "revise-discharge-inpatient-home", "revision", None),
        ("AN_SLHJ", "EMER", "in-progress", "cancel-discharge-emergency-home", "removal", None),
        ("RE_MORS", "IMP", "finished", "start-leave-inpatient", "revision", True),
        ("AN_MORS", "IMP", "onleave", "start-leave-inpatient", "removal", False),
    ],
)
def test_revise_and_cancel_forms(
    use_case: str, encounter_class: str, status: str, activity: str, role: str, deceased: bool | None
) -> None:
    base, now = event_from_example(_example("d3128d9b-cede-4c7f-8904-809eab322d7d"), "STOR")
    sent = hospital_notification_from_event(base, MappingContext(now=now, new_uuid=SequenceIds().new_id))
    history = prior_notices_from_bundle(sent)
    event = HospitalStayEvent(
        **{
            **{f: getattr(base, f) for f in base.__dataclass_fields__},
            "use_case": use_case,
            "source_key": f"test|{use_case}",
            "encounter_class": encounter_class,
            "history": history,
        }
    )
    bundle = hospital_notification_from_event(event, MappingContext(now=now, new_uuid=SequenceIds().new_id))
    resources = [e["resource"] for e in bundle["entry"]]
    encounter, patient, own = resources[2], resources[1], resources[-1]
    assert encounter["status"] == status
    assert own["activity"]["coding"][0]["code"] == activity
    assert own["entity"] == [{"role": role, "what": {"reference": f"MessageHeader/{history[-1].message_header_id}"}}]
    assert patient.get("deceasedBoolean") == deceased
    assert len([r for r in resources if r["resourceType"] == "Provenance"]) == 3


def test_explain_covers_every_element_with_its_origin() -> None:
    event, now = event_from_example(_example("f4aa42a4-86db-4e68-9b38-9dda0dfd5774"), "SLHJ")
    collector = ExplainCollector()
    bundle = hospital_notification_from_event(
        event, MappingContext(now=now, new_uuid=SequenceIds().new_id, explain=collector)
    )
    explained = {item.path: item.origin for item in collector.for_bundle(bundle)}
    assert explained["Bundle.entry[2].resource.status"].kind == "constant"
    assert "SLHJ" in explained["Bundle.entry[2].resource.status"].source
    assert explained["Bundle.id"].kind == "generated id"
    assert explained["Bundle.timestamp"].kind == "clock"
    history = [path for path, origin in explained.items() if origin.kind == "history"]
    assert "Bundle.entry[5].resource.target[0].reference" in history


@pytest.mark.parametrize(
    ("change", "message_id"),
    [
        ({"use_case": "XYZ"}, "hn.use-case-unknown"),
        ({"use_case": "STAA"}, "hn.class-not-allowed"),
        ({"history": ()}, "hn.history-missing"),
        ({"patient": Citizen(cpr="0703921VJ4", cpr_system="urn:oid:1.2.208.176.1.6.1.1")}, "hn.cpr-required"),
        ({"receiver": Party(gln="5790001348120", name="Plejecenter Herlev")}, "notice.party-identifiers-missing"),
        ({"use_case": "STOR", "leave_start": None}, "hn.leave-start-missing"),
    ],
)
def test_invalid_notices_are_refused(change: dict[str, Any], message_id: str) -> None:
    base, now = event_from_example(_example("f4aa42a4-86db-4e68-9b38-9dda0dfd5774"), "SLHJ")
    event = HospitalStayEvent(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, **change})
    with pytest.raises(IssueError) as exc:
        hospital_notification_from_event(event, MappingContext(now=now, new_uuid=SequenceIds().new_id))
    assert exc.value.issues[0].message_id == message_id
