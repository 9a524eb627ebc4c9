"""FHIR R4 `AuditEvent`s in the shape of IHE Basic Audit Log Patterns (BALP 1.1, https://profiles.ihe.net/ITI/BALP/).

One pure function, `audit_event`, for every access the gateway records: RESTful reads, searches and writes, denied
attempts, disclosures and deliveries. The shape follows BALP's profiles (IHE/ITI.BasicAudit `input/fsh/`):

- `type` `audit-event-type#rest` with `subtype` from `restful-interaction` (BALP Read/Query/Create/Update/Delete);
  for a disclosure or delivery of a notice `type` is DICOM `110106` "Export" with `subtype`
  `iso-21089-lifecycle#disclose` / `#transmit` (BALP PrivacyDisclosure.Source);
- agents: the client (DICOM `110153` "Source Role ID", `who.identifier` = OAuth2 client id, `requestor` true), the
  organisation it acts for (`who.identifier` = its SOR code; v3-ParticipationType `IRCP` information recipient when
  data flows to it, `AUT` author when it writes), and the gateway (DICOM `110152` "Destination Role ID");
- `source.observer` = the gateway, `source.type` `security-source-type#4` "Application Server";
- entities: the patient (`audit-entity-type#1` Person, `object-role#1` Patient), each resource acted on
  (`#2` System Object, `object-role#4` Domain Resource) and, for searches, the raw query base64-encoded in
  `entity.query` (`object-role#24` Query), exactly as BALP Query asks so that malicious requests stay visible.

Failures (BALP: "should have an OperationOutcome") use outcome `4`/`8`/`12` with the reason in `outcomeDesc`.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from mappings.issues import IssueError

Resource = dict[str, Any]
Action = Literal["C", "R", "U", "D", "E"]
Outcome = Literal["0", "4", "8", "12"]
RestSubtype = Literal[
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history",
    "history-instance",
    "history-type",
    "history-system",
    "create",
    "search",
    "search-type",
    "search-system",
    "capabilities",
    "transaction",
    "batch",
    "operation",
]
Subtype = RestSubtype | Literal["disclose", "deliver", "login"]

AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
ISO_21089_LIFECYCLE = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
NETWORK_TYPE = "http://hl7.org/fhir/network-type"
#: Identifier system of our OAuth2 client ids (the client registry's `client_id`).
CLIENT_ID_SYSTEM = "urn:careplan-gateway:client-id"

_LIFECYCLE = {
    "disclose": ("disclose", "Disclose Record Lifecycle Event"),
    "deliver": ("transmit", "Transmit Record Lifecycle Event"),
}
_WRITES = frozenset({"C", "U", "D"})


@dataclass(frozen=True, slots=True)
class AuditAgent:
    """The requesting client: its OAuth2 client id and its organisation's identifiers `(system, value)`, SOR first."""

    client_id: str
    organisation: Sequence[tuple[str, str]] = ()
    organisation_name: str | None = None
    network_address: str | None = None


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _agents(agent: AuditAgent, observer: str, action: Action) -> list[Resource]:
    client: Resource = {
        "type": {"coding": [_coding(DICOM, "110153", "Source Role ID")]},
        "who": {"identifier": {"system": CLIENT_ID_SYSTEM, "value": agent.client_id}},
        "requestor": True,
    }
    if agent.network_address:
        client["network"] = {"address": agent.network_address, "type": "2"}  # network-type 2: IP address
    agents = [client]
    if agent.organisation:
        role = ("AUT", "author (originator)") if action in _WRITES else ("IRCP", "information recipient")
        system, value = agent.organisation[0]
        organisation: Resource = {
            "type": {"coding": [_coding(PARTICIPATION_TYPE, *role)]},
            "who": {"identifier": {"system": system, "value": value}},
            "requestor": False,
        }
        if agent.organisation_name:
            organisation["who"]["display"] = agent.organisation_name
            organisation["name"] = agent.organisation_name
        agents.append(organisation)
    agents.append(
        {
            "type": {"coding": [_coding(DICOM, "110152", "Destination Role ID")]},
            "who": {"display": observer},
            "requestor": False,
            "network": {"address": observer, "type": "5"},  # network-type 5: URI
        }
    )
    return agents


def _entities(what: Sequence[str], patient: str | None, query: str | None) -> list[Resource]:
    entities: list[Resource] = []
    if patient is not None:
        entities.append(
            {
                "what": {"reference": patient},
                "type": _coding(ENTITY_TYPE, "1", "Person"),
                "role": _coding(OBJECT_ROLE, "1", "Patient"),
            }
        )
    for reference in what:
        entities.append(
            {
                "what": {"reference": reference},
                "type": _coding(ENTITY_TYPE, "2", "System Object"),
                "role": _coding(OBJECT_ROLE, "4", "Domain Resource"),
            }
        )
    if query is not None:
        entities.append(
            {
                "type": _coding(ENTITY_TYPE, "2", "System Object"),
                "role": _coding(OBJECT_ROLE, "24", "Query"),
                "query": base64.b64encode(query.encode("utf-8")).decode("ascii"),
            }
        )
    return entities


def audit_event(
    *,
    action: Action,
    subtype: Subtype,
    outcome: Outcome,
    recorded: datetime,
    agent: AuditAgent,
    observer: str,
    what: Sequence[str] = (),
    patient: str | None = None,
    query: str | None = None,
    reason: str | None = None,
    event_id: str | None = None,
) -> Resource:
    """One AuditEvent (as a dict). `what` and `patient` are references (`CarePlan/<id>`, `Patient/<id>`);
    `query` is the raw search (`CarePlan?subject=...`); `reason` explains a failure or a consent decision.

    `observer` names the gateway (its base URL). `recorded` must be timezone-aware (FHIR instant).
    """
    if recorded.tzinfo is None:
        raise IssueError.single("invalid", "AuditEvent.recorded needs a time zone", message_id="audit.naive-time")
    if subtype in _LIFECYCLE:
        code, display = _LIFECYCLE[subtype]
        event_type = _coding(DICOM, "110106", "Export")
        subtypes = [_coding(ISO_21089_LIFECYCLE, code, display)]
    elif subtype == "login":  # BALP Login (ITI.BasicAudit, AuditEvent type DCM#110114, subtype DCM#110122)
        event_type = _coding(DICOM, "110114", "User Authentication")
        subtypes = [_coding(DICOM, "110122", "Login")]
    else:
        event_type = _coding(AUDIT_EVENT_TYPE, "rest", "Restful Operation")
        subtypes = [_coding(RESTFUL_INTERACTION, subtype, subtype)]
    event: Resource = {"resourceType": "AuditEvent"}
    if event_id is not None:
        event["id"] = event_id
    event |= {
        "type": event_type,
        "subtype": subtypes,
        "action": action,
        "recorded": recorded.isoformat(timespec="milliseconds"),
        "outcome": outcome,
    }
    if reason:
        event["outcomeDesc"] = reason
    event["agent"] = _agents(agent, observer, action)
    event["source"] = {
        "observer": {"display": observer},
        "type": [_coding(SOURCE_TYPE, "4", "Application Server")],
    }
    entities = _entities(what, patient, query)
    if entities:
        event["entity"] = entities
    return event
