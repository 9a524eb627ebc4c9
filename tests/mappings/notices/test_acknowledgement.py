"""Acknowledgement builders and parser against MedCom's Acknowledgement 2.0.3 examples."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from mappings.issues import IssueError
from mappings.notices.acknowledgement import (
    Ack,
    AckIssue,
    acknowledgement,
    acknowledgement_from_message,
    message_parties,
    parse_acknowledgement,
)
from tests.conftest import REFERENCE

EXAMPLES = REFERENCE / "medcom-acknowledgement" / "examples"
IG_BASE = "https://medcomfhir.dk/ig/acknowledgement"
CEST = timezone(timedelta(hours=2))


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return loaded


def _without_text(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_text(v) for k, v in node.items() if k != "text"}
    if isinstance(node, list):
        return [_without_text(v) for v in node]
    return node


def _resources(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["resource"]["id"]: e["resource"] for e in bundle["entry"]}


def _build_like_example(example: dict[str, Any], code: Any, issues: tuple[AckIssue, ...]) -> dict[str, Any]:
    entries = [e["resource"] for e in example["entry"]]
    header, acked_provenance, own_provenance, sender, receiver = entries[:5]
    return acknowledgement(
        bundle_id=example["id"],
        header_id=header["id"],
        provenance_id=own_provenance["id"],
        outcome_id=entries[5]["id"] if len(entries) > 5 else "unused",
        acknowledged_header_id="42cb9200-f421-4d08-8391-7d51a2503cb4",
        acknowledged_provenance=copy.deepcopy(acked_provenance),
        code=code,
        sender=copy.deepcopy(sender),
        receiver=copy.deepcopy(receiver),
        sender_endpoint=header["source"]["endpoint"],
        receiver_endpoint=header["destination"][0]["endpoint"],
        sent_at=datetime(2022, 9, 1, 12, 1, 20, tzinfo=CEST),
        base_url=IG_BASE,
        issues=issues,
    )


def _known_deviations(built: dict[str, Any], example: dict[str, Any]) -> None:
    """Align the fields where MedCom's example contradicts itself; every other field must match exactly."""
    built["timestamp"] = example["timestamp"]  # the example's timestamp is 20 s before its Provenance times
    for entry, expected in zip(built["entry"], example["entry"], strict=True):
        resource, wanted = entry["resource"], expected["resource"]
        if resource["resourceType"] == "Provenance" and resource["id"] == built["entry"][2]["resource"]["id"]:
            # The example writes 12:01:20+02:00 and 12:01:20Z for the same send; we write one instant twice.
            assert resource["recorded"] == "2022-09-01T10:01:20Z"
            resource["recorded"] = wanted["recorded"]
            # The example's own Provenance names the other party as agent; Flow2 names the ack's sender.
            assert resource["agent"] == [{"who": built["entry"][0]["resource"]["sender"]}]
            resource["agent"] = wanted["agent"]


@pytest.mark.parametrize(
    ("example_file", "code", "issues"),
    [
        ("Bundle-a8c041b8-c65a-4fde-a90f-962076918834.json", "ok", ()),
        (
            "Bundle-c9c2b2f6-0807-11ed-861d-0242ac120002.json",
            "transient-error",
            (AckIssue("error", "value", "MSG_Mailbox_Out_Of_Operation"),),
        ),
        (
            "Bundle-bc9535ef-ed94-4060-a928-7baddec7ee71.json",
            "fatal-error",
            (AckIssue("error", "structure", "MSG_VALUESET_VALUE_UNKNOWN"),),
        ),
    ],
)
def test_built_acknowledgement_matches_medcom_example_field_by_field(
    example_file: str, code: str, issues: tuple[AckIssue, ...]
) -> None:
    example = _load(example_file)
    if code != "ok":
        # The negative examples acknowledge a header id (53128d9b-…) that differs from their own Provenances.
        example["entry"][0]["resource"]["response"]["identifier"] = "42cb9200-f421-4d08-8391-7d51a2503cb4"
    built = _build_like_example(example, code, issues)
    _known_deviations(built, example)
    assert _without_text(built) == _without_text(example)


def test_built_acknowledgement_parses_as_an_r4b_bundle_and_header_has_narrative() -> None:
    built = _build_like_example(_load("Bundle-a8c041b8-c65a-4fde-a90f-962076918834.json"), "ok", ())
    Bundle.model_validate(built)
    assert built["entry"][0]["resource"]["text"]["status"] == "generated"


def test_negative_acknowledgement_without_issue_is_refused() -> None:
    with pytest.raises(IssueError) as caught:
        _build_like_example(_load("Bundle-a8c041b8-c65a-4fde-a90f-962076918834.json"), "fatal-error", ())
    assert caught.value.issues[0].message_id == "ack.negative-without-issue"


def test_naive_sent_time_is_refused() -> None:
    message = _load("Bundle-eb26be85-fdb7-454d-a980-95cba6d1745b.json")
    with pytest.raises(IssueError):
        acknowledgement_from_message(message, code="ok", sent_at=datetime(2024, 1, 1), base_url=IG_BASE)


@pytest.mark.parametrize(
    "example_file",
    [
        "Bundle-a8c041b8-c65a-4fde-a90f-962076918834.json",
        "Bundle-c9c2b2f6-0807-11ed-861d-0242ac120002.json",
        "Bundle-bc9535ef-ed94-4060-a928-7baddec7ee71.json",
    ],
)
def test_parse_reads_every_medcom_example(example_file: str) -> None:
    example = _load(example_file)
    ack = parse_acknowledgement(example)
    header = example["entry"][0]["resource"]
    assert ack.bundle_id == example["id"]
    assert ack.message_header_id == header["id"]
    assert ack.acknowledged_id == header["response"]["identifier"]
    assert ack.code == header["response"]["code"]
    assert ack.positive is (ack.code == "ok")
    if not ack.positive:
        assert str(ack.issues[0].error_code) in ack.reason()


def test_acknowledging_the_empty_message_example_answers_its_sender() -> None:
    message = _load("Bundle-eb26be85-fdb7-454d-a980-95cba6d1745b.json")
    sent = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
    ack_bundle = acknowledgement_from_message(message, code="ok", sent_at=sent, base_url="https://gp.example")
    header = ack_bundle["entry"][0]["resource"]
    assert header["response"] == {"identifier": "3881874e-2042-4a00-aee8-23512799f512", "code": "ok"}
    assert header["sender"] == {"reference": "Organization/74cdf292-abf3-4f5f-80ea-60a48013ff6d"}
    assert header["destination"][0]["receiver"] == {"reference": "Organization/d7056980-a8b2-42aa-8a0e-c1fc85d1f40d"}
    assert header["destination"][0]["endpoint"] == "https://sor2.sum.dsdn.dk/#id=265161000016000"
    assert ack_bundle["timestamp"] == "2024-03-01T09:30:00Z"
    Bundle.model_validate(ack_bundle)
    assert parse_acknowledgement(ack_bundle) == Ack(
        bundle_id=ack_bundle["id"],
        message_header_id=header["id"],
        acknowledged_id="3881874e-2042-4a00-aee8-23512799f512",
        code="ok",
    )


def test_same_message_gives_same_acknowledgement_and_resend_gets_new_bundle_id() -> None:
    message = _load("Bundle-eb26be85-fdb7-454d-a980-95cba6d1745b.json")
    sent = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
    first = acknowledgement_from_message(message, code="ok", sent_at=sent, base_url=IG_BASE)
    again = acknowledgement_from_message(message, code="ok", sent_at=sent, base_url=IG_BASE)
    assert first == again
    resend = {**message, "id": "0d7a8c1e-5b7e-4c0a-9a6e-1f0e7d9a1111"}
    third = acknowledgement_from_message(resend, code="ok", sent_at=sent, base_url=IG_BASE)
    assert third["id"] != first["id"]
    assert third["entry"][0]["resource"]["id"] == first["entry"][0]["resource"]["id"]


def test_negative_acknowledgement_carries_issue_text_and_parses_back() -> None:
    message = _load("Bundle-eb26be85-fdb7-454d-a980-95cba6d1745b.json")
    issue = AckIssue("error", "structure", "MSG_Datatype_Wrong", "Encounter.period.start is not a dateTime")
    ack_bundle = acknowledgement_from_message(
        message,
        code="fatal-error",
        sent_at=datetime(2024, 3, 1, tzinfo=UTC),
        base_url=IG_BASE,
        issues=[issue],
    )
    resources = _resources(ack_bundle)
    header = ack_bundle["entry"][0]["resource"]
    outcome_id = header["response"]["details"]["reference"].split("/")[1]
    assert resources[outcome_id]["issue"][0]["details"]["coding"][0]["code"] == "MSG_Datatype_Wrong"
    ack = parse_acknowledgement(ack_bundle)
    assert not ack.positive
    assert ack.issues == (issue,)
    assert ack.reason() == "fatal-error: MSG_Datatype_Wrong: Encounter.period.start is not a dateTime"


@pytest.mark.parametrize(
    ("mutate", "message_id"),
    [
        (lambda b: b.update(type="collection"), "ack.not-a-message"),
        (lambda b: b.update(entry=[]), "ack.not-a-message"),
        (lambda b: b["entry"].pop(0), "ack.no-header"),
        (lambda b: b["entry"][0]["resource"]["eventCoding"].update(code="empty-message"), "ack.wrong-event"),
        (lambda b: b["entry"][0]["resource"].pop("response"), "ack.no-response"),
        (lambda b: b["entry"][0]["resource"]["response"].update(code="maybe"), "ack.no-response"),
        (lambda b: b["entry"].pop(5), "ack.negative-without-outcome"),
    ],
)
def test_parse_rejects_what_is_not_an_acknowledgement(mutate: Any, message_id: str) -> None:
    bundle = _load("Bundle-bc9535ef-ed94-4060-a928-7baddec7ee71.json")
    mutate(bundle)
    with pytest.raises(IssueError) as caught:
        parse_acknowledgement(bundle)
    assert caught.value.issues[0].code == "structure"
    assert caught.value.issues[0].message_id == message_id


def test_message_without_sender_organisation_cannot_be_acknowledged() -> None:
    message = _load("Bundle-eb26be85-fdb7-454d-a980-95cba6d1745b.json")
    message["entry"] = [e for e in message["entry"] if e["resource"]["id"] != "d7056980-a8b2-42aa-8a0e-c1fc85d1f40d"]
    with pytest.raises(IssueError) as caught:
        message_parties(message)
    assert caught.value.issues[0].message_id == "ack.no-sender"
