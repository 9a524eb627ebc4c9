"""`stamp_envelope`: a new envelope per send, copied only where it changes; the queued message is never touched."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from fixtures.messages import empty_message
from gateway.delivery.envelope import stamp_envelope

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SENT = datetime(2024, 5, 1, 12, 0, 10, tzinfo=UTC)
HEADER = "11111111-1111-4111-8111-111111111111"


def _message_with_an_earlier_provenance() -> dict:
    message = empty_message(header_id=HEADER, bundle_id="original", provenance_id="prov-1", sent_at=T0)
    earlier = copy.deepcopy(next(e for e in message["entry"] if e["resource"]["resourceType"] == "Provenance"))
    earlier["resource"]["id"] = "prov-0"
    earlier["resource"]["target"] = [{"reference": "MessageHeader/an-earlier-message"}]
    message["entry"].append(earlier)
    return message


def _provenance(message: dict, provenance_id: str) -> dict:
    return next(e["resource"] for e in message["entry"] if e["resource"].get("id") == provenance_id)


def test_the_envelope_and_this_messages_provenance_carry_the_send() -> None:
    stamped = stamp_envelope(_message_with_an_earlier_provenance(), "new-bundle", SENT)
    assert stamped["id"] == "new-bundle"
    assert stamped["timestamp"] == "2024-05-01T12:00:10Z"
    assert _provenance(stamped, "prov-1")["occurredDateTime"] == "2024-05-01T12:00:10Z"
    assert _provenance(stamped, "prov-1")["recorded"] == "2024-05-01T12:00:10Z"
    # a Provenance of an earlier message in the chain keeps its own time
    assert _provenance(stamped, "prov-0")["occurredDateTime"] == "2024-05-01T12:00:00Z"


def test_the_queued_message_is_left_exactly_as_it_was() -> None:
    message = _message_with_an_earlier_provenance()
    before = copy.deepcopy(message)
    stamp_envelope(message, "new-bundle", SENT)
    stamp_envelope(message, "another-bundle", datetime(2024, 5, 2, tzinfo=UTC))
    assert message == before


def test_two_sends_of_one_message_do_not_share_what_they_change() -> None:
    message = _message_with_an_earlier_provenance()
    first = stamp_envelope(message, "first", SENT)
    second = stamp_envelope(message, "second", datetime(2024, 5, 2, tzinfo=UTC))
    assert first["id"] == "first" and second["id"] == "second"
    assert _provenance(first, "prov-1")["recorded"] == "2024-05-01T12:00:10Z"
    assert _provenance(second, "prov-1")["recorded"] == "2024-05-02T00:00:00Z"


def test_a_message_without_entries_gets_its_envelope_only() -> None:
    assert stamp_envelope({"resourceType": "Bundle", "id": "x"}, "new", SENT) == {
        "resourceType": "Bundle",
        "id": "new",
        "timestamp": "2024-05-01T12:00:10Z",
    }
