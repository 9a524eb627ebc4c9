"""An OIOXML XDIS91 (korrespondancemeddelelse) and its XBIN01 attachments as a MedCom CareCommunication, field for
field as MedCom's conversion service does it.

Sources: the conversion examples `Flow1-XDIS91_Ex_to_FHIR.xml` + `Flow1-XBIN01_Ex_to_FHIR.xml` ⇒
`Flow1-CareCommunication_Ex_from_OIOXML.xml`, the mapping table `Map_between_OIOXML_FHIR.md` and the spreadsheet
`Mapning-XDIS91-CareCommunication_v500_januar2026.xlsx` (medcomdk/dk-medcom-carecommunication), and the use cases
of the conversion service (`UseCases-VANSKonverteringslosning_200126.pdf`, version 3.1.0 of 2026-01-20):

- Envelope.Sent → Bundle.timestamp and Provenance.occurred/recorded; Letter.Authorisation → payload dates;
  Letter.StatusCode → Provenance.activity; Letter.EpisodeOfCareIdentifier → Encounter.episodeOfCare.identifier;
  EpisodeOfCareStatusCode → Encounter.status and class; Sender/Receiver EAN + SOR → Organizations; Patient →
  Patient; Subject → Communication.topic.text; Text01 → the text payload; Priority `høj_prioritet` → the sentence
  "Denne meddelelse har høj prioritet." before the text (XDIS91 has no category, so it becomes `other`, and
  `priority` is only allowed with `regarding-referral`, inv medcom-careCommunication-5).
- Reference/BIN → one attachment payload per referenced XBIN01 object, in the letter's order: identifier the
  object's UUID (with hyphens), `contentType` from ObjectExtensionCode (ConceptMap oioxml-object-extension-to-mime),
  `data` the XBIN01 `Object_Base64Encoded`, `title` the ObjectCode as the qualifier list assigns it to the file
  type (use cases §4.6.2 "ObjectCode": ObjectCode ⇄ `contentAttachment.title`; `application/pdf` is
  `vektor_grafik`, image types `billede`), which is why Flow 1's PDF sent as `billede` arrives titled
  `vektor_grafik`. Other types keep the letter's ObjectCode.
"""

from __future__ import annotations

import uuid

from mappings.conceptmaps import translate
from mappings.context import MappingContext
from mappings.documents.discharge import Author, BinaryObject, Correspondence, ResolvedParties, object_key
from mappings.explain import Origin, Text
from mappings.issues import IssueError
from mappings.notices.care_communication import Attachment, CareMessage, Payload, care_communication
from mappings.notices.messaging import Resource, derived_uuid

HIGH_PRIORITY_TEXT = "Denne meddelelse har høj prioritet."
#: Our choice of `topic.text` when an XDIS91 has no Subject (category `other` requires one, inv -6).
DEFAULT_TOPIC = "Korrespondance"
#: Use cases §4.6.2: the qualifier-list ObjectCode of each CareCommunication attachment type.
OBJECT_CODE_OF_TYPE = {
    "application/pdf": "vektor_grafik",
    "image/gif": "billede",
    "image/jpeg": "billede",
    "image/png": "billede",
    "image/tiff": "billede",
}
LETTER = "/Emessage/ClinicalEmail"


def missing_binaries(letter: Correspondence, binaries: tuple[BinaryObject, ...]) -> tuple[str, ...]:
    """The ObjectIdentifiers the letter references that are not among `binaries` (in the letter's order)."""
    supplied = {binary.key for binary in binaries}
    return tuple(
        ref.object_identifier for ref in letter.references if object_key(ref.object_identifier) not in supplied
    )


def _attachment_payloads(letter: Correspondence, binaries: tuple[BinaryObject, ...]) -> tuple[Payload, ...]:
    supplied = {binary.key: binary for binary in binaries}
    payloads: list[Payload] = []
    for index, ref in enumerate(letter.references):
        at = f"{LETTER}/Reference[{index + 1}]/BIN"
        binary = supplied.get(object_key(ref.object_identifier))
        if binary is None:
            raise IssueError.single(
                "incomplete",
                f"the letter references binary object {ref.object_identifier}, but no XBIN01 with it was supplied",
                expression=f"{at}/ObjectIdentifier",
                message_id="oioxml.xbin01-missing",
            )
        mime = translate("oioxml-object-extension-to-mime", ref.extension_code.lower())
        if mime is None:
            raise IssueError.single(
                "not-supported",
                f"attachment type {ref.extension_code!r} is not allowed in CareCommunication "
                "(pdf, gif, jpeg, png, tiff, bmp)",
                expression=f"{at}/ObjectExtensionCode",
                message_id="oioxml.attachment-type",
            )
        title = OBJECT_CODE_OF_TYPE.get(mime, ref.object_code)
        title_origin = Origin(
            "input" if title == ref.object_code else "constant",
            f"{at}/ObjectCode" if title == ref.object_code else f"ObjectCode of {mime} (conversion use cases §4.6.2)",
        )
        payloads.append(
            Payload(
                key=f"attachment-{index}",
                when=letter.authorised,
                when_origin=Origin("input", f"{LETTER}/Letter/Authorisation"),
                attachment=Attachment(
                    content_type=mime,
                    data=binary.data_base64,
                    title=title,
                    origins=(
                        ("contentType", Origin("input", f"{at}/ObjectExtensionCode (ConceptMap to MIME type)")),
                        ("data", Origin("input", "XBIN01 /Emessage/BinaryLetter/BinaryObject/Object_Base64Encoded")),
                        ("title", title_origin),
                    ),
                ),
                identifier=_object_uuid(ref.object_identifier),
                identifier_origin=Origin("input", f"{at}/ObjectIdentifier"),
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
            expression=f"{LETTER}/Sender/TelephoneSubscriberIdentifier",
            message_id="notice.author-missing",
        )
    return Author(
        family=resolved.sender.name or "Ikke oplyst",
        given=(),
        phone=resolved.sender.phone,
        origin=Origin("input", f"{LETTER}/Sender/OrganisationName, TelephoneSubscriberIdentifier"),
    )


def care_communication_from_correspondence(
    letter: Correspondence, resolved: ResolvedParties, ctx: MappingContext
) -> Resource:
    """An XDIS91 as a CareCommunication message, field for field as MedCom's conversion example."""
    text = letter.text
    text_fields: list[tuple[str, str]] = [(f"{LETTER}/ClinicalInformation/Text01", letter.text)]
    if letter.priority == "høj_prioritet":
        text = f"{HIGH_PRIORITY_TEXT} {text}" if text else HIGH_PRIORITY_TEXT
        text_fields.append((f"{LETTER}/AdditionalInformation/Priority", letter.priority))
    activity = translate("xdis91-status-to-activity", letter.status_code) or "new-message"
    status_class = translate("oioxml-episode-status-to-encounter", letter.episode_of_care_status or "uoplyst")
    status, encounter_class = (status_class or "unknown|IMP").split("|")
    episode = _object_uuid(letter.episode_of_care_identifier) if letter.episode_of_care_identifier else None
    topic = Text(letter.subject or DEFAULT_TOPIC, ((f"{LETTER}/AdditionalInformation/Subject", letter.subject or ""),))
    message = CareMessage(
        source_key=letter.source_key,
        sent=letter.sent,
        sent_origin=Origin("input", "/Emessage/Envelope/Sent"),
        sender=resolved.sender,
        receiver=resolved.receiver,
        citizen=letter.patient,
        category="other",
        category_origin=Origin("constant", "other: XDIS91 has no category (MedCom's conversion)"),
        topic=topic,
        topic_kind="input" if letter.subject else "constant",
        author=_author_or_default(resolved),
        payloads=(
            Payload(
                "text",
                letter.authorised,
                Origin("input", f"{LETTER}/Letter/Authorisation"),
                text=Text(text, tuple(text_fields)),
            ),
            *_attachment_payloads(letter, resolved.binaries),
        ),
        activity=activity,
        activity_origin=Origin("input", f"{LETTER}/Letter/StatusCode (ConceptMap xdis91-status-to-activity)"),
        episode=episode,
        episode_origin=Origin("input", f"{LETTER}/Letter/EpisodeOfCareIdentifier"),
        encounter_status=status,
        encounter_class=encounter_class,
        encounter_origin=Origin("input", f"{LETTER}/Patient/EpisodeOfCareStatusCode"),
    )
    return care_communication(message, ctx)
