"""A refused message, corrected: the same content (or the operator's corrected Bundle) as a new message.

MedCom reliable messaging: a receiver answers every delivery of a `MessageHeader.id` it has seen with the same
acknowledgement, so a message refused with `fatal-error` is refused again however often it is resent. What was
wrong has to be corrected and sent as a *new* message: "Each time a new message is created, it SHALL be
assigned a MessageHeader.id, that is globally unique" (MedCom-FHIR-Communication, 052.2 "Message Identifiers and
Timestamps"). The new message points at the refused one the way MedCom messages point at a previous message:
its Provenance `entity` with `role = revision` and `what.reference = MessageHeader/<previous id>`
(MedComMessagingProvenance, `entity.what.reference`: "the MessageHeader.id from previous message, formatted as
MessageHeader/[id]"; NOTES §4: "updates use revision").

The refused message's own Provenance stays, as the history of the message chain (a MedCom message carries the
Provenance of its predecessors); the correction adds one Provenance for the new MessageHeader, a copy of the
refused message's with the new target and the revision entity. Its times are stamped at send (`envelope.py`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from mappings.issues import IssueError
from mappings.json_shape import entry_at, entry_index, items, repeated_entry
from mappings.notices.messaging import narrative

Resource = dict[str, Any]


def corrected_message(refused: Mapping[str, Any], header_id: str, provenance_id: str) -> Resource:
    """`refused` (a MedCom message Bundle) as a new message: `MessageHeader.id = header_id` and a Provenance
    `provenance_id` for it that names the refused MessageHeader as what it revises."""
    message: Resource = copy.deepcopy(dict(refused))
    found = message.get("entry")
    entries: list[Any] = found if isinstance(found, list) else []
    header = entries[0].get("resource") if entries and isinstance(entries[0], dict) else None
    if not isinstance(header, dict) or header.get("resourceType") != "MessageHeader" or not header.get("id"):
        raise IssueError.single(
            "required",
            "a message Bundle needs a MessageHeader with an id as its first entry",
            expression="Bundle.entry[0].resource",
            message_id="correction.no-message-header",
        )
    old_id = header["id"]
    header["id"] = header_id
    entries[0]["fullUrl"] = _replace_tail(entries[0].get("fullUrl"), old_id, header_id)
    current = [
        entry
        for entry in entries
        if isinstance(entry, dict)
        and isinstance(entry.get("resource"), dict)
        and entry["resource"].get("resourceType") == "Provenance"
        and any(
            isinstance(target, dict) and target.get("reference") == f"MessageHeader/{old_id}"
            for target in items(entry["resource"].get("target"))
        )
    ]
    if not current:
        raise IssueError.single(
            "required",
            f"no Provenance targets MessageHeader/{old_id}: the refused message cannot be corrected",
            expression="Bundle.entry.resource.ofType(Provenance).target",
            message_id="correction.no-provenance",
        )
    original = current[-1]
    provenance: Resource = copy.deepcopy(original["resource"])
    provenance["id"] = provenance_id
    provenance["target"] = [{"reference": f"MessageHeader/{header_id}"}]
    entities = [
        entity
        for entity in items(provenance.get("entity"))
        if not (isinstance(entity, dict) and entity.get("role") == "revision")
    ]
    provenance["entity"] = [{"role": "revision", "what": {"reference": f"MessageHeader/{old_id}"}}, *entities]
    codings = items(provenance["activity"].get("coding")) if isinstance(provenance.get("activity"), dict) else []
    activity = next((c.get("code") for c in codings if isinstance(c, dict) and isinstance(c.get("code"), str)), "")
    provenance["text"] = narrative(
        "Provenance",
        f"activity = {activity}",
        f"target = MessageHeader/{header_id}",
        f"revision of MessageHeader/{old_id} (refused by the receiver)",
    )
    entries.insert(
        entries.index(original) + 1,
        {
            "fullUrl": _replace_tail(original.get("fullUrl"), original["resource"].get("id"), provenance_id),
            "resource": provenance,
        },
    )
    return message


def _replace_tail(full_url: Any, old: Any, new: str) -> Any:
    """`https://…/MessageHeader/<old>` → `…/<new>` (fullUrls end with the resource id in MedCom messages)."""
    if isinstance(full_url, str) and isinstance(old, str) and full_url.endswith(old):
        return full_url[: len(full_url) - len(old)] + new
    return full_url


#: What a correction may not change, by where it is in a MedCom message: who it is from, to and about.
SENDER, RECEIVERS, PATIENTS = PARTIES = (
    "MessageHeader.sender",
    "MessageHeader.destination.receiver",
    "Patient.identifier",
)


def parties(message: Mapping[str, Any]) -> dict[str, frozenset[tuple[str, str]]]:
    """The identifiers (system, value) of a message's sender Organization, of its receivers and of its Patients,
    by `PARTIES`; references resolved by fullUrl or `Type/id` within the Bundle."""
    entries = items(message.get("entry"))
    resources = [entry.get("resource") for entry in entries if isinstance(entry, dict)]
    index = entry_index(entries)

    def identifiers(*references: Any) -> frozenset[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        for reference in references:
            ref = reference.get("reference") if isinstance(reference, dict) else None
            position = entry_at(index, ref) if isinstance(ref, str) else None
            found |= _identifiers(entries[position].get("resource") if position is not None else None)
        return frozenset(found)

    header = resources[0] if resources and isinstance(resources[0], dict) else {}
    receivers = [d.get("receiver") for d in items(header.get("destination")) if isinstance(d, dict)]
    patients: set[tuple[str, str]] = set()
    for resource in resources:
        if isinstance(resource, dict) and resource.get("resourceType") == "Patient":
            patients |= _identifiers(resource)
    return {
        SENDER: identifiers(header.get("sender")),
        RECEIVERS: identifiers(*receivers),
        PATIENTS: frozenset(patients),
    }


def _identifiers(resource: Mapping[str, Any] | None) -> set[tuple[str, str]]:
    if not isinstance(resource, Mapping):
        return set()
    return {
        (str(identifier.get("system")), str(identifier.get("value")))
        for identifier in items(resource.get("identifier"))
        if isinstance(identifier, dict)
    }


def identity(message: Mapping[str, Any]) -> dict[str, Any]:
    """Who a message names, by part: `parties` (sender, receivers, patients by their identifiers), every
    Organization in it (identifiers and name), `MessageHeader.source` and the destinations' endpoints, and the
    agents of every Provenance. A receiver reads any of them as who sent the message, for whom, to whom."""
    entries = [entry.get("resource") for entry in items(message.get("entry")) if isinstance(entry, dict)]
    resources = [resource for resource in entries if isinstance(resource, dict)]
    header = resources[0] if resources else {}
    organizations = sorted(
        _canonical({"identifier": sorted(_identifiers(resource)), "name": resource.get("name")})
        for resource in resources
        if resource.get("resourceType") == "Organization"
    )
    agents = sorted(
        _canonical(agent)
        for resource in resources
        if resource.get("resourceType") == "Provenance"
        for agent in items(resource.get("agent"))
    )
    destinations = [d.get("endpoint") for d in items(header.get("destination")) if isinstance(d, dict)]
    return parties(message) | {
        "Organization": organizations,
        "MessageHeader.source": _canonical(header.get("source")),
        "MessageHeader.destination.endpoint": _canonical(destinations),
        "Provenance.agent": agents,
    }


def _canonical(value: Any) -> str:
    # json, not orjson: an operator's Bundle comes through the standard parser, which takes integers of any size
    return json.dumps(value, sort_keys=True)


def require_same_parties(refused: Mapping[str, Any], corrected: Mapping[str, Any]) -> None:
    """A correction mends what the receiver refused; it is sent in the refused message's place, to its receiver
    and about its citizen, so it may not change who it names as its sender, receiver or patient, anywhere a
    receiver reads them (`identity`), nor hold two entries for one resource (422)."""
    repeated = repeated_entry(items(corrected.get("entry")))
    if repeated is not None:
        position, key, earlier = repeated
        raise IssueError.single(
            "business-rule",
            f"{key[:120]} is also Bundle.entry[{earlier}]: each entry must be one resource",
            expression=f"Bundle.entry[{position}]",
            message_id="correction.duplicate-entry",
            status=422,
        )
    before, after = identity(refused), identity(corrected)
    for part, named in before.items():
        if after[part] != named:
            raise IssueError.single(
                "business-rule",
                f"the corrected message changes {part}: a correction keeps who the refused message names as its "
                "sender, receiver and patient",
                expression=part,
                message_id="correction.parties-changed",
                status=422,
            )
