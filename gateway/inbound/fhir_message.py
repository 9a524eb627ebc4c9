"""MedCom CareCommunication message Bundles (FHIR R4, JSON or XML) in, `CareCommunicationMessage` out.

JSON is read with orjson (≈ 45 µs for a 13 KB Bundle) and its nesting checked against `Limits.max_json_depth`;
XML goes through the same safe intake as OIOXML (`gateway.inbound.xml`: charset, DOCTYPE refusal, limits) and is
then turned into the JSON shape by `gateway.validation.resource_from_xml`, driven by the R4 core definitions (ids
and extensions of primitives kept, comments dropped). Profile validation is not done here (the validator does it);
this parser checks only what it needs to read: a message Bundle whose first entry is a MessageHeader with event
`care-communication-message`, its sender/receiver Organizations, the Patient and the Communication.
References are resolved by `fullUrl` or by `Type/id` (MedCom tests use odd ids and absolute fullUrls, NOTES.md §11).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from gateway.inbound.limits import Limits
from gateway.inbound.xml import parse_xml
from gateway.validation import resource_from_xml
from mappings.documents.discharge import (
    CPR_SYSTEM,
    REPLACEMENT_CPR_SYSTEMS,
    CareCommunicationMessage,
    Citizen,
    Party,
)
from mappings.issues import Issue, IssueError
from mappings.json_shape import entry_at, entry_index, repeated_entry
from mappings.notices.acknowledgement import ACK_EVENT, Ack, parse_acknowledgement

SOR_SYSTEM = "urn:oid:1.2.208.176.1.1"
GLN_SYSTEMS = ("https://www.gs1.org/gln", "http://www.gs1.org/gln")
EVENT_SYSTEM = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-eventCodes"
_DESTINATION_USE = "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-destinationUseExtension"


def _error(code: str, expression: str, diagnostics: str, message_id: str) -> IssueError:
    return IssueError((Issue("error", code, diagnostics, expression, message_id),))  # type: ignore[arg-type]


def _check_depth(value: Any, limit: int) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            raise _error("too-costly", "Bundle", f"JSON nested deeper than {limit}", "fhir.too-deep")
        if isinstance(current, dict):
            stack.extend((child, depth + 1) for child in current.values() if isinstance(child, dict | list))
        elif isinstance(current, list):
            stack.extend((child, depth + 1) for child in current if isinstance(child, dict | list))


def _load_json(data: bytes, limits: Limits) -> dict[str, Any]:
    try:
        loaded = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise _error(
            "structure",
            f"line {exc.lineno}, column {exc.colno}",
            f"invalid JSON: {exc.msg}",
            "fhir.json-syntax",
        ) from None
    if not isinstance(loaded, dict):
        raise _error("structure", "(root)", "a FHIR resource must be a JSON object", "fhir.not-a-resource")
    _check_depth(loaded, limits.max_json_depth)
    return loaded


def _load_xml(data: bytes, limits: Limits) -> dict[str, Any]:
    root = parse_xml(data, limits=limits)
    if root.tag != "{http://hl7.org/fhir}Bundle":
        raise _error("structure", "(root)", f"root element {root.tag} is not a FHIR Bundle", "fhir.not-a-bundle")
    # FHIR R4 XML to the JSON shape by the R4 core definitions (`gateway.validation.fhir_xml`): what they do not
    # allow (an unknown element, elements out of order) is refused with its path, never dropped
    return resource_from_xml(root)


class _Bundle:
    """Entry lookup by reference for one message Bundle. Two entries with one fullUrl, or one type and id, are
    refused: a reference to them would mean one entry here and another to a reader that takes the first."""

    def __init__(self, bundle: dict[str, Any]) -> None:
        self.bundle = bundle
        self.entries: list[dict[str, Any]] = [entry for entry in bundle.get("entry", []) if isinstance(entry, dict)]
        repeated = repeated_entry(list(self.entries))
        if repeated is not None:
            position, key, earlier = repeated
            raise _error(
                "structure",
                f"Bundle.entry[{position}]",
                f"{key[:120]} is also Bundle.entry[{earlier}]: each entry must be one resource",
                "fhir.duplicate-entry",
            )
        self.index = entry_index(list(self.entries))

    def resolve(self, reference: Any, expression: str) -> tuple[dict[str, Any], int]:
        ref = reference.get("reference") if isinstance(reference, dict) else None
        if not isinstance(ref, str):
            raise _error("required", expression, "reference is missing", "fhir.reference-missing")
        position = entry_at(self.index, ref)
        if position is None:
            raise _error("not-found", expression, f"{ref} is not an entry of this Bundle", "fhir.reference-unresolved")
        return self.entries[position]["resource"], position

    def first(self, resource_type: str) -> tuple[dict[str, Any], int]:
        for position, entry in enumerate(self.entries):
            if (entry.get("resource") or {}).get("resourceType") == resource_type:
                return entry["resource"], position
        raise _error("required", "Bundle.entry", f"the message has no {resource_type}", "fhir.entry-missing")


def _codes(organization: dict[str, Any], where: str) -> list[tuple[str, str]]:
    """The SOR codes and GLNs among an Organization's identifiers, each with its path."""
    return [
        (str(identifier.get("value")), f"{where}.identifier[{index}]")
        for index, identifier in enumerate(organization.get("identifier", []))
        if isinstance(identifier, dict)
        and (identifier.get("system") == SOR_SYSTEM or identifier.get("system") in GLN_SYSTEMS)
    ]


def _sender_codes(
    view: _Bundle,
    header: dict[str, Any],
    sender: dict[str, Any],
    position: int,
    communication: dict[str, Any],
    communication_at: str,
) -> tuple[tuple[str, str], ...]:
    """Every code by which the message names its sender (`CareCommunicationMessage.sender_codes`): the sender
    Organization's, `Communication.sender`'s when it is an Organization, and the Organizations (by reference or
    by logical identifier) of the agents of this MessageHeader's Provenance. `MessageHeader.source.endpoint` is not
    one: it names the sending system, and MedCom's own examples give another organisation's there."""
    codes = _codes(sender, f"Bundle.entry[{position}].resource")
    named: list[tuple[Any, str]] = [(communication.get("sender"), f"{communication_at}.sender")]
    for at, resource in _header_provenances(view, header):
        for index, agent in enumerate(a for a in resource.get("agent", []) if isinstance(a, dict)):
            named += [
                (agent.get(role), f"Bundle.entry[{at}].resource.agent[{index}].{role}")
                for role in ("who", "onBehalfOf")
            ]
    for reference, where in named:
        if not isinstance(reference, dict):
            continue
        if isinstance(reference.get("identifier"), dict):  # a logical reference names its organisation itself
            codes += _codes({"identifier": [reference["identifier"]]}, where)
        if "reference" not in reference:
            continue
        try:
            resource, at = view.resolve(reference, where)
        except IssueError:
            continue  # not a reference to an entry (the profile check judges it)
        if resource.get("resourceType") == "Organization":
            codes += _codes(resource, f"Bundle.entry[{at}].resource")
    return tuple(codes)


def _header_provenances(view: _Bundle, header: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """The Provenance entries (position, resource) of this MessageHeader: a target whose reference ends with its
    id, whatever form the reference takes (`Type/id`, the fullUrl)."""
    found = []
    for at, entry in enumerate(view.entries):
        resource = entry.get("resource") or {}
        targets = [t.get("reference", "") for t in resource.get("target", []) if isinstance(t, dict)]
        if resource.get("resourceType") == "Provenance" and any(
            isinstance(t, str) and t.endswith(str(header.get("id"))) for t in targets
        ):
            found.append((at, resource))
    return found


def _party(organization: dict[str, Any]) -> Party:
    identifiers = [i for i in organization.get("identifier", []) if isinstance(i, dict)]
    sor = next((str(i.get("value")) for i in identifiers if i.get("system") == SOR_SYSTEM), None)
    gln = next((str(i.get("value")) for i in identifiers if i.get("system") in GLN_SYSTEMS), None)
    return Party(gln=gln, sor=sor, name=organization.get("name"))


def _citizen(patient: dict[str, Any], expression: str) -> Citizen:
    identifiers = [i for i in patient.get("identifier", []) if isinstance(i, dict) and i.get("value")]
    chosen = next((i for i in identifiers if i.get("system") == CPR_SYSTEM), None) or next(
        (i for i in identifiers if str(i.get("system", "")).startswith(REPLACEMENT_CPR_SYSTEMS)), None
    )
    if chosen is None:
        raise _error(
            "required",
            f"{expression}.identifier",
            "the Patient has no CPR or replacement-CPR identifier",
            "fhir.cpr-missing",
        )
    names = [n for n in patient.get("name", []) if isinstance(n, dict)]
    name = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    address: dict[str, Any] = next(iter(patient.get("address", [])), {})
    return Citizen(
        cpr=str(chosen["value"]),
        cpr_system=str(chosen["system"]),
        family=name.get("family"),
        given=tuple(name.get("given", [])),
        street=next(iter(address.get("line", [])), None),
        city=address.get("city"),
        postal_code=address.get("postalCode"),
        deceased=bool(patient.get("deceasedBoolean", False)),
    )


def _timestamp(value: Any, expression: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise _error("value", expression, f"{value!r} is not a FHIR instant", "fhir.instant-invalid") from None
    if parsed.tzinfo is None:
        raise _error("value", expression, "MedCom requires a time zone on every dateTime", "fhir.instant-no-zone")
    return parsed


def _first_code(concepts: Any) -> str | None:
    """The first coding's code of the first CodeableConcept in a list, or `None`."""
    for concept in concepts if isinstance(concepts, list) else []:
        for coding in (concept or {}).get("coding", []) if isinstance(concept, dict) else []:
            if isinstance(coding, dict) and coding.get("code"):
                return str(coding["code"])
    return None


def _message(bundle: dict[str, Any]) -> CareCommunicationMessage:
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "message":
        raise _error("structure", "Bundle.type", "expected a Bundle of type 'message'", "fhir.not-a-message")
    view = _Bundle(bundle)
    header = view.entries[0].get("resource", {}) if view.entries else {}
    if header.get("resourceType") != "MessageHeader":
        raise _error(
            "structure",
            "Bundle.entry[0].resource",
            "the first entry must be the MessageHeader",
            "fhir.header-first",
        )
    event = header.get("eventCoding") or {}
    if event.get("system") != EVENT_SYSTEM or event.get("code") != "care-communication-message":
        raise _error(
            "not-supported",
            "Bundle.entry[0].resource.eventCoding",
            f"event {event.get('code')!r} is not converted; expected care-communication-message",
            "fhir.event-not-supported",
        )
    at = "Bundle.entry[0].resource"
    sender, sender_position = view.resolve(header.get("sender"), f"{at}.sender")
    destinations = [d for d in header.get("destination", []) if isinstance(d, dict)]
    primary = next(
        (
            d
            for d in destinations
            if any(
                e.get("url") == _DESTINATION_USE and (e.get("valueCoding") or {}).get("code") == "primary"
                for e in d.get("extension", [])
            )
        ),
        destinations[0] if destinations else None,
    )
    if primary is None:
        raise _error(
            "required",
            f"{at}.destination",
            "the MessageHeader has no destination",
            "fhir.destination-missing",
        )
    receiver, _ = view.resolve(primary.get("receiver"), f"{at}.destination.receiver")
    focus = next(iter(header.get("focus", [])), None)
    communication, position = view.resolve(focus, f"{at}.focus")
    comm_at = f"Bundle.entry[{position}].resource"
    patient, patient_position = view.resolve(communication.get("subject"), f"{comm_at}.subject")
    category = _first_code(communication.get("category"))
    if not category:
        raise _error("required", f"{comm_at}.category", "the Communication has no category", "fhir.category-missing")
    texts = [
        p["contentString"] for p in communication.get("payload", []) if isinstance(p, dict) and "contentString" in p
    ]
    episode = None
    if communication.get("encounter"):
        encounter, _ = view.resolve(communication["encounter"], f"{comm_at}.encounter")
        episode = next(
            (e.get("identifier", {}).get("value") for e in encounter.get("episodeOfCare", []) if isinstance(e, dict)),
            None,
        )
    activity = None
    for _at, provenance in _header_provenances(view, header):
        activity = _first_code([provenance.get("activity")])
    return CareCommunicationMessage(
        bundle_id=str(bundle.get("id") or ""),
        message_header_id=str(header.get("id") or ""),
        timestamp=_timestamp(bundle.get("timestamp"), "Bundle.timestamp"),
        sender=_party(sender),
        receiver=_party(receiver),
        patient=_citizen(patient, f"Bundle.entry[{patient_position}].resource"),
        category=str(category),
        topic=(communication.get("topic") or {}).get("text"),
        text="\n".join(str(t) for t in texts),
        episode_of_care_identifier=episode,
        activity=activity,
        bundle=bundle,
        sender_codes=_sender_codes(view, header, sender, sender_position, communication, comm_at),
    )


def parse_fhir_message(data: bytes, content_type: str, *, limits: Limits) -> CareCommunicationMessage:
    """Parse a MedCom CareCommunication message posted as `application/fhir+json` or `application/fhir+xml`.

    The media type decides the syntax (`json` or `xml` in it); anything else is `not-supported`. Missing ids are
    reported here because the gateway's idempotency depends on them (`Bundle.id`, `MessageHeader.id`).
    """
    return _care_communication(_bundle(data, content_type, limits))


def parse_fhir_input(data: bytes, content_type: str, *, limits: Limits) -> CareCommunicationMessage | Ack:
    """What intake takes as FHIR: a CareCommunication message (`parse_fhir_message`), or a MedCom Acknowledgement
    of a notice this gateway sent, which a receiver may send as a message of its own instead of in its answer
    (MedCom acknowledges asynchronously; `parse_acknowledgement` reads it by its code)."""
    bundle = _bundle(data, content_type, limits)
    entries = bundle.get("entry")
    first = entries[0] if isinstance(entries, list) and entries else None
    header = first.get("resource") if isinstance(first, dict) else None
    event = header.get("eventCoding") if isinstance(header, dict) else None
    if isinstance(event, dict) and event.get("code") == ACK_EVENT:
        return parse_acknowledgement(bundle, outcome_optional=True)
    return _care_communication(bundle)


def _bundle(data: bytes, content_type: str, limits: Limits) -> dict[str, Any]:
    limits.check_size(data)
    media = content_type.split(";")[0].strip().lower()
    if media.endswith("json"):
        return _load_json(data, limits)
    if media.endswith("xml"):
        return _load_xml(data, limits)
    raise _error("not-supported", "Content-Type", f"{content_type!r} is not a FHIR media type", "fhir.media-type")


def _care_communication(bundle: dict[str, Any]) -> CareCommunicationMessage:
    try:
        message = _message(bundle)
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise _error("structure", "Bundle", f"message structure not understood: {exc!r}", "fhir.structure") from None
    for value, expression in (
        (message.bundle_id, "Bundle.id"),
        (message.message_header_id, "Bundle.entry[0].resource.id"),
    ):
        if not value:
            raise _error("required", expression, f"{expression} is required", "fhir.id-missing")
    return message
