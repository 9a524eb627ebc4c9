"""MedCom CareCommunication 5.0.2 (korrespondancemeddelelse): the message builder every CareCommunication uses.

`care_communication(message, ctx)` turns a `CareMessage` (sender, receiver, citizen, category, topic, author and
payloads, each fact with its `Origin`) into the message Bundle: MessageHeader (event `care-communication-message`,
one `primary` destination, definition `MedComCareCommunicationMessageDefinition|5.0`), Patient, Communication
(status `unknown`, `urn:uuid:` identifier, category from MedCom's category codes, payloads with date, identifier,
author and contact extensions), PractitionerRole + Practitioner (the author), an Encounter when the episode of
care is known, receiver and sender Organizations, and the Provenance with one `source` entity per payload
(MedCom: "for each payload ... a MedcomCareCommunicationProvenance.entity.payload element").

What goes into a message lives next to its input: `correspondence` (an XDIS91 converted as MedCom's conversion
service does), `stay_messages` (discharge, follow-up, admission and crisis plan messages about a stay).
Resource ids and payload identifiers are UUID v5 of the input's identity, so the same input gives the same
message; only `Bundle.id` is new per send.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mappings.context import MappingContext
from mappings.documents.discharge import Author, Citizen, Party
from mappings.explain import CONSTANT, GENERATED_ID, Description, Kind, Origin, Text, reference_to
from mappings.notices.messaging import (
    ACT_CODE_SYSTEM,
    ACTIVITY_SYSTEM,
    CORE,
    EVENT_SYSTEM,
    RESOURCE_BASICS,
    SOR_ENDPOINT,
    Resource,
    derived_uuid,
    destination,
    destination_description,
    entry,
    fhir_datetime,
    message_bundle,
    narrative,
    organization,
    patient,
    reference,
    require_sor_and_gln,
    source_endpoint,
)

IG = "http://medcomfhir.dk/ig/carecommunication/StructureDefinition/"
MESSAGE_PROFILE = IG + "medcom-careCommunication-message"
HEADER_PROFILE = IG + "medcom-careCommunication-messageHeader"
COMMUNICATION_PROFILE = IG + "medcom-careCommunication-communication"
PROVENANCE_PROFILE = IG + "medcom-careCommunication-provenance"
ENCOUNTER_PROFILE = CORE + "medcom-core-encounter"
PRACTITIONER_ROLE_PROFILE = CORE + "medcom-core-practitionerrole"
PRACTITIONER_PROFILE = CORE + "medcom-core-practitioner"
DEFINITION = "http://medcomfhir.dk/ig/messagedefinitions/MessageDefinition/MedComCareCommunicationMessageDefinition|5.0"
CATEGORY_SYSTEM = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-careCommunication-categoryCodes"
ROLE_SYSTEM = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-core-PractitionerRolesSKSadministrativ"
NULL_FLAVOR_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
FULL_URL_BASE = "https://medcomfhir.dk/ig/carecommunication/"
CLOCK = Origin("clock", "the time the message was made (MedCom: the time sent)")


@dataclass(frozen=True, slots=True)
class Attachment:
    """A `contentAttachment`: MIME type, base64 data and title, each with where it came from."""

    content_type: str
    data: str
    title: str
    origins: tuple[tuple[str, Origin], ...] = ()


@dataclass(frozen=True, slots=True)
class Payload:
    """One `Communication.payload`: a text (signed by the message's author) or an attachment."""

    key: str
    when: datetime
    when_origin: Origin
    text: Text | None = None
    #: The kind of the text's origin (`input` for a letter's own text, `plan` for plan content).
    text_kind: Kind = "input"
    attachment: Attachment | None = None
    #: The payload identifier (`urn:uuid:`); derived from the message identity and `key` when `None`.
    identifier: str | None = None
    identifier_origin: Origin = GENERATED_ID


@dataclass(frozen=True, slots=True)
class CareMessage:
    """Everything one CareCommunication says, with the origin of each fact that is not in its parties."""

    source_key: str
    sent: datetime
    sender: Party
    receiver: Party
    citizen: Citizen
    category: str
    topic: Text | None
    author: Author
    payloads: tuple[Payload, ...]
    sent_origin: Origin = CLOCK
    category_origin: Origin = CONSTANT
    topic_kind: Kind = "constant"
    activity: str = "new-message"
    activity_origin: Origin = CONSTANT
    episode: str | None = None
    episode_origin: Origin = field(default=Origin("input", "episode of care"))
    encounter_status: str = "finished"
    encounter_class: str = "IMP"
    encounter_origin: Origin = CONSTANT


def _practitioner_resources(author: Author, source_key: str, ctx: MappingContext) -> tuple[Resource, Resource]:
    practitioner_id = derived_uuid(source_key, "Practitioner")
    role_id = derived_uuid(source_key, "PractitionerRole")
    name: dict[str, Any] = {"family": author.family}
    if author.given:
        name["given"] = list(author.given)
    practitioner: Resource = {
        "resourceType": "Practitioner",
        "id": practitioner_id,
        "meta": {"profile": [PRACTITIONER_PROFILE]},
        "text": narrative("Practitioner", " ".join((*author.given, author.family))),
        "name": [name],
    }
    if author.role_code:
        code: dict[str, Any] = {"coding": [{"system": ROLE_SYSTEM, "code": author.role_code}]}
    elif author.role_text:
        code = {"text": author.role_text}
    else:
        # v3-NullFlavor NAVU is in ValueSet medcom-core-PractitionerRoles for an author whose role is not known.
        code = {"coding": [{"system": NULL_FLAVOR_SYSTEM, "code": "NAVU"}]}
    role: Resource = {
        "resourceType": "PractitionerRole",
        "id": role_id,
        "meta": {"profile": [PRACTITIONER_ROLE_PROFILE]},
        "text": narrative("PractitionerRole", author.role_code or author.role_text or "NAVU"),
        "practitioner": {"reference": f"Practitioner/{practitioner_id}"},
        "code": [code],
    }
    role_origin = author.origin if author.role_code or author.role_text else CONSTANT
    ctx.describe(
        practitioner, lambda: {**RESOURCE_BASICS, "name[0].family": author.origin, "name[0].given[*]": author.origin}
    )
    ctx.describe(
        role,
        lambda: {
            **RESOURCE_BASICS,
            "practitioner.reference": reference_to("the Practitioner"),
            "code[0].coding[0].system": CONSTANT,
            "code[0].coding[0].code": role_origin,
            "code[0].text": role_origin,
        },
    )
    return role, practitioner


def _payload(spec: Payload, message: CareMessage, sender_id: str, role_id: str) -> tuple[dict[str, Any], Description]:
    identifier = spec.identifier or derived_uuid(message.source_key, "payload", spec.key)
    extensions: list[dict[str, Any]] = [
        {"url": CORE + "medcom-core-datetime-extension", "valueDateTime": fhir_datetime(spec.when)},
        {
            "url": CORE + "medcom-core-identifier-extension",
            "valueIdentifier": {
                "value": f"urn:uuid:{identifier}",
                "assigner": {"reference": f"Organization/{sender_id}"},
            },
        },
    ]
    described: dict[str, Origin] = {
        "extension[*].url": CONSTANT,
        "extension[0].valueDateTime": spec.when_origin,
        "extension[1].valueIdentifier.value": spec.identifier_origin,
        "extension[1].valueIdentifier.assigner.reference": reference_to("the sender Organization"),
    }
    payload: dict[str, Any] = {"extension": extensions}
    if spec.text is not None:
        extensions.append(
            {
                "url": CORE + "medcom-core-practitioner-extension",
                "valueReference": {"reference": f"PractitionerRole/{role_id}"},
            }
        )
        extensions.append(
            {
                "url": CORE + "medcom-core-contact-extension",
                "valueContactPoint": {"system": "phone", "value": message.author.phone},
            }
        )
        payload["contentString"] = spec.text.text
        described |= {
            "extension[2].valueReference.reference": reference_to("the author's PractitionerRole"),
            "extension[3].valueContactPoint.system": CONSTANT,
            "extension[3].valueContactPoint.value": message.author.origin,
            "contentString": spec.text.origin(spec.text_kind),
        }
    elif spec.attachment is not None:
        attachment = spec.attachment
        payload["contentAttachment"] = {
            "contentType": attachment.content_type,
            "data": attachment.data,
            "title": attachment.title,
        }
        origins = dict(attachment.origins)
        for name in ("contentType", "data", "title"):
            described[f"contentAttachment.{name}"] = origins.get(name) or Origin("unexplained", name)
    return payload, described


def _encounter(message: CareMessage, ids: dict[str, str], sender_sor: str | None, ctx: MappingContext) -> Resource:
    identifier: dict[str, str] = {"value": message.episode or ""}
    if sender_sor:
        identifier = {"system": f"{SOR_ENDPOINT}{sender_sor}", **identifier}
    encounter: Resource = {
        "resourceType": "Encounter",
        "id": ids["Encounter"],
        "meta": {"profile": [ENCOUNTER_PROFILE]},
        "text": narrative("Encounter", f"episode of care {message.episode}"),
        "status": message.encounter_status,
        "class": {"system": ACT_CODE_SYSTEM, "code": message.encounter_class},
        "subject": {"reference": f"Patient/{ids['Patient']}"},
        "episodeOfCare": [{"identifier": identifier}],
    }
    ctx.describe(
        encounter,
        lambda: {
            **RESOURCE_BASICS,
            "status": message.encounter_origin,
            "class.system": CONSTANT,
            "class.code": message.encounter_origin,
            "subject.reference": reference_to("the Patient"),
            "episodeOfCare[0].identifier.system": message.sender.origin("sor"),
            "episodeOfCare[0].identifier.value": message.episode_origin,
        },
    )
    return encounter


def _communication(
    message: CareMessage, ids: dict[str, str], payloads: list[tuple[dict[str, Any], Description]], ctx: MappingContext
) -> Resource:
    communication: Resource = {
        "resourceType": "Communication",
        "id": ids["Communication"],
        "meta": {"profile": [COMMUNICATION_PROFILE]},
        "text": narrative(
            "Communication",
            f"category = {message.category}",
            f"topic = {message.topic.text if message.topic else ''}",
            *(spec.text.text if spec.text else "" for spec in message.payloads),
        ),
        "identifier": [{"value": f"urn:uuid:{derived_uuid(message.source_key, 'Communication.identifier')}"}],
        "status": "unknown",
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": message.category}]}],
        "subject": {"reference": f"Patient/{ids['Patient']}"},
    }
    if message.topic:
        communication["topic"] = {"text": message.topic.text}
    if message.episode:
        communication["encounter"] = {"reference": f"Encounter/{ids['Encounter']}"}
    communication["payload"] = [payload for payload, _ in payloads]

    def describe() -> Description:
        found: dict[str, Origin] = {
            **RESOURCE_BASICS,
            "identifier[0].value": GENERATED_ID,
            "status": CONSTANT,
            "category[0].coding[0].system": CONSTANT,
            "category[0].coding[0].code": message.category_origin,
            "subject.reference": reference_to("the Patient"),
            "encounter.reference": reference_to("the Encounter"),
        }
        if message.topic:
            found["topic.text"] = message.topic.origin(message.topic_kind)
        for index, (_, described) in enumerate(payloads):
            found |= {f"payload[{index}].{path}": origin for path, origin in described.items()}
        return found

    ctx.describe(communication, describe)
    return communication


def care_communication(message: CareMessage, ctx: MappingContext) -> Resource:
    """The CareCommunication message Bundle for `message` (see the module docstring)."""
    sender_sor, _ = require_sor_and_gln(message.sender, "sender", ctx)
    receiver_sor, _ = require_sor_and_gln(message.receiver, "receiver", ctx)
    key = message.source_key
    ids = {
        name: derived_uuid(key, name)
        for name in ("Patient", "Communication", "Encounter", "sender", "receiver", "Provenance")
    }
    sender = organization(message.sender, ids["sender"], "sender", ctx)
    receiver = organization(message.receiver, ids["receiver"], "receiver", ctx)
    role, practitioner = _practitioner_resources(message.author, key, ctx)
    payloads = [_payload(spec, message, ids["sender"], role["id"]) for spec in message.payloads]
    encounter = _encounter(message, ids, sender_sor, ctx) if message.episode else None
    communication = _communication(message, ids, payloads, ctx)
    header: Resource = {
        "resourceType": "MessageHeader",
        "id": derived_uuid(key, "MessageHeader", namespace=ctx.header_namespace),
        "meta": {"profile": [HEADER_PROFILE]},
        "text": narrative(
            "CareCommunication",
            "event = care-communication-message",
            f"sender = {message.sender.name or sender_sor}, receiver = {message.receiver.name or receiver_sor}",
        ),
        "eventCoding": {"system": EVENT_SYSTEM, "code": "care-communication-message"},
        "destination": [destination(receiver, receiver_sor)],
        "sender": reference(sender),
        "source": source_endpoint(sender_sor),
        "focus": [reference(communication)],
        "definition": DEFINITION,
    }
    ctx.describe(
        header,
        lambda: {
            **RESOURCE_BASICS,
            "eventCoding.system": CONSTANT,
            "eventCoding.code": CONSTANT,
            **destination_description(message.receiver.origin("sor")),
            "sender.reference": reference_to("the sender Organization"),
            "source.endpoint": message.sender.origin("sor"),
            "focus[0].reference": reference_to("the Communication"),
            "definition": CONSTANT,
        },
    )
    provenance = _provenance(message, ids, header["id"], payloads, ctx)
    resources = [header, patient(message.citizen, ids["Patient"], ctx), communication, role, practitioner]
    if encounter is not None:
        resources.append(encounter)
    resources += [receiver, sender, provenance]
    entries = [entry(FULL_URL_BASE, r) for r in resources]
    return message_bundle(MESSAGE_PROFILE, message.sent, entries, ctx, message.sent_origin)


def _provenance(
    message: CareMessage,
    ids: dict[str, str],
    header_id: str,
    payloads: list[tuple[dict[str, Any], Description]],
    ctx: MappingContext,
) -> Resource:
    provenance: Resource = {
        "resourceType": "Provenance",
        "id": ids["Provenance"],
        "meta": {"profile": [PROVENANCE_PROFILE]},
        "text": narrative("Provenance", f"activity = {message.activity}"),
        "target": [{"reference": f"MessageHeader/{header_id}"}],
        "occurredDateTime": fhir_datetime(message.sent),
        "recorded": fhir_datetime(message.sent),
        "activity": {"coding": [{"system": ACTIVITY_SYSTEM, "code": message.activity}]},
        "agent": [{"who": {"reference": f"Organization/{ids['sender']}"}}],
        "entity": [
            {"role": "source", "what": {"identifier": {"value": p["extension"][1]["valueIdentifier"]["value"]}}}
            for p, _ in payloads
        ],
    }
    ctx.describe(
        provenance,
        lambda: {
            **RESOURCE_BASICS,
            "target[0].reference": reference_to("the MessageHeader"),
            "occurredDateTime": message.sent_origin,
            "recorded": message.sent_origin,
            "activity.coding[0].system": CONSTANT,
            "activity.coding[0].code": message.activity_origin,
            "agent[0].who.reference": reference_to("the sender Organization"),
            "entity[*].role": CONSTANT,
            "entity[*].what.identifier.value": Origin("generated id", "the identifier of the payload it stands for"),
        },
    )
    return provenance
