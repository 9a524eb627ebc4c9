"""MedCom Acknowledgement 2.0.3 (kvittering): pure builders and a parser.

Shape follows the IG's examples (`medcom-acknowledgement/examples/Bundle-a8c041b8-…` ok,
`Bundle-c9c2b2f6-…` transient-error, `Bundle-bc9535ef-…` fatal-error) and MedCom's conversion example
`Flow2-Acknowledgement_Ex_to_OIOXML.xml`:

* Bundle (`medcom-messaging-acknowledgement`), `type = message`, entries in the order MessageHeader,
  Provenance of the acknowledged message, the acknowledgement's own Provenance, sender Organization,
  receiver Organization, then an OperationOutcome when there are issues.
* MessageHeader (`medcom-messaging-acknowledgementHeader`): `eventCoding = acknowledgement-message`, one
  `primary` destination (no cc), `response.identifier` = the acknowledged `MessageHeader.id`,
  `response.code` from R4 `response-code` (`ok` | `transient-error` | `fatal-error`), `response.details` →
  the OperationOutcome.
* Own Provenance: activity `acknowledgement`, `entity.role = revision`, `entity.what` = the acknowledged
  header.
* Invariant medcom-acknowledgement-1: a code other than `ok` needs an OperationOutcome; an `ok` ack MAY carry
  one.

The sender of the acknowledgement is the receiver of the acknowledged message and vice versa (Flow2 is
consistent about this; the IG example names the acknowledged message's sender as `MessageHeader.sender` while
its own Provenance's agent is the other organisation, so our test notes that one field as a known deviation).

Ids are UUID v5 derived from the acknowledged message, so acknowledging the same message twice gives the same
content: MedCom requires a receiver to answer a duplicate with *the same* acknowledgement.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast, get_args
from xml.sax.saxutils import escape

from mappings.issues import Issue, IssueCode, IssueError, Severity
from mappings.json_shape import items
from mappings.uuids import uuid5_text

Resource = dict[str, Any]
AckCode = Literal["ok", "transient-error", "fatal-error"]
ACK_CODES: tuple[AckCode, ...] = get_args(AckCode)

ACK_BUNDLE_PROFILE = "http://medcomfhir.dk/ig/acknowledgement/StructureDefinition/medcom-messaging-acknowledgement"
ACK_HEADER_PROFILE = (
    "http://medcomfhir.dk/ig/acknowledgement/StructureDefinition/medcom-messaging-acknowledgementHeader"
)
ACK_OUTCOME_PROFILE = (
    "http://medcomfhir.dk/ig/acknowledgement/StructureDefinition/medcom-acknowledgement-operationoutcome"
)
PROVENANCE_PROFILE = "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-provenance"
EVENT_CODES = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-eventCodes"
ACTIVITY_CODES = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-activityCodes"
DESTINATION_USE_EXTENSION = (
    "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-destinationUseExtension"
)
DESTINATION_USE = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-destinationUse"
#: MedCom's error codes (VS medcom-acknowledgement-issue-details also admits HL7 operation-outcome MSG_*).
ERROR_CODES = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-acknowledgement-error-codes"
ACK_EVENT = "acknowledgement-message"

# Namespace for the UUID v5 ids of acknowledgements this code base builds (fixed, arbitrary).
_ACK_NAMESPACE = uuid.UUID("6f1c2b1e-3c1a-5b7e-9a55-0d3b8f1e2a47")
_XHTML = "http://www.w3.org/1999/xhtml"


@dataclass(frozen=True, slots=True)
class AckIssue:
    """One `OperationOutcome.issue` of a negative (or annotated positive) acknowledgement.

    `error_code` is a code of `medcom-acknowledgement-error-codes` (e.g. `MSG_Mailbox_Out_Of_Operation`), or
    of HL7 `operation-outcome` when `error_system` says so; `text` goes to `issue.details.text`.
    """

    severity: Severity
    code: IssueCode
    error_code: str | None = None
    text: str | None = None
    error_system: str = ERROR_CODES

    @classmethod
    def from_issue(cls, issue: Issue, *, error_code: str | None = None) -> AckIssue:
        return cls(issue.severity, issue.code, error_code, issue.diagnostics)

    def to_fhir(self) -> Resource:
        rendered: Resource = {"severity": self.severity, "code": self.code}
        details: Resource = {}
        if self.error_code:
            details["coding"] = [{"system": self.error_system, "code": self.error_code}]
        if self.text:
            details["text"] = self.text
        if details:
            rendered["details"] = details
        return rendered

    def describe(self) -> str:
        return ": ".join(part for part in (self.error_code, self.text) if part) or self.code


@dataclass(frozen=True, slots=True)
class Ack:
    """A parsed acknowledgement: what the sender needs to record against its notice."""

    bundle_id: str
    message_header_id: str
    acknowledged_id: str
    code: AckCode
    issues: tuple[AckIssue, ...] = ()

    @property
    def positive(self) -> bool:
        return self.code == "ok"

    def reason(self) -> str:
        """Human summary for operators: the code plus every issue."""
        if not self.issues:
            return self.code
        return f"{self.code}: " + "; ".join(issue.describe() for issue in self.issues)


def format_instant(moment: datetime) -> str:
    """A FHIR `instant`/`dateTime` with seconds and a zone (MedCom: all dateTimes carry a time zone)."""
    if moment.tzinfo is None:
        raise IssueError.single("value", "a MedCom timestamp needs a time zone", message_id="ack.naive-datetime")
    text = moment.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _narrative(text: str) -> Resource:
    return {"status": "generated", "div": f'<div xmlns="{_XHTML}"><p>{escape(text)}</p></div>'}


def _reference(resource: Mapping[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def _entry(base_url: str, resource: Resource) -> Resource:
    return {"fullUrl": f"{base_url.rstrip('/')}/{_reference(resource)}", "resource": resource}


def acknowledgement(
    *,
    bundle_id: str,
    header_id: str,
    provenance_id: str,
    outcome_id: str,
    acknowledged_header_id: str,
    acknowledged_provenance: Resource | None,
    code: AckCode,
    sender: Resource,
    receiver: Resource,
    sender_endpoint: str,
    receiver_endpoint: str,
    sent_at: datetime,
    base_url: str,
    issues: Sequence[AckIssue] = (),
) -> Resource:
    """An Acknowledgement message Bundle with every id given (the low-level builder).

    `sender` / `receiver` are the acknowledgement's own sender (the organisation that received the message)
    and receiver (the acknowledged message's sender), MedComMessagingOrganization resources with SOR + GLN.
    `sent_at` becomes `Bundle.timestamp`, `Provenance.occurredDateTime` and (in UTC) `Provenance.recorded`.
    """
    if code != "ok" and not issues:
        raise IssueError.single(
            "invariant",
            "a negative acknowledgement needs at least one issue (medcom-acknowledgement-1)",
            message_id="ack.negative-without-issue",
        )
    header: Resource = {
        "resourceType": "MessageHeader",
        "id": header_id,
        "meta": {"profile": [ACK_HEADER_PROFILE]},
        "text": _narrative(f"Acknowledgement ({code}) of message {acknowledged_header_id}"),
        "eventCoding": {"system": EVENT_CODES, "code": ACK_EVENT},
        "destination": [
            {
                "extension": [
                    {
                        "url": DESTINATION_USE_EXTENSION,
                        "valueCoding": {"system": DESTINATION_USE, "code": "primary"},
                    }
                ],
                "endpoint": receiver_endpoint,
                "receiver": {"reference": _reference(receiver)},
            }
        ],
        "sender": {"reference": _reference(sender)},
        "source": {"endpoint": sender_endpoint},
        "response": {"identifier": acknowledged_header_id, "code": code},
    }
    outcome: Resource | None = None
    if issues:
        outcome = {
            "resourceType": "OperationOutcome",
            "id": outcome_id,
            "meta": {"profile": [ACK_OUTCOME_PROFILE]},
            "issue": [issue.to_fhir() for issue in issues],
        }
        header["response"]["details"] = {"reference": _reference(outcome)}
    own_provenance: Resource = {
        "resourceType": "Provenance",
        "id": provenance_id,
        "meta": {"profile": [PROVENANCE_PROFILE]},
        "target": [{"reference": _reference(header)}],
        "occurredDateTime": format_instant(sent_at),
        "recorded": format_instant(sent_at.astimezone(UTC)),
        "activity": {"coding": [{"system": ACTIVITY_CODES, "code": "acknowledgement"}]},
        "agent": [{"who": {"reference": _reference(sender)}}],
        "entity": [{"role": "revision", "what": {"reference": f"MessageHeader/{acknowledged_header_id}"}}],
    }
    resources = [header]
    if acknowledged_provenance is not None:
        resources.append(acknowledged_provenance)
    resources += [own_provenance, sender, receiver]
    if outcome is not None:
        resources.append(outcome)
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": {"profile": [ACK_BUNDLE_PROFILE]},
        "type": "message",
        "timestamp": format_instant(sent_at),
        "entry": [_entry(base_url, resource) for resource in resources],
    }


@dataclass(frozen=True, slots=True)
class MessageParties:
    """What an acknowledgement needs from the message it answers."""

    bundle_id: str
    header_id: str
    sender: Resource
    receiver: Resource | None
    sender_endpoint: str
    receiver_endpoint: str
    provenance: Resource | None


def message_parties(message: Mapping[str, Any]) -> MessageParties:
    """Ids, organisations and endpoints of a MedCom message Bundle (any message type).

    Raises `IssueError` (structure) when the Bundle has no MessageHeader first or its sender cannot be
    resolved: such a message cannot be acknowledged at all.
    """
    entries = message.get("entry") if isinstance(message, Mapping) and message.get("resourceType") == "Bundle" else None
    if not isinstance(entries, list) or not entries:
        raise _structure("Bundle.entry", "a MedCom message is a Bundle with entries", "ack.not-a-message")
    header = entries[0].get("resource") if isinstance(entries[0], Mapping) else None
    if not isinstance(header, Mapping) or header.get("resourceType") != "MessageHeader" or not header.get("id"):
        raise _structure(
            "Bundle.entry[0].resource", "the first entry must be a MessageHeader with an id", "ack.no-header"
        )
    resources = [e["resource"] for e in entries if isinstance(e, Mapping) and isinstance(e.get("resource"), dict)]
    sender = _resolve(resources, _get(header, "sender", "reference"))
    if sender is None:
        raise _structure(
            "Bundle.entry[0].resource.sender", "the message's sender Organization is missing", "ack.no-sender"
        )
    primary = _primary_destination(header)
    header_ref = f"MessageHeader/{header['id']}"
    provenance = next(
        (
            r
            for r in resources
            if r.get("resourceType") == "Provenance"
            and any(t.get("reference") == header_ref for t in items(r.get("target")) if isinstance(t, Mapping))
        ),
        None,
    )
    return MessageParties(
        bundle_id=str(message.get("id", "")),
        header_id=str(header["id"]),
        sender=sender,
        receiver=_resolve(resources, _get(primary, "receiver", "reference")),
        sender_endpoint=str(_get(header, "source", "endpoint") or ""),
        receiver_endpoint=str(primary.get("endpoint", "")),
        provenance=provenance,
    )


def acknowledgement_from_message(
    message: Mapping[str, Any],
    *,
    code: AckCode,
    sent_at: datetime,
    base_url: str,
    issues: Sequence[AckIssue] = (),
    own_organization: Resource | None = None,
    own_endpoint: str | None = None,
) -> Resource:
    """The Acknowledgement answering `message`; ids derived (UUID v5) from the acknowledged ids and `code`.

    `own_organization` / `own_endpoint` name the acknowledging organisation; by default the message's primary
    destination receiver and endpoint (what the message says we are).
    """
    parties = message_parties(message)
    ours = own_organization or parties.receiver
    if ours is None:
        raise _structure(
            "Bundle.entry[0].resource.destination.receiver",
            "the message's receiver Organization is missing",
            "ack.no-receiver",
        )
    header_id = _derived_id("header", parties.header_id, code)
    return acknowledgement(
        bundle_id=_derived_id("bundle", parties.bundle_id, parties.header_id, code),
        header_id=header_id,
        provenance_id=_derived_id("provenance", header_id),
        outcome_id=_derived_id("outcome", header_id),
        acknowledged_header_id=parties.header_id,
        acknowledged_provenance=parties.provenance,
        code=code,
        sender=ours,
        receiver=parties.sender,
        sender_endpoint=own_endpoint or parties.receiver_endpoint,
        receiver_endpoint=parties.sender_endpoint,
        sent_at=sent_at,
        base_url=base_url,
        issues=issues,
    )


def parse_acknowledgement(bundle: Mapping[str, Any], *, outcome_optional: bool = False) -> Ack:
    """The `Ack` in an Acknowledgement Bundle; `IssueError` (structure) when it is not one.

    `outcome_optional`: a negative acknowledgement without its OperationOutcome (a receiver breaking
    medcom-acknowledgement-1) is still read by its code, with an issue saying what was missing: the sender must
    not take a receiver's refusal for a delivery because the refusal was badly written."""
    if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle" or bundle.get("type") != "message":
        raise _structure("Bundle.type", "an acknowledgement is a Bundle of type message", "ack.not-a-message")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries or not isinstance(entries[0], Mapping):
        raise _structure("Bundle.entry", "the acknowledgement has no entries", "ack.not-a-message")
    header = entries[0].get("resource")
    if not isinstance(header, Mapping) or header.get("resourceType") != "MessageHeader":
        raise _structure("Bundle.entry[0].resource", "the first entry must be a MessageHeader", "ack.no-header")
    if _get(header, "eventCoding", "code") != ACK_EVENT:
        raise _structure(
            "MessageHeader.eventCoding", "the message is not an acknowledgement-message", "ack.wrong-event"
        )
    response = header.get("response")
    code = _get(response, "code")
    acknowledged = _get(response, "identifier")
    if code not in ACK_CODES or not isinstance(acknowledged, str) or not acknowledged:
        raise _structure(
            "MessageHeader.response",
            "response.identifier and a response.code of ok|transient-error|fatal-error are required",
            "ack.no-response",
        )
    resources = [e.get("resource") for e in entries if isinstance(e, Mapping)]
    outcome = _resolve([r for r in resources if isinstance(r, dict)], _get(response, "details", "reference")) or next(
        (r for r in resources if isinstance(r, dict) and r.get("resourceType") == "OperationOutcome"), None
    )
    issues = tuple(_ack_issue(i) for i in items((outcome or {}).get("issue")) if isinstance(i, Mapping))
    if code != "ok" and not issues and outcome_optional:
        issues = (
            AckIssue(
                severity="error",
                code="processing",
                error_code=None,
                text=f"the receiver answered {code} without the OperationOutcome that says why "
                "(medcom-acknowledgement-1)",
                error_system=ERROR_CODES,
            ),
        )
    if code != "ok" and not issues:
        raise _structure(
            "MessageHeader.response.details",
            "a negative acknowledgement must carry an OperationOutcome (medcom-acknowledgement-1)",
            "ack.negative-without-outcome",
        )
    return Ack(
        bundle_id=str(bundle.get("id", "")),
        message_header_id=str(header.get("id", "")),
        acknowledged_id=acknowledged,
        code=cast(AckCode, code),
        issues=issues,
    )


def _ack_issue(issue: Mapping[str, Any]) -> AckIssue:
    coding = next(iter(items(_get(issue, "details", "coding"))), None)
    return AckIssue(
        severity=cast(Severity, issue.get("severity", "error")),
        code=cast(IssueCode, issue.get("code", "processing")),
        error_code=_get(coding, "code"),
        text=_get(issue, "details", "text") or issue.get("diagnostics"),
        error_system=_get(coding, "system") or ERROR_CODES,
    )


def _primary_destination(header: Mapping[str, Any]) -> Mapping[str, Any]:
    destinations = [d for d in items(header.get("destination")) if isinstance(d, Mapping)]
    for destination in destinations:
        uses = [_get(ext, "valueCoding", "code") for ext in items(destination.get("extension"))]
        if "primary" in uses:
            return destination
    return destinations[0] if destinations else {}


def _resolve(resources: Sequence[Resource], reference: Any) -> Resource | None:
    """Resolve a relative reference (`Type/id`) or a full URL against the bundled resources."""
    if not isinstance(reference, str) or "/" not in reference:
        return None
    kind, _, rid = reference.rstrip("/").rpartition("/")
    kind = kind.rpartition("/")[2]
    return next((r for r in resources if r.get("resourceType") == kind and r.get("id") == rid), None)


def _get(node: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _derived_id(*parts: str) -> str:
    return uuid5_text(_ACK_NAMESPACE, "|".join(parts))


def _structure(expression: str, diagnostics: str, message_id: str) -> IssueError:
    return IssueError.single("structure", diagnostics, expression=expression, message_id=message_id)
