"""Recipient directory: the shipped example loads, lookups by SOR/GLN/municipality, clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.delivery.directory import Recipient, RecipientDirectory
from mappings.issues import IssueError

EXAMPLE = Path(__file__).resolve().parents[3] / "fixtures" / "directory.example.yaml"
GP = {
    "name": "GP",
    "endpoint": "http://127.0.0.1:8081/fhir/$process-message",
    "sor": "328051000016008",
    "gln": "5790000121441",
}


def test_example_file_points_at_the_fixture_servers() -> None:
    directory = RecipientDirectory.from_file(EXAMPLE)
    gp = directory.by_sor("328051000016008")
    municipality = directory.by_municipality("0163")
    assert gp.endpoint == "http://127.0.0.1:8081/fhir/$process-message" and gp.role == "gp"
    assert municipality.endpoint == "http://127.0.0.1:8082/fhir/$process-message"
    assert directory.by_gln("5790001348120") == municipality
    assert municipality.key == "sor:953741000016009"


def test_json_file_works_too(tmp_path: Path) -> None:
    path = tmp_path / "directory.json"
    path.write_text(json.dumps({"recipients": [GP]}))
    assert RecipientDirectory.from_file(path).by_gln("5790000121441").name == "GP"


def test_find_tries_sor_then_gln_then_municipality() -> None:
    directory = RecipientDirectory([Recipient("GP", "http://gp", "328051000016008", "5790000121441")])
    assert directory.find(sor="999999999999", gln="5790000121441").name == "GP"


def test_unknown_recipient_is_a_business_rule_error() -> None:
    directory = RecipientDirectory.from_data({"recipients": [GP]})
    with pytest.raises(IssueError) as caught:
        directory.find(sor="111111111111", municipality="0461")
    issue = caught.value.issues[0]
    assert (issue.code, issue.message_id) == ("business-rule", "delivery.recipient-unknown")
    assert "SOR 111111111111" in issue.diagnostics and "municipality 0461" in issue.diagnostics


@pytest.mark.parametrize(
    ("entry", "expression"),
    [
        ({**GP, "sor": "123"}, "recipients[0].sor"),
        ({**GP, "gln": "579000012144"}, "recipients[0].gln"),
        ({**GP, "sor": 328051000016008}, "recipients[0].sor"),  # unquoted YAML number
        ({**GP, "municipality": "163"}, "recipients[0].municipality"),
        ({**GP, "endpoint": "ftp://gp"}, "recipients[0].endpoint"),
        ({k: v for k, v in GP.items() if k != "gln"}, "recipients[0].gln"),
        ("just a string", "recipients[0]"),
    ],
)
def test_invalid_entries_are_located(entry: Any, expression: str) -> None:
    with pytest.raises(IssueError) as caught:
        RecipientDirectory.from_data({"recipients": [entry]})
    assert caught.value.issues[0].expression == expression


def test_duplicate_keys_and_missing_list_are_refused(tmp_path: Path) -> None:
    with pytest.raises(IssueError) as duplicate:
        RecipientDirectory.from_data({"recipients": [GP, {**GP, "name": "again"}]})
    assert {i.message_id for i in duplicate.value.issues} == {"directory.duplicate-key"}
    with pytest.raises(IssueError):
        RecipientDirectory.from_data({"recipient": []})
    broken = tmp_path / "broken.yaml"
    broken.write_text("recipients: [unclosed")
    with pytest.raises(IssueError) as unparseable:
        RecipientDirectory.from_file(broken)
    assert unparseable.value.issues[0].message_id == "directory.unparseable"
    with pytest.raises(IssueError) as missing:
        RecipientDirectory.from_file(tmp_path / "absent.yaml")
    assert missing.value.issues[0].message_id == "directory.unreadable"
