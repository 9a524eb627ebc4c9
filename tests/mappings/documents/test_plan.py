"""The plan document: parsing, formats and business rules, each problem located by a JSON pointer."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from mappings.documents.plan import (
    PlanDocument,
    gln_check_digit_ok,
    json_pointer,
    parse_plan_document,
    plan_document_json_schema,
)
from mappings.issues import IssueError

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = sorted((ROOT / "fixtures" / "samples" / "plans").glob("*.json"))


def sample() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "fixtures/samples/plans/kip-slagelse-botilbud.json").read_text("utf-8"))
    return data


def issues_of(data: object) -> dict[str, str]:
    with pytest.raises(IssueError) as caught:
        parse_plan_document(data)
    return {str(issue.expression): str(issue.message_id) for issue in caught.value.issues}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.name)
def test_hand_written_samples_are_valid_plan_documents(path: Path) -> None:
    doc = parse_plan_document(json.loads(path.read_text("utf-8")))
    assert isinstance(doc, PlanDocument)
    assert doc.team


def test_samples_keep_danish_letters() -> None:
    doc = parse_plan_document(sample())
    assert doc.citizen.name.family == "Østergård"
    assert "Ærling" in doc.citizen.name.given


def test_every_format_problem_is_reported_in_one_go_with_json_pointers() -> None:
    data = sample()
    data["citizen"]["cpr"] = "3213010101"
    data["citizen"]["municipality_code"] = "9999"
    data["team"][2]["organisation"]["sor"] = "12345"
    data["team"][0]["organisation"]["gln"] = "5790000001041"
    data["goals"][0]["status"] = "finished"
    data["team"][1]["shoe_size"] = 44
    del data["consent"]["decided_on"]
    found = issues_of(data)
    assert found == {
        "/citizen/cpr": "plan.cpr-invalid",
        "/citizen/municipality_code": "plan.municipality-unknown",
        "/team/2/organisation/sor": "plan.sor-invalid",
        "/team/0/organisation/gln": "plan.gln-invalid",
        "/goals/0/status": "plan.invalid-value",
        "/team/1/shoe_size": "plan.field-unknown",
        "/consent/decided_on": "plan.field-missing",
    }


def test_every_business_rule_violation_is_reported_in_one_go() -> None:
    data = sample()
    data["interventions"][1]["responsible"] = "nobody"
    data["interventions"][0]["goals"].append("g9")
    data["coordination"]["coordinator"] = "ghost"
    data["coordination"]["next_meeting"] = "2025-03-01"
    data["team"][2]["period"] = {"start": "2025-01-01", "end": "2024-12-31"}
    data["team"][4]["relationship"] = None
    data["consent"]["permitted"].append("ghost")
    data["team"][3]["organisation"]["name"] = "Et andet navn"
    found = issues_of(data)
    assert found == {
        "/interventions/1/responsible": "plan.responsible-not-in-team",
        "/interventions/0/goals/2": "plan.goal-unknown",
        "/coordination/coordinator": "plan.coordinator-not-in-team",
        "/coordination/next_meeting": "plan.next-meeting-not-after",
        "/team/2/period/end": "plan.period-reversed",
        "/team/4/relationship": "plan.relationship-missing",
        "/consent/permitted/7": "plan.permitted-not-in-team",
        "/team/3/organisation": "plan.organisation-inconsistent",
    }


def test_schema_problems_and_business_rules_come_back_together() -> None:
    """Issue 17: a bad GLN check digit, a responsible person not in the team and a target date before its start
    date are three issues of one answer, not three rounds of fix-and-resubmit."""
    data = sample()
    data["team"][1]["organisation"]["gln"] = "5790000555551"
    data["interventions"][1]["responsible"] = "nobody"
    data["goals"][0]["target_date"] = "2025-01-01"
    with pytest.raises(IssueError) as caught:
        parse_plan_document(data)
    assert [(issue.code, issue.expression, issue.message_id) for issue in caught.value.issues] == [
        ("value", "/team/1/organisation/gln", "plan.gln-invalid"),
        ("business-rule", "/goals/0/target_date", "plan.goal-target-before-start"),
        ("business-rule", "/interventions/1/responsible", "plan.responsible-not-in-team"),
    ]


def test_a_member_failing_the_schema_is_still_in_the_team() -> None:
    """The intervention and the consent naming `fact1` are fine although `fact1` itself has a bad GLN."""
    data = sample()
    data["team"][1]["organisation"]["gln"] = "5790000555551"
    assert data["interventions"][0]["responsible"] == "fact1"
    assert issues_of(data) == {"/team/1/organisation/gln": "plan.gln-invalid"}


def test_rules_skip_a_section_that_failed_the_schema_but_check_the_rest() -> None:
    data = sample()
    data["coordination"]["meeting_date"] = "not a date"
    data["coordination"]["coordinator"] = "ghost"
    data["consent"]["permitted"].append("ghost")
    data["team"].append(copy.deepcopy(data["team"][0]) | {"email": "no mail"})
    assert issues_of(data) == {
        "/coordination/meeting_date": "plan.invalid-value",
        "/team/7/email": "plan.invalid-value",
        "/team/7/key": "plan.key-duplicate",
        "/consent/permitted/7": "plan.permitted-not-in-team",
    }


@pytest.mark.parametrize(
    ("change", "pointer", "message_id"),
    [
        (lambda d: d["team"][5]["organisation"].pop("gln"), "/team/5/organisation", "plan.organisation-unidentified"),
        (lambda d: d["team"].append({**d["team"][6], "key": "job2"}), "/team/7/organisation", "plan.member-indistinct"),
        (lambda d: d["team"].append(copy.deepcopy(d["team"][0])), "/team/7/key", "plan.key-duplicate"),
        (lambda d: d["consent"].update(decision="refused"), "/consent/permitted", "plan.refused-but-permitted"),
        (lambda d: d["consent"]["denied"].append({}), "/consent/denied/1", "plan.denied-party-ambiguous"),
        (lambda d: d["team"][1].update(relationship="MTH"), "/team/1/relationship", "plan.relationship-not-relative"),
        (lambda d: d["team"][6].update(phone="+45 12345678"), "/team/6/phone", "plan.member-contact-without-person"),
        (lambda d: d["goals"][0].update(target_date="2020-01-01"), "/goals/0/target_date",
         "plan.goal-target-before-start"),
    ],
)  # fmt: skip
def test_business_rule(change: Any, pointer: str, message_id: str) -> None:
    data = sample()
    change(data)
    assert issues_of(data).get(pointer) == message_id


def test_synthetic_cpr_without_modulus_11_is_accepted() -> None:
    data = sample()
    data["citizen"]["cpr"] = "0101010101"
    assert parse_plan_document(data).citizen.cpr == "0101010101"


@pytest.mark.parametrize(("gln", "ok"), [("5790000167814", True), ("5790000167815", False), ("579000016781", False)])
def test_gln_check_digit_is_gs1_mod_10(gln: str, ok: bool) -> None:
    assert gln_check_digit_ok(gln) is ok


def test_a_non_object_is_a_structure_issue() -> None:
    assert issues_of([1, 2]) == {"": "plan.not-an-object"}


def test_issue_codes_separate_structure_from_business_rules() -> None:
    data = sample()
    data["team"] = "everyone"
    data["coordination"]["coordinator"] = "ghost"
    with pytest.raises(IssueError) as caught:
        parse_plan_document(data)
    assert [(issue.code, issue.expression) for issue in caught.value.issues] == [("structure", "/team")]


def test_json_pointer_escapes_per_rfc_6901() -> None:
    assert json_pointer(("a/b", 0, "c~d")) == "/a~1b/0/c~0d"


def test_the_published_schema_file_is_current() -> None:
    published = json.loads((ROOT / "profiles" / "plan-document.schema.json").read_text("utf-8"))
    assert published == plan_document_json_schema()


def test_schema_names_the_closed_role_list() -> None:
    schema = plan_document_json_schema()
    roles = schema["$defs"]["TeamMember"]["properties"]["role"]["enum"]
    assert "housing-contact" in roles and "relative" in roles and "coordinator" not in roles
