"""MedCom CareCommunication 5.0.2 (korrespondancemeddelelse) messages.

* `care_communication_from_correspondence` - an OIOXML XDIS91 converted as MedCom's conversion service does it
  (`medcom-oioxml/conversion-examples/Flow1-XDIS91_Ex_to_FHIR.xml` ⇒ `Flow1-CareCommunication_Ex_from_OIOXML.xml`,
  and `Map_between_OIOXML_FHIR.md`): Envelope.Sent → Bundle.timestamp, Letter.StatusCode → Provenance.activity,
  Letter.EpisodeOfCareIdentifier → Encounter.episodeOfCare.identifier, Sender/Receiver EAN + SOR → Organizations,
  Patient CPR → Patient, Subject → Communication.topic.text, Text01 → payload contentString, Priority
  `høj_prioritet` → the sentence "Denne meddelelse har høj prioritet." before the text (XDIS91 has no category, so it
  becomes `other`, and `priority` is only allowed with `regarding-referral`, inv medcom-careCommunication-5),
  Reference/BIN → attachment payloads whose identifier is the object's UUID.
* `discharge_care_communication` - the discharge notice to the citizen's GP (category `discharge`).
* `municipality_care_communication` - the plan's follow-up to the home municipality (category `carecoordination`).

Resource ids and payload identifiers are UUID v5 of the input's identity, so the same input gives the same
message; only `Bundle.id` is new per send.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from mappings.conceptmaps import translate
from mappings.context import MappingContext
from mappings.documents.discharge import (
    Author,
    BinaryAttachment,
    Citizen,
    Correspondence,
    DischargeEvent,
    Party,
    PlanFollowUp,
    ResolvedParties,
)
from mappings.issues import IssueError
from mappings.notices.messaging import (
    ACT_CODE_SYSTEM,
    ACTIVITY_SYSTEM,
    CORE,
    EVENT_SYSTEM,
    SOR_ENDPOINT,
    Resource,
    derived_uuid,
    destination,
    entry,
    fhir_datetime,
    message_bundle,
    narrative,
    organization,
    patient,
    reference,
    require_sor_and_gln,
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
HIGH_PRIORITY_TEXT = "Denne meddelelse har høj prioritet."
#: Our choice of `topic.text` when an XDIS91 has no Subject (category `other` requires one, inv -6).
DEFAULT_TOPIC = "Korrespondance"
#: The municipality variant's category; see `municipality_care_communication`.
MUNICIPALITY_CATEGORY = "carecoordination"
DANISH_TIME = ZoneInfo("Europe/Copenhagen")


@dataclass(frozen=True, slots=True)
class _Payload:
    key: str
    when: datetime
    text: str | None = None
    attachment: dict[str, Any] | None = None
    identifier: str | None = None


@dataclass(frozen=True, slots=True)
class _Message:
    source_key: str
    sent: datetime
    sender: Party
    receiver: Party
    citizen: Citizen
    category: str
    topic: str | None
    author: Author
    payloads: tuple[_Payload, ...]
    activity: str = "new-message"
    episode: str | None = None
    encounter_status: str = "finished"
    encounter_class: str = "IMP"


def _practitioner_resources(author: Author, source_key: str) -> tuple[Resource, Resource]:
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
        code = {"coding": [{"system": NULL_FLAVOR_SYSTEM, "code": "NAVU"}]}
    role: Resource = {
        "resourceType": "PractitionerRole",
        "id": role_id,
        "meta": {"profile": [PRACTITIONER_ROLE_PROFILE]},
        "text": narrative("PractitionerRole", author.role_code or author.role_text or "NAVU"),
        "practitioner": {"reference": f"Practitioner/{practitioner_id}"},
        "code": [code],
    }
    return role, practitioner


def _payload(spec: _Payload, message: _Message, sender_id: str, role_id: str) -> dict[str, Any]:
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
        payload["contentString"] = spec.text
    else:
        payload["contentAttachment"] = spec.attachment
    return payload


def _bundle(message: _Message, ctx: MappingContext) -> Resource:
    sender_sor, _ = require_sor_and_gln(message.sender, "sender")
    receiver_sor, _ = require_sor_and_gln(message.receiver, "receiver")
    key = message.source_key
    ids = {
        name: derived_uuid(key, name)
        for name in ("Patient", "Communication", "Encounter", "sender", "receiver", "Provenance")
    }
    sender = organization(message.sender, ids["sender"], "sender")
    receiver = organization(message.receiver, ids["receiver"], "receiver")
    role, practitioner = _practitioner_resources(message.author, key)
    payloads = [_payload(spec, message, ids["sender"], role["id"]) for spec in message.payloads]
    communication: Resource = {
        "resourceType": "Communication",
        "id": ids["Communication"],
        "meta": {"profile": [COMMUNICATION_PROFILE]},
        "text": narrative(
            "Communication",
            f"category = {message.category}",
            f"topic = {message.topic or ''}",
            *(spec.text or "" for spec in message.payloads),
        ),
        "identifier": [{"value": f"urn:uuid:{derived_uuid(key, 'Communication.identifier')}"}],
        "status": "unknown",
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": message.category}]}],
        "subject": {"reference": f"Patient/{ids['Patient']}"},
    }
    if message.topic:
        communication["topic"] = {"text": message.topic}
    encounter: Resource | None = None
    if message.episode:
        encounter = {
            "resourceType": "Encounter",
            "id": ids["Encounter"],
            "meta": {"profile": [ENCOUNTER_PROFILE]},
            "text": narrative("Encounter", f"episode of care {message.episode}"),
            "status": message.encounter_status,
            "class": {"system": ACT_CODE_SYSTEM, "code": message.encounter_class},
            "subject": {"reference": f"Patient/{ids['Patient']}"},
            "episodeOfCare": [{"identifier": {"system": f"{SOR_ENDPOINT}{sender_sor}", "value": message.episode}}],
        }
        communication["encounter"] = reference(encounter)
    communication["payload"] = payloads
    header: Resource = {
        "resourceType": "MessageHeader",
        "id": derived_uuid(key, "MessageHeader"),
        "meta": {"profile": [HEADER_PROFILE]},
        "text": narrative(
            "CareCommunication",
            "event = care-communication-message",
            f"sender = {message.sender.name or sender_sor}, receiver = {message.receiver.name or receiver_sor}",
        ),
        "eventCoding": {"system": EVENT_SYSTEM, "code": "care-communication-message"},
        "destination": [destination(receiver, receiver_sor)],
        "sender": reference(sender),
        "source": {"endpoint": f"{SOR_ENDPOINT}{sender_sor}"},
        "focus": [reference(communication)],
        "definition": DEFINITION,
    }
    provenance: Resource = {
        "resourceType": "Provenance",
        "id": ids["Provenance"],
        "meta": {"profile": [PROVENANCE_PROFILE]},
        "text": narrative("Provenance", f"activity = {message.activity}"),
        "target": [{"reference": f"MessageHeader/{header['id']}"}],
        "occurredDateTime": fhir_datetime(message.sent),
        "recorded": fhir_datetime(message.sent),
        "activity": {"coding": [{"system": ACTIVITY_SYSTEM, "code": message.activity}]},
        "agent": [{"who": reference(sender)}],
        "entity": [
            {"role": "source", "what": {"identifier": {"value": p["extension"][1]["valueIdentifier"]["value"]}}}
            for p in payloads
        ],
    }
    resources = [header, patient(message.citizen, ids["Patient"]), communication, role, practitioner]
    if encounter is not None:
        resources.append(encounter)
    resources += [receiver, sender, provenance]
    return message_bundle(MESSAGE_PROFILE, message.sent, [entry(FULL_URL_BASE, r) for r in resources], ctx)


def _attachment_payloads(letter: Correspondence, resolved: ResolvedParties) -> tuple[_Payload, ...]:
    supplied = dict(resolved.attachments)
    payloads: list[_Payload] = []
    for index, ref in enumerate(letter.references):
        content: BinaryAttachment | None = supplied.get(ref.object_identifier)
        if content is None:
            raise IssueError.single(
                "incomplete",
                f"the letter references binary object {ref.object_identifier}, but no XBIN01 with it was supplied",
                expression=f"/Emessage/ClinicalEmail/Reference[{index + 1}]/BIN/ObjectIdentifier",
                message_id="oioxml.xbin01-missing",
            )
        mime = translate("oioxml-object-extension-to-mime", ref.extension_code.lower())
        if mime is None:
            raise IssueError.single(
                "not-supported",
                f"attachment type {ref.extension_code!r} is not allowed in CareCommunication "
                "(pdf, gif, jpeg, png, tiff, bmp)",
                expression=f"/Emessage/ClinicalEmail/Reference[{index + 1}]/BIN/ObjectExtensionCode",
                message_id="oioxml.attachment-type",
            )
        payloads.append(
            _Payload(
                key=f"attachment-{index}",
                when=letter.authorised,
                attachment={"contentType": mime, "data": content.data_base64, "title": content.title},
                identifier=_object_uuid(ref.object_identifier),
            )
        )
    return tuple(payloads)


def _object_uuid(object_identifier: str) -> str:
    try:
        return str(uuid.UUID(object_identifier))
    except ValueError:
        return derived_uuid("xbin01", object_identifier)


def _author_or_default(resolved: ResolvedParties) -> Author:
    if resolved.author is not None:
        return resolved.author
    if not resolved.sender.phone:
        raise IssueError.single(
            "required",
            "the letter has no author and the sender no telephone number; a CareCommunication text needs both",
            expression="/Emessage/ClinicalEmail/Sender/TelephoneSubscriberIdentifier",
            message_id="notice.author-missing",
        )
    # v3-NullFlavor NAVU is in ValueSet medcom-core-PractitionerRoles for exactly this case.
    return Author(family=resolved.sender.name or "Ikke oplyst", given=(), phone=resolved.sender.phone)


def care_communication_from_correspondence(
    letter: Correspondence, resolved: ResolvedParties, ctx: MappingContext
) -> Resource:
    """An XDIS91 as a CareCommunication message, field for field as MedCom's conversion example."""
    text = letter.text
    if letter.priority == "høj_prioritet":
        text = f"{HIGH_PRIORITY_TEXT} {text}" if text else HIGH_PRIORITY_TEXT
    activity = translate("xdis91-status-to-activity", letter.status_code) or "new-message"
    status_class = translate("oioxml-episode-status-to-encounter", letter.episode_of_care_status or "uoplyst")
    status, encounter_class = (status_class or "unknown|IMP").split("|")
    episode = None
    if letter.episode_of_care_identifier:
        episode = _object_uuid(letter.episode_of_care_identifier)
    message = _Message(
        source_key=letter.source_key,
        sent=letter.sent,
        sender=resolved.sender,
        receiver=resolved.receiver,
        citizen=letter.patient,
        category="other",
        topic=letter.subject or DEFAULT_TOPIC,
        author=_author_or_default(resolved),
        payloads=(_Payload("text", letter.authorised, text=text), *_attachment_payloads(letter, resolved)),
        activity=activity,
        episode=episode,
        encounter_status=status,
        encounter_class=encounter_class,
    )
    for output, source in (
        ("Bundle.timestamp", "/Emessage/Envelope/Sent"),
        ("Bundle.entry[0].resource.id", "/Emessage/ClinicalEmail/Sender/EANIdentifier + Letter/Identifier"),
        ("Bundle.entry[1].resource.identifier[0].value", "/Emessage/ClinicalEmail/Patient/CivilRegistrationNumber"),
        ("Bundle.entry[2].resource.topic.text", "/Emessage/ClinicalEmail/AdditionalInformation/Subject"),
        ("Bundle.entry[2].resource.payload[0].contentString", "/Emessage/ClinicalEmail/ClinicalInformation/Text01"),
        (
            "Bundle.entry[2].resource.payload[0].extension[0].valueDateTime",
            "/Emessage/ClinicalEmail/Letter/Authorisation",
        ),
        ("Provenance.activity", "/Emessage/ClinicalEmail/Letter/StatusCode"),
    ):
        ctx.record(output, source)
    return _bundle(message, ctx)


def _local(value: datetime) -> str:
    return value.astimezone(DANISH_TIME).strftime("%d-%m-%Y kl. %H:%M")


def follow_up_text(follow_up: PlanFollowUp) -> str:
    """The agreed follow-up of the shared plan as Danish text (one payload)."""
    coordinator = ", ".join(
        part
        for part in (
            follow_up.coordinator_name,
            follow_up.coordinator_role,
            f"tlf. {follow_up.coordinator_phone}" if follow_up.coordinator_phone else None,
        )
        if part
    )
    lines = ["Aftalt opfølgning fra den fælles plan:", f"Koordinator (stafetholder): {coordinator}"]
    lines.append(
        f"Næste koordinationsmøde: {_local(follow_up.next_meeting)}"
        if follow_up.next_meeting
        else "Næste koordinationsmøde: ikke fastlagt"
    )
    if follow_up.interventions_due:
        lines.append("Indsatser inden næste møde:")
        for item in follow_up.interventions_due:
            details = [f"ansvarlig: {item.responsible}" if item.responsible else None]
            details.append(f"senest {item.due.strftime('%d-%m-%Y')}" if item.due else None)
            suffix = ", ".join(d for d in details if d)
            lines.append(f"- {item.description}" + (f" ({suffix})" if suffix else ""))
    lines.append("Kriseplan: foreligger" if follow_up.crisis_plan_present else "Kriseplan: foreligger ikke")
    return "\n".join(lines)


def _discharge_message(
    event: DischargeEvent, category: str, topic: str, payloads: tuple[_Payload, ...], role: str, sent: datetime
) -> _Message:
    return _Message(
        source_key=f"{event.source_key}|{role}",
        sent=sent,
        sender=event.sender,
        receiver=event.receiver,
        citizen=event.patient,
        category=category,
        topic=topic,
        author=event.author,
        payloads=payloads,
        episode=event.episode_of_care_identifier,
        encounter_status="finished",
        encounter_class=event.encounter_class or "IMP",
    )


def discharge_care_communication(
    event: DischargeEvent, follow_up: PlanFollowUp | None, ctx: MappingContext
) -> Resource:
    """The discharge CareCommunication to the GP: category `discharge`, the discharge text and, only when the
    caller passes `follow_up` (the citizen's consent permits disclosure to this GP), the plan's follow-up as a
    second payload. `Bundle.timestamp` and payload times are `ctx.now` (time sent, MedCom Messaging).
    """
    payloads = [_Payload("discharge", ctx.now, text=event.text or f"Udskrevet {_local(event.discharged)}.")]
    if follow_up is not None:
        payloads.append(_Payload("follow-up", ctx.now, text=follow_up_text(follow_up)))
    message = _discharge_message(event, "discharge", "Udskrivelse", tuple(payloads), "gp", ctx.now)
    ctx.record("Communication.payload[0].contentString", "discharge text")
    if follow_up is not None:
        ctx.record("Communication.payload[1].contentString", "shared plan follow-up (consent: disclose to GP)")
    return _bundle(message, ctx)


def municipality_care_communication(event: DischargeEvent, follow_up: PlanFollowUp, ctx: MappingContext) -> Resource:
    """The plan's follow-up to the home municipality, category `carecoordination` ("Forløbskoordinering").

    Why not `psychiatry-social-disability`: MedCom's category codes (CodeSystem
    medcom-careCommunication-categoryCodes, terminology 2.0.2) describe what a message is about; "Psykiatri,
    social, handicap" names a field of care, while this message carries the coordination of the course itself -
    coordinator, next coordination meeting and interventions across sectors - which is what "Forløbskoordinering"
    (care coordination) names. MedCom's own carecoordination example (Bundle k7bfbc0c) is likewise about a
    course shared between hospital and municipality. The receiver is the municipality named by `event.receiver`.
    """
    text = f"Borgeren er udskrevet {_local(event.discharged)}.\n{follow_up_text(follow_up)}"
    payload = _Payload("follow-up", ctx.now, text=text)
    topic = "Opfølgning efter udskrivelse"
    message = _discharge_message(event, MUNICIPALITY_CATEGORY, topic, (payload,), "municipality", ctx.now)
    ctx.record("Communication.payload[0].contentString", "shared plan follow-up (consent: disclose to municipality)")
    return _bundle(message, ctx)
