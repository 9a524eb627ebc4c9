"""FHIR CareCommunication message intake (JSON and XML) and its located errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.inbound.fhir_message import parse_fhir_message
from gateway.inbound.limits import Limits
from mappings.issues import IssueError

MEDCOM = Path(__file__).parents[3] / "fixtures" / "samples" / "inbound" / "medcom"
LIMITS = Limits()
JSON_EXAMPLE = MEDCOM / "Bundle-k7bfbc0c-553d-11ed-bdc3-0242ac120002.json"


def test_json_message_gives_parties_patient_category_and_episode() -> None:
    message = parse_fhir_message(JSON_EXAMPLE.read_bytes(), "application/fhir+json; fhirVersion=4.0", limits=LIMITS)
    assert message.message_header_id == "3076d9b0-5521-11ed-bdc3-0242ac120002"
    assert (message.sender.sor, message.sender.gln) == ("265161000016000", "5790000209354")
    assert (message.receiver.sor, message.receiver.gln) == ("953741000016009", "5790001348120")
    assert message.patient.cpr == "2509479989"
    assert message.category == "carecoordination"
    assert message.episode_of_care_identifier == "fc60e762-b13b-5773-865e-67f3907bdcc7"
    assert message.activity == "reply-message"


def test_xml_message_with_danish_text() -> None:
    data = (MEDCOM / "Flow1-CareCommunication_Ex_from_OIOXML.xml").read_bytes()
    message = parse_fhir_message(data, "application/fhir+xml", limits=LIMITS)
    assert message.category == "other"
    assert message.topic == "Forundersøgelse"
    assert message.text.startswith("Denne meddelelse har høj prioritet.")
    assert message.receiver.name == "Social og Sundhed Odense Kommune"


def test_other_events_are_not_supported() -> None:
    bundle = json.loads(JSON_EXAMPLE.read_bytes())
    bundle["entry"][0]["resource"]["eventCoding"]["code"] = "hospital-notification-message"
    with pytest.raises(IssueError) as exc:
        parse_fhir_message(json.dumps(bundle).encode(), "application/fhir+json", limits=LIMITS)
    issue = exc.value.issues[0]
    assert (issue.message_id, issue.expression) == ("fhir.event-not-supported", "Bundle.entry[0].resource.eventCoding")


def test_unresolvable_reference_is_located() -> None:
    bundle = json.loads(JSON_EXAMPLE.read_bytes())
    bundle["entry"][0]["resource"]["focus"][0]["reference"] = "Communication/nope"
    with pytest.raises(IssueError) as exc:
        parse_fhir_message(json.dumps(bundle).encode(), "application/fhir+json", limits=LIMITS)
    assert exc.value.issues[0].expression == "Bundle.entry[0].resource.focus"


def test_invalid_json_reports_line_and_column() -> None:
    with pytest.raises(IssueError) as exc:
        parse_fhir_message(b'{"resourceType": "Bundle",\n "id": }', "application/fhir+json", limits=LIMITS)
    assert exc.value.issues[0].expression == "line 2, column 8"


def test_deep_json_and_doctype_xml_are_refused() -> None:
    with pytest.raises(IssueError) as exc:
        parse_fhir_message(b'{"a":' * 100 + b"1" + b"}" * 100, "application/fhir+json", limits=LIMITS)
    assert exc.value.issues[0].message_id == "fhir.too-deep"
    hostile = b'<!DOCTYPE b [<!ENTITY x SYSTEM "file:///etc/passwd">]><Bundle xmlns="http://hl7.org/fhir"/>'
    with pytest.raises(IssueError) as exc:
        parse_fhir_message(hostile, "application/fhir+xml", limits=LIMITS)
    assert exc.value.issues[0].message_id == "inbound.xml-doctype"


def test_unknown_media_type() -> None:
    with pytest.raises(IssueError) as exc:
        parse_fhir_message(b"{}", "text/csv", limits=LIMITS)
    assert exc.value.issues[0].message_id == "fhir.media-type"


def test_every_code_that_names_the_sender_is_read_with_where() -> None:
    message = parse_fhir_message(JSON_EXAMPLE.read_bytes(), "application/fhir+json", limits=LIMITS)
    assert set(dict(message.sender_codes)) == {"265161000016000", "5790000209354"}
    # the sender Organization's two, and the same Organization again as the agent of the header's Provenance
    assert [where for _code, where in message.sender_codes] == 2 * [
        "Bundle.entry[7].resource.identifier[0]",
        "Bundle.entry[7].resource.identifier[1]",
    ]


def test_two_entries_of_one_resource_are_refused() -> None:
    bundle = json.loads(JSON_EXAMPLE.read_bytes())
    twin = json.loads(json.dumps(bundle["entry"][-1]))
    twin["fullUrl"] = "urn:uuid:0e0e0e0e-0000-4000-8000-00000000000c"
    bundle["entry"].append(twin)
    with pytest.raises(IssueError) as exc:
        parse_fhir_message(json.dumps(bundle).encode(), "application/fhir+json", limits=LIMITS)
    issue = exc.value.issues[0]
    assert (issue.message_id, issue.expression) == ("fhir.duplicate-entry", f"Bundle.entry[{len(bundle['entry']) - 1}]")


REFERENCE = Path(__file__).parents[2] / "data" / "reference" / "medcom-carecommunication"


def _care_communications() -> list[Path]:
    found = []
    for path in sorted(REFERENCE.rglob("Bundle-*.json")):
        bundle = json.loads(path.read_bytes())
        event = (bundle.get("entry") or [{}])[0].get("resource", {}).get("eventCoding", {}).get("code")
        if bundle.get("type") == "message" and event == "care-communication-message":
            found.append(path)
    return found


@pytest.mark.parametrize("path", _care_communications(), ids=lambda path: path.name[:40])
def test_medcoms_own_messages_name_one_sender_everywhere_it_is_read(path: Path) -> None:
    """The relay refuses a message whose sender codes disagree (`IntakeService._relayed_sender`); MedCom's
    examples, one with another organisation's SOR code in `source.endpoint`, must all pass that rule."""
    message = parse_fhir_message(path.read_bytes(), "application/fhir+json", limits=LIMITS)
    codes = {code for code, _where in message.sender_codes}
    assert codes and codes <= {message.sender.sor, message.sender.gln}, message.sender_codes
