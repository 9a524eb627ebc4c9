"""From ADT messages to HospitalNotification use cases: each trigger, through to the notice."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.clock import SequenceIds
from gateway.inbound.hl7v2 import parse_hl7v2
from gateway.inbound.limits import Limits
from mappings.context import MappingContext
from mappings.documents.discharge import Author, Party
from mappings.issues import IssueError
from mappings.notices.hospital_notification import hospital_notification_from_event, prior_notices_from_bundle
from mappings.notices.stay_events import discharge_event_from_adt, episode_of_care_identifier, stay_event_from_adt

SAMPLES = Path(__file__).parents[3] / "fixtures" / "samples" / "inbound"
HOSPITAL = Party(gln="5790000209354", sor="265161000016000", name="Psykiatrisk Center Øst")
MUNICIPALITY = Party(gln="5790001348120", sor="953741000016009", name="Aarhus Kommune, Socialforvaltningen")
NOW = datetime(2024, 3, 1, 9, 16, tzinfo=UTC)


def _adt(name: str) -> object:
    return parse_hl7v2((SAMPLES / name).read_bytes(), limits=Limits())


def _notice(name: str, history: tuple = ()) -> dict:  # type: ignore[type-arg]
    event = stay_event_from_adt(_adt(name), sender=HOSPITAL, receiver=MUNICIPALITY, history=history)  # type: ignore[arg-type]
    return hospital_notification_from_event(event, MappingContext(now=NOW, new_uuid=SequenceIds().new_id))


def test_a_whole_stay_admit_leave_return_discharge() -> None:
    history: tuple = ()  # type: ignore[type-arg]
    expected = [
        ("adt_a01_inpatient_8859-1.hl7", "admit-inpatient", "in-progress"),
        ("adt_a21_leave_8859-1.hl7", "start-leave-inpatient", "onleave"),
        ("adt_a22_return_8859-1.hl7", "end-leave-inpatient", "in-progress"),
        ("adt_a03_discharge_8859-1.hl7", "discharge-inpatient-home", "finished"),
        ("adt_a13_cancel_discharge_8859-1.hl7", "cancel-discharge-inpatient-home", "in-progress"),
    ]
    for step, (name, activity, status) in enumerate(expected, start=1):
        bundle = _notice(name, history)
        resources = [e["resource"] for e in bundle["entry"]]
        assert resources[2]["status"] == status, name
        provenances = [r for r in resources if r["resourceType"] == "Provenance"]
        assert len(provenances) == step
        assert provenances[-1]["activity"]["coding"][0]["code"] == activity
        assert resources[1]["name"][0]["family"] == "Østergård"
        history = prior_notices_from_bundle(bundle)
    slor = _notice("adt_a22_return_8859-1.hl7", prior_notices_from_bundle(_notice("adt_a21_leave_8859-1.hl7", history)))
    leave = slor["entry"][2]["resource"]["extension"][0]["valuePeriod"]
    assert leave == {"start": "2024-02-25T10:00:00+01:00", "end": "2024-02-26T18:00:00+01:00"}


def test_emergency_admit_is_staa_and_death_is_mors() -> None:
    staa = _notice("adt_a01_emergency_utf8.hl7")
    assert staa["entry"][-1]["resource"]["activity"]["coding"][0]["code"] == "admit-emergency"
    mors = _notice("adt_a03_death_8859-1.hl7", prior_notices_from_bundle(_notice("adt_a01_inpatient_8859-1.hl7")))
    assert mors["entry"][1]["resource"]["deceasedBoolean"] is True
    assert mors["entry"][-1]["resource"]["activity"]["coding"][0]["code"] == "admit-inpatient"


def test_message_header_id_derives_from_msh_3_4_10() -> None:
    first, again = _notice("adt_a01_inpatient_8859-1.hl7"), _notice("adt_a01_inpatient_8859-1.hl7")
    other = _notice("adt_a01_emergency_utf8.hl7")
    assert first["entry"][0]["resource"]["id"] == again["entry"][0]["resource"]["id"]
    assert first["entry"][0]["resource"]["id"] != other["entry"][0]["resource"]["id"]


def test_episode_identifier_is_a_uuid() -> None:
    assert (
        episode_of_care_identifier("bd481c38a92111edafa10242ac120002", "RHP") == "bd481c38-a921-11ed-afa1-0242ac120002"
    )
    derived = episode_of_care_identifier("VN-42", "RHP")
    assert derived == episode_of_care_identifier("VN-42", "RHP") != episode_of_care_identifier("VN-42", "OTHER")
    with pytest.raises(IssueError):
        episode_of_care_identifier(None, "RHP")


def test_discharge_event_for_the_gp_needs_an_a03() -> None:
    author = Author(family="Ærø", given=("Jens",), phone="38683868", role_code="overlaege")
    event = discharge_event_from_adt(
        _adt("adt_a03_discharge_8859-1.hl7"),  # type: ignore[arg-type]
        sender=HOSPITAL,
        receiver=MUNICIPALITY,
        author=author,
    )
    assert event.episode_of_care_identifier == "bd481c38-a921-11ed-afa1-0242ac120002"
    # ADT carries no letter: the text says who, from where and when, in Danish time (PV1-45 is +0100).
    assert event.text.text == "Søren er udskrevet fra Psykiatrisk Center Øst 01.03.2024 kl. 10:10."
    assert ("PV1-45", "2024-03-01T10:10:00+01:00") in event.text.values
    with pytest.raises(IssueError):
        discharge_event_from_adt(
            _adt("adt_a01_inpatient_8859-1.hl7"),  # type: ignore[arg-type]
            sender=HOSPITAL,
            receiver=MUNICIPALITY,
            author=author,
        )


def test_xdis01_discharge_letter_becomes_gp_discharge_event() -> None:
    from gateway.inbound.oioxml import parse_oioxml
    from mappings.documents.discharge import DischargeLetter
    from mappings.notices.stay_events import discharge_event_from_letter

    letter = parse_oioxml((SAMPLES / "xdis01_iso-8859-1.xml").read_bytes(), limits=Limits())
    assert isinstance(letter, DischargeLetter)
    author = Author(family="Ærø", given=("Jens",), phone="38683868", role_code="overlaege")
    event = discharge_event_from_letter(letter, sender=HOSPITAL, receiver=MUNICIPALITY, author=author)
    assert event.source_key == "oioxml|5790000209354|EPI2024030101"
    assert event.text.text.startswith("Søren blev indlagt")
    assert event.discharged == letter.discharged


def test_discharge_of_a_stay_not_seen_begin_is_refused_with_the_way_through() -> None:
    with pytest.raises(IssueError) as exc:
        _notice("adt_a03_discharge_8859-1.hl7")
    issue = exc.value.issues[0]
    assert issue.message_id == "hn.history-missing"
    assert "first-of-stay" in issue.diagnostics


def test_first_of_stay_discharge_is_the_stays_only_notice() -> None:
    adt = _adt("adt_a03_discharge_8859-1.hl7")
    event = stay_event_from_adt(adt, sender=HOSPITAL, receiver=MUNICIPALITY, first_of_stay=True)  # type: ignore[arg-type]
    assert event is not None and event.use_case == "SLHJ" and event.first_of_stay
    bundle = hospital_notification_from_event(event, MappingContext(now=NOW, new_uuid=SequenceIds().new_id))
    provenances = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Provenance"]
    assert len(provenances) == 1 and "entity" not in provenances[0]
    assert provenances[0]["activity"]["coding"][0]["code"] == "discharge-inpatient-home"


def test_first_of_stay_death_reports_the_admission_as_current_activity() -> None:
    adt = _adt("adt_a03_death_8859-1.hl7")
    event = stay_event_from_adt(adt, sender=HOSPITAL, receiver=MUNICIPALITY, first_of_stay=True)  # type: ignore[arg-type]
    assert event is not None and event.use_case == "MORS"
    bundle = hospital_notification_from_event(event, MappingContext(now=NOW, new_uuid=SequenceIds().new_id))
    own = bundle["entry"][-1]["resource"]
    assert own["activity"]["coding"][0]["code"] == "admit-inpatient"


def test_first_of_stay_cancellation_has_nothing_to_cancel() -> None:
    adt = _adt("adt_a13_cancel_discharge_8859-1.hl7")
    assert stay_event_from_adt(adt, sender=HOSPITAL, receiver=MUNICIPALITY, first_of_stay=True) is None  # type: ignore[arg-type]


def test_first_of_stay_is_ignored_when_the_stay_is_known() -> None:
    admitted = _notice("adt_a01_inpatient_8859-1.hl7")
    history = prior_notices_from_bundle(admitted)
    adt = _adt("adt_a03_discharge_8859-1.hl7")
    event = stay_event_from_adt(adt, sender=HOSPITAL, receiver=MUNICIPALITY, history=history, first_of_stay=True)  # type: ignore[arg-type]
    assert event is not None and not event.first_of_stay
