"""AuditEvents in the IHE BALP shape, each one a valid FHIR R4 AuditEvent."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fhir.resources.R4B.auditevent import AuditEvent

from mappings.audit import AuditAgent, audit_event
from mappings.issues import IssueError
from mappings.plan.codes import GLN_SYSTEM, SOR_SYSTEM

RECORDED = datetime(2026, 3, 1, 9, 0, 0, 123000, tzinfo=UTC)
OBSERVER = "https://careplan-gateway.example/fhir"
AGENT = AuditAgent(
    "herlev-kommune",
    ((SOR_SYSTEM, "953741000016009"), (GLN_SYSTEM, "5790001348120")),
    "Herlev Kommune",
    "192.0.2.10",
)
PATIENT = "Patient/7c1d3a52-0000-5000-8000-000000000001"
PLAN = "CarePlan/7c1d3a52-0000-5000-8000-000000000002"

CASES: list[tuple[str, dict[str, Any]]] = [
    ("read", {"action": "R", "subtype": "read", "outcome": "0", "what": [PLAN], "patient": PATIENT}),
    (
        "search",
        {
            "action": "E",
            "subtype": "search-type",
            "outcome": "0",
            "patient": PATIENT,
            "query": "CarePlan?subject:Patient.identifier=urn:oid:1.2.208.176.1.2|2509479989&_include=*",
        },
    ),
    ("create", {"action": "C", "subtype": "create", "outcome": "0", "what": [PLAN], "patient": PATIENT}),
    (
        "denied",
        {
            "action": "R",
            "subtype": "read",
            "outcome": "4",
            "what": [PLAN],
            "patient": PATIENT,
            "reason": "consent.not-permitted: The recipient is not among those the citizen consented to",
        },
    ),
    ("disclose", {"action": "R", "subtype": "disclose", "outcome": "0", "what": [PLAN], "patient": PATIENT}),
    (
        "deliver",
        {
            "action": "R",
            "subtype": "deliver",
            "outcome": "8",
            "what": ["Bundle/b1"],
            "patient": PATIENT,
            "reason": "Receiver answered 503",
        },
    ),
    ("no patient", {"action": "E", "subtype": "search-type", "outcome": "0", "query": "AuditEvent?date=ge2026"}),
]


def event(**arguments: Any) -> dict[str, Any]:
    return audit_event(recorded=RECORDED, agent=AGENT, observer=OBSERVER, **arguments)


@pytest.mark.parametrize(("case", "arguments"), CASES, ids=[case for case, _ in CASES])
def test_every_event_is_a_valid_r4_audit_event(case: str, arguments: dict[str, Any]) -> None:
    resource = event(event_id="00000000-0000-4000-8000-000000000001", **arguments)
    parsed = AuditEvent.model_validate(resource)
    assert parsed.recorded is not None and parsed.action == arguments["action"]
    assert resource["outcome"] == arguments["outcome"]


def test_read_has_the_balp_rest_shape() -> None:
    resource = event(action="R", subtype="read", outcome="0", what=[PLAN], patient=PATIENT)
    assert resource["type"] == {
        "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
        "code": "rest",
        "display": "Restful Operation",
    }
    assert resource["subtype"] == [
        {"system": "http://hl7.org/fhir/restful-interaction", "code": "read", "display": "read"}
    ]
    assert resource["recorded"] == "2026-03-01T09:00:00.123+00:00"
    client, organisation, server = resource["agent"]
    assert client["who"] == {"identifier": {"system": "urn:careplan-gateway:client-id", "value": "herlev-kommune"}}
    assert client["requestor"] is True
    assert client["type"]["coding"][0]["code"] == "110153"
    assert client["network"] == {"address": "192.0.2.10", "type": "2"}
    assert organisation["who"]["identifier"] == {"system": SOR_SYSTEM, "value": "953741000016009"}
    assert organisation["type"]["coding"][0]["code"] == "IRCP"
    assert server["type"]["coding"][0]["code"] == "110152" and server["requestor"] is False
    assert resource["source"]["observer"] == {"display": OBSERVER}
    assert resource["source"]["type"][0]["code"] == "4"
    patient, plan = resource["entity"]
    assert patient == {
        "what": {"reference": PATIENT},
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"},
        "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"},
    }
    assert (plan["what"], plan["role"]["code"]) == ({"reference": PLAN}, "4")
    assert "outcomeDesc" not in resource


def test_search_keeps_the_raw_query_base64_encoded() -> None:
    query = "CarePlan?subject=Patient/1&_include=CarePlan:care-team&x=<script>"
    resource = event(action="E", subtype="search-type", outcome="0", query=query)
    (entity,) = resource["entity"]
    assert entity["role"]["code"] == "24" and entity["type"]["code"] == "2"
    assert base64.b64decode(entity["query"]).decode() == query
    assert "what" not in entity


def test_writes_name_the_organisation_as_author() -> None:
    resource = event(action="U", subtype="update", outcome="0", what=[PLAN], patient=PATIENT)
    assert resource["agent"][1]["type"]["coding"][0]["code"] == "AUT"


@pytest.mark.parametrize(("subtype", "code"), [("disclose", "disclose"), ("deliver", "transmit")])
def test_disclosure_and_delivery_are_exports_with_a_lifecycle_subtype(subtype: str, code: str) -> None:
    resource = event(action="R", subtype=subtype, outcome="0", what=[PLAN], patient=PATIENT)
    assert resource["type"]["code"] == "110106"
    assert resource["subtype"][0]["system"] == "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
    assert resource["subtype"][0]["code"] == code


def test_denial_records_the_reason() -> None:
    resource = event(action="R", subtype="read", outcome="4", what=[PLAN], reason="consent.withdrawn")
    assert resource["outcomeDesc"] == "consent.withdrawn"


def test_an_agent_without_organisation_has_client_and_server_only() -> None:
    resource = audit_event(
        action="R", subtype="read", outcome="0", recorded=RECORDED, agent=AuditAgent("cli"), observer=OBSERVER
    )
    assert [agent["type"]["coding"][0]["code"] for agent in resource["agent"]] == ["110153", "110152"]
    assert "entity" not in resource
    AuditEvent.model_validate(resource)


def test_recorded_keeps_its_offset_and_must_have_one() -> None:
    copenhagen = RECORDED.astimezone(timezone(timedelta(hours=1)))
    resource = audit_event(action="R", subtype="read", outcome="0", recorded=copenhagen, agent=AGENT, observer=OBSERVER)
    assert resource["recorded"] == "2026-03-01T10:00:00.123+01:00"
    with pytest.raises(IssueError):
        audit_event(
            action="R", subtype="read", outcome="0", recorded=datetime(2026, 3, 1), agent=AGENT, observer=OBSERVER
        )


def test_same_input_gives_the_same_event() -> None:
    arguments: dict[str, Any] = {"action": "R", "subtype": "read", "outcome": "0", "what": [PLAN], "patient": PATIENT}
    assert event(**arguments) == event(**arguments)
