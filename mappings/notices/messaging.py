"""Building blocks shared by the MedCom message builders (MedCom Messaging, NOTES.md §2).

Every MedCom message is a `Bundle` of type `message` whose first entry is the MessageHeader, with at least one
Provenance and sender/receiver Organizations carrying both SOR and GLN identifiers. Ids: `Bundle.id` is new per
send (`ctx.new_uuid()`); every other id is a UUID v5 derived from the input's identity (`derived_uuid`), so
re-converting the same input gives the same MessageHeader.id and the same resource ids (MedCom: MessageHeader.id
unchanged on a resend, receivers deduplicate on it).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from html import escape
from typing import Any

from mappings.context import PUBLIC_NOTICE_NAMESPACE, MappingContext
from mappings.documents.discharge import CPR_SYSTEM, Citizen, Party
from mappings.explain import CONSTANT, GENERATED_ID, NARRATIVE, Description, Origin, reference_to
from mappings.issues import IssueError
from mappings.uuids import uuid5_text

Resource = dict[str, Any]

#: Namespace of all derived ids (UUID v5, RFC 4122 §4.3) made by this gateway.
GATEWAY_NAMESPACE = PUBLIC_NOTICE_NAMESPACE

SOR_SYSTEM = "urn:oid:1.2.208.176.1.1"
#: GLN as MedCom's IGs (and DK-core <= 3.4) write it; DK-core 3.5 switched to http:// (hl7dk/dk-core#166).
GLN_SYSTEM = "https://www.gs1.org/gln"
SOR_ENDPOINT = "https://sor2.sum.dsdn.dk/#id="
ACTIVITY_SYSTEM = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-activityCodes"
EVENT_SYSTEM = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-eventCodes"
DESTINATION_USE_URL = "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-destinationUseExtension"
DESTINATION_USE_SYSTEM = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-destinationUse"
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CORE = "http://medcomfhir.dk/ig/core/StructureDefinition/"
MESSAGING = "http://medcomfhir.dk/ig/messaging/StructureDefinition/"
PATIENT_PROFILE = CORE + "medcom-core-patient"
ORGANIZATION_PROFILE = MESSAGING + "medcom-messaging-organization"


#: Every resource's own id, profile and narrative.
RESOURCE_BASICS: Description = {
    "resourceType": CONSTANT,
    "id": GENERATED_ID,
    "meta.profile[*]": CONSTANT,
    "text.status": CONSTANT,
    "text.div": NARRATIVE,
}


def derived_uuid(source_key: str, *parts: str, namespace: uuid.UUID = GATEWAY_NAMESPACE) -> str:
    """A UUID v5 of the input's identity plus a role (`"Patient"`, `"Organization|sender"`, ...)."""
    return uuid5_text(namespace, "|".join((source_key, *parts)))


def fhir_datetime(value: datetime) -> str:
    """A FHIR dateTime with seconds and the time zone MedCom requires (`2022-12-07T12:00:00+02:00`)."""
    if value.tzinfo is None:
        raise IssueError.single("value", f"{value.isoformat()} has no time zone", message_id="notice.datetime-no-zone")
    return value.replace(microsecond=0).isoformat()


def narrative(title: str, *lines: str) -> dict[str, str]:
    """A generated narrative (`text`): MedCom requires one on the MessageHeader and Core 4 on most resources."""
    body = "".join(f"<p>{escape(line)}</p>" for line in lines if line)
    return {
        "status": "generated",
        "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p><b>{escape(title)}</b></p>{body}</div>',
    }


def reference(resource: Resource) -> dict[str, str]:
    return {"reference": f"{resource['resourceType']}/{resource['id']}"}


def entry(base: str, resource: Resource) -> dict[str, Any]:
    """A Bundle entry with a RESTful fullUrl under `base`, as MedCom's examples write them."""
    return {"fullUrl": f"{base}{resource['resourceType']}/{resource['id']}", "resource": resource}


def require_sor_and_gln(party: Party, role: str, ctx: MappingContext) -> tuple[str | None, str | None]:
    """SOR and GLN of a sender/receiver; MedCom messaging Organizations need both (identifier 2..).

    Both are required unless `ctx.require_identifiers` is off (an offline preview without the directory).
    """
    missing = [label for label, value in (("SOR", party.sor), ("GLN", party.gln)) if not value]
    if missing and ctx.require_identifiers:
        raise IssueError.single(
            "business-rule",
            f"the {role} organisation ({party.name or party.gln or party.sor or 'unnamed'}) has no "
            f"{' or '.join(missing)} identifier; MedCom messages need both (look it up in the SOR directory)",
            expression=f"{role}.identifier",
            message_id="notice.party-identifiers-missing",
        )
    return party.sor, party.gln


def organization(party: Party, resource_id: str, role: str, ctx: MappingContext) -> Resource:
    """A `medcom-messaging-organization` with GLN then SOR identifiers (the order MedCom's examples use)."""
    sor, gln = require_sor_and_gln(party, role, ctx)
    identifiers = [{"system": GLN_SYSTEM, "value": gln}] if gln else []
    if sor:
        identifiers.append({"system": SOR_SYSTEM, "value": sor})
    label = party.name or sor or gln or role
    resource: Resource = {
        "resourceType": "Organization",
        "id": resource_id,
        "meta": {"profile": [ORGANIZATION_PROFILE]},
        "text": narrative(f"Organization {label}", *(f"{k} {v}" for k, v in (("SOR", sor), ("GLN", gln)) if v)),
    }
    if identifiers:
        resource["identifier"] = identifiers
    if party.name:
        resource["name"] = party.name

    def describe() -> Description:
        found: dict[str, Origin] = {**RESOURCE_BASICS, "name": party.origin("name")}
        for index, item in enumerate(identifiers):
            found[f"identifier[{index}].system"] = CONSTANT
            found[f"identifier[{index}].value"] = party.origin("gln" if item["system"] == GLN_SYSTEM else "sor")
        return found

    ctx.describe(resource, describe)
    return resource


def patient(citizen: Citizen, resource_id: str, ctx: MappingContext, *, deceased: Origin | None = None) -> Resource:
    """A `medcom-core-patient`: CPR identifier, official name, address when known; `deceasedBoolean` when
    `deceased` names where the death indicator came from (HospitalNotification), from `citizen.deceased`."""
    name: dict[str, Any] = {"use": "official"}
    if citizen.family:
        name["family"] = citizen.family
    if citizen.given:
        name["given"] = list(citizen.given)
    identifier: dict[str, str] = {"system": citizen.cpr_system, "value": citizen.cpr}
    if citizen.cpr_system != CPR_SYSTEM:
        identifier = {"use": "temp", **identifier}
    resource: Resource = {
        "resourceType": "Patient",
        "id": resource_id,
        "meta": {"profile": [PATIENT_PROFILE]},
        "text": narrative(
            "Patient", " ".join((*citizen.given, citizen.family or "")).strip(), f"{citizen.cpr_system}#{citizen.cpr}"
        ),
        "identifier": [identifier],
        "name": [name],
    }
    address: dict[str, Any] = {}
    if citizen.street:
        address["line"] = [citizen.street]
    if citizen.city:
        address["city"] = citizen.city
    if citizen.postal_code:
        address["postalCode"] = citizen.postal_code
    if address:
        resource["address"] = [address]
    if deceased is not None:
        resource["deceasedBoolean"] = citizen.deceased

    def describe() -> Description:
        system = CONSTANT if citizen.cpr_system == CPR_SYSTEM else citizen.origin("cpr_system")
        return {
            **RESOURCE_BASICS,
            "identifier[0].use": CONSTANT,
            "identifier[0].system": system,
            "identifier[0].value": citizen.origin("cpr"),
            "name[0].use": CONSTANT,
            "name[0].family": citizen.origin("family"),
            "name[0].given[*]": citizen.origin("given"),
            "address[0].line[0]": citizen.origin("street"),
            "address[0].city": citizen.origin("city"),
            "address[0].postalCode": citizen.origin("postal_code"),
            "deceasedBoolean": deceased or CONSTANT,
        }

    ctx.describe(resource, describe)
    return resource


def destination(receiver: Resource, sor: str | None) -> dict[str, Any]:
    """The single `primary` destination (HospitalNotification inv -5; CareCommunication allows no cc); the endpoint
    is MedCom's SOR form (`https://sor2.sum.dsdn.dk/#id=<SOR>`), absent when the SOR code is not known."""
    found: dict[str, Any] = {
        "extension": [
            {
                "url": DESTINATION_USE_URL,
                "valueCoding": {"system": DESTINATION_USE_SYSTEM, "code": "primary"},
            }
        ],
    }
    if sor:
        found["endpoint"] = f"{SOR_ENDPOINT}{sor}"
    found["receiver"] = reference(receiver)
    return found


def destination_description(endpoint_origin: Origin) -> Description:
    return {
        "destination[0].extension[0].url": CONSTANT,
        "destination[0].extension[0].valueCoding.system": CONSTANT,
        "destination[0].extension[0].valueCoding.code": CONSTANT,
        "destination[0].endpoint": endpoint_origin,
        "destination[0].receiver.reference": reference_to("the receiver Organization"),
    }


def source_endpoint(sor: str | None) -> dict[str, str]:
    """`MessageHeader.source`: the sender's SOR endpoint (absent in an offline preview that lacks it)."""
    return {"endpoint": f"{SOR_ENDPOINT}{sor}"} if sor else {}


#: The Bundle's own elements: `Bundle.id` is new per send; `timestamp` is described by the caller.
BUNDLE_BASICS: Description = {
    "resourceType": CONSTANT,
    "id": Origin("generated id", "new for every send (MedCom: Bundle.id is new on every send, a resend included)"),
    "meta.profile[*]": CONSTANT,
    "type": CONSTANT,
    "entry[*].fullUrl": Origin("generated id", "MedCom's base URL + the resource type + the resource's id"),
}


def message_bundle(
    profile: str, timestamp: datetime, entries: list[dict[str, Any]], ctx: MappingContext, timestamp_origin: Origin
) -> Resource:
    """The message Bundle: a fresh `Bundle.id` per send (MedCom: new on every send, a resend included)."""
    bundle: Resource = {
        "resourceType": "Bundle",
        "id": ctx.new_uuid(),
        "meta": {"profile": [profile]},
        "type": "message",
        "timestamp": fhir_datetime(timestamp),
        "entry": entries,
    }
    if ctx.explain is not None:
        ctx.explain.describe(bundle, {**BUNDLE_BASICS, "timestamp": timestamp_origin})
        ctx.explain.finish(bundle)
    return bundle
