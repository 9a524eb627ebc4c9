"""Typed discharge inputs: what the inbound parsers produce and the notice mappings consume.

Each class is a frozen dataclass holding the input's facts in the domain's words, already decoded (text is
`str`, times are timezone-aware `datetime`s). Parsers (`gateway/inbound/`) fill them from bytes; the lead's
services add what only the directory or the store knows (SOR/GLN of the parties, earlier notices of a stay).

* `Correspondence`  - MedCom OIOXML XDIS91 korrespondancemeddelelse (`Emessage/ClinicalEmail`).
* `DischargeLetter` - MedCom OIOXML XDIS01 udskrivningsepikrise (`Emessage/DischargeLetter`).
* `AdtEvent`        - HL7 v2.x ADT^A01/A03/A13/A21/A22 (admit, discharge, cancel discharge, leave out/in).
* `CareCommunicationMessage` - a received MedCom CareCommunication message Bundle (FHIR JSON or XML).
* `HospitalStayEvent` / `PriorNotice` - one HospitalNotification use case with the stay's history.
* `BinaryLetter` / `BinaryObject` - MedCom OIOXML XBIN01 binary letter (`Emessage/BinaryLetter`): the attachments
  an XDIS91 refers to.
* `DischargeEvent`, `AdmissionEvent`, `Author` - inputs of the CareCommunications about a stay (what they carry
  from the plan is in `mappings.documents.plan_facts`).

`sources` on `Party` and `Citizen` say where each field came from (`mappings.explain.Origin`), for `--explain`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from mappings.explain import Origin, Text

EncounterClass = Literal["IMP", "EMER"]
CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"
REPLACEMENT_CPR_SYSTEMS = ("urn:oid:1.2.208.176.1.6.1.1", "urn:oid:1.2.208.176.1.6.1.3")


class Sourced:
    """`origin(field)`: where a field of the input came from, from the dataclass's `sources` (for `--explain`)."""

    __slots__ = ()
    sources: tuple[tuple[str, Origin], ...]

    def origin(self, name: str) -> Origin:
        return dict(self.sources).get(name) or Origin("unexplained", name)


@dataclass(frozen=True, slots=True)
class Party(Sourced):
    """An organisation as an input names it, optionally completed from the SOR directory.

    MedCom messaging requires both SOR (`urn:oid:1.2.208.176.1.1`) and GLN/EAN identifiers on sender and
    receiver (`medcom-messaging-organization`, identifier 2..); inputs often carry only one, so both are optional
    here and the notice builders reject a party that still lacks one.
    """

    gln: str | None = None
    sor: str | None = None
    name: str | None = None
    #: The OIOXML `Identifier` / `IdentifierCode` pair (e.g. a ydernummer with code `ydernummer`).
    identifier: str | None = None
    identifier_code: str | None = None
    department: str | None = None
    phone: str | None = None
    #: Where each field came from, by field name (`sor`, `gln`, `name`, `phone`).
    sources: tuple[tuple[str, Origin], ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class Citizen(Sourced):
    """The patient: CPR number (`urn:oid:1.2.208.176.1.2`) and what the input says about name and address.

    `cpr_system` is the CPR OID, or a replacement-CPR system (X-eCPR `urn:oid:1.2.208.176.1.6.1.1`, D-eCPR
    `urn:oid:1.2.208.176.1.6.1.3...`) when a FHIR input carried one; HospitalNotification accepts only a real CPR.
    """

    cpr: str
    family: str | None = None
    given: tuple[str, ...] = ()
    street: str | None = None
    city: str | None = None
    postal_code: str | None = None
    deceased: bool = False
    cpr_system: str = CPR_SYSTEM
    #: Where each field came from, by field name (`cpr`, `family`, `given`, `street`, `city`, `postal_code`).
    sources: tuple[tuple[str, Origin], ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class BinaryReference:
    """An XDIS91 `Reference/BIN`: a pointer to an XBIN01 binary letter sent alongside."""

    object_identifier: str
    object_code: str
    extension_code: str
    original_size: int | None = None


@dataclass(frozen=True, slots=True)
class BinaryObject:
    """One XBIN01 `BinaryObject`: the attachment itself, base64 as sent."""

    object_identifier: str
    object_code: str
    extension_code: str
    data_base64: str
    original_size: int | None = None

    @property
    def key(self) -> str:
        """The identifier as letters and binaries are matched: XDIS91 writes the UUID without hyphens, XBIN01 with
        them (MedCom's mapping of XDIS91 to CareCommunication, v5.0.0 January 2026: "ID'et er med og uden
        bindestreger")."""
        return object_key(self.object_identifier)


def object_key(object_identifier: str) -> str:
    return object_identifier.replace("-", "").strip().lower()


@dataclass(frozen=True, slots=True)
class LetterHeader:
    """What every MedCom OIOXML letter carries: envelope, letter, sender, receiver, patient and its text."""

    envelope_identifier: str
    sent: datetime
    letter_identifier: str
    authorised: datetime
    status_code: str
    sender: Party
    receiver: Party
    patient: Citizen
    text: str
    episode_of_care_status: str | None = None

    @property
    def source_key(self) -> str:
        """The letter's identity (sender GLN + letter id): its notices' MessageHeader.id and the inbound message
        id derive from it, so converting the same letter twice is idempotent."""
        return f"oioxml|{self.sender.gln}|{self.letter_identifier}"


@dataclass(frozen=True, slots=True)
class Correspondence(LetterHeader):
    """An XDIS91 correspondence letter (ClinicalEmail.xsd, namespace `.../2006/07/01/`)."""

    episode_of_care_identifier: str | None = None
    priority: str | None = None
    subject: str | None = None
    references: tuple[BinaryReference, ...] = ()


@dataclass(frozen=True, slots=True)
class BinaryLetter:
    """An XBIN01 binary letter (BinaryLetter.xsd, namespace `http://rep.oio.dk/medcom.dk/xml/schemas/2012/03/28/`).

    It travels beside the XDIS91 whose `Reference/BIN/ObjectIdentifier` names its objects; it has its own envelope
    and letter identifiers and carries no text.
    """

    envelope_identifier: str
    sent: datetime
    letter_identifier: str
    sender: Party
    receiver: Party
    patient: Citizen | None
    objects: tuple[BinaryObject, ...]

    @property
    def source_key(self) -> str:
        return f"oioxml-bin|{self.sender.gln}|{self.letter_identifier}"


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """An XDIS01 `Diagnose/Main|Other`: an SKS code with its text."""

    code: str
    text: str | None
    main: bool
    code_type: str | None = None


@dataclass(frozen=True, slots=True)
class DischargeLetter(LetterHeader):
    """An XDIS01 discharge letter (DischargeLetter.xsd, namespace `.../2005/08/07/`)."""

    admitted: datetime | None = None
    discharged: datetime | None = None
    diagnoses: tuple[Diagnosis, ...] = ()


@dataclass(frozen=True, slots=True)
class GeneralPractitioner:
    """The citizen's GP as an ADT message names it (PD1-4 / ROL-4 with role `PP`)."""

    name: str | None = None
    #: Ydernummer (`urn:oid:1.2.208.176.1.4`) or SOR code, whichever the sender used.
    provider_number: str | None = None
    sor: str | None = None


@dataclass(frozen=True, slots=True)
class AdtEvent:
    """One HL7 v2.x ADT message, reduced to what MedCom notices need.

    Field sources follow the HL7 v2-to-FHIR IG maps (PID → Patient, PV1 → Encounter, MSH → MessageHeader).
    """

    trigger: str
    message_control_id: str
    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    message_time: datetime
    version: str
    charset: str
    patient: Citizen
    patient_class: str
    encounter_class: EncounterClass | None
    visit_number: str | None = None
    admitted: datetime | None = None
    discharged: datetime | None = None
    #: EVN-6 (event occurred), else EVN-2 (recorded): start of leave for A21, end of leave for A22.
    event_occurred: datetime | None = None
    general_practitioner: GeneralPractitioner | None = None
    #: MSH-9.1/MSH-9.3 and the raw field separators, kept for building the ACK.
    message_structure: str = "ADT"
    processing_id: str = "P"

    @property
    def source_key(self) -> str:
        """The input's identity for derived ids: MSH-3 / MSH-4 / MSH-10."""
        return f"hl7v2|{self.sending_application}|{self.sending_facility}|{self.message_control_id}"


@dataclass(frozen=True, slots=True)
class CareCommunicationMessage:
    """A received MedCom CareCommunication message, with its Bundle kept as parsed (a plain dict)."""

    bundle_id: str
    message_header_id: str
    timestamp: datetime
    sender: Party
    receiver: Party
    patient: Citizen
    category: str
    text: str
    topic: str | None = None
    episode_of_care_identifier: str | None = None
    activity: str | None = None
    bundle: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)
    #: Every code (SOR or GLN) by which the relayed Bundle names its sender, with where: the sender Organization's
    #: identifiers, `Communication.sender`'s, and the Organizations of the Provenance of this MessageHeader
    #: (`agent.who`, `agent.onBehalfOf`, also by logical identifier). The Bundle is relayed as it is: all must agree.
    sender_codes: tuple[tuple[str, str], ...] = ()

    @property
    def source_key(self) -> str:
        return f"fhir|{self.message_header_id}"


@dataclass(frozen=True, slots=True)
class PriorNotice:
    """One HospitalNotification already sent for this stay; its Provenance is carried in every later notice.

    MedCom HospitalNotification 3.0.2: "each message carries the whole Provenance history of the stay"
    (see the SLOR example Bundle e94de8ee..., three Provenances). `entity_role`/`entity_reference` repeat that
    Provenance's own `entity` (role `revision` or `removal`, `MessageHeader/<id>` of its predecessor).
    """

    message_header_id: str
    activity: str
    occurred: datetime
    provenance_id: str | None = None
    entity_role: Literal["revision", "removal"] | None = None
    entity_reference: str | None = None
    #: The leave start that notice reported (its Encounter's leave-period extension), so a later SLOR can repeat it.
    leave_start: datetime | None = None


@dataclass(frozen=True, slots=True)
class HospitalStayEvent(Sourced):
    """One HospitalNotification use case (STIN, SLHJ, AN_STOR, ...) for one stay.

    `source_key` is the input's identity (e.g. MSH-3/4/10); `MessageHeader.id` is a UUID v5 of it.
    `history` holds the stay's earlier notices, oldest first; the last one is the predecessor that an
    RE_/AN_/follow-up notice points to in `Provenance.entity`.
    """

    use_case: str
    source_key: str
    patient: Citizen
    encounter_class: EncounterClass
    episode_of_care_identifier: str
    admitted: datetime
    occurred: datetime
    sender: Party
    receiver: Party
    discharged: datetime | None = None
    leave_start: datetime | None = None
    leave_end: datetime | None = None
    history: tuple[PriorNotice, ...] = ()
    #: Ask the municipality for an admission report (XDIS16 indlæggelsesrapport) back to the sender; MedCom's
    #: STIN/STAA examples set it (`medcom-messaging-reportOfAdmissionExtension` + recipient extension).
    report_of_admission: bool = False
    #: The operator says the stay began before this gateway reported it: a follow-up notice with no `history`
    #: goes out as the stay's first notice (see `mappings.notices.hospital_notification`).
    first_of_stay: bool = False
    #: Where each field came from (for `--explain`), e.g. `("admitted", Origin("input", "PV1-44"))`.
    sources: tuple[tuple[str, Origin], ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class Author:
    """The person who signs a CareCommunication payload (`medcom-core-practitioner-extension`).

    `role_code` is from `medcom-core-PractitionerRolesSKSadministrativ` (e.g. `overlaege`); `phone` fills the
    mandatory `medcom-core-contact-extension` of a text payload.
    """

    family: str
    given: tuple[str, ...]
    phone: str
    role_code: str | None = None
    role_text: str | None = None
    #: Where the author's name, role and phone came from (the directory's signatory, by default).
    origin: Origin = field(default=Origin("directory", "signatory of the sending organisation"), compare=False)


@dataclass(frozen=True, slots=True)
class DischargeEvent(Sourced):
    """A discharge to report to the GP (or municipality) as a CareCommunication."""

    source_key: str
    patient: Citizen
    sender: Party
    receiver: Party
    author: Author
    discharged: datetime
    #: The discharge text and the input fields it was written from (an XDIS01's own text, or one made from ADT).
    text: Text
    episode_of_care_identifier: str | None = None
    encounter_class: EncounterClass | None = None
    #: Where `discharged`, `episode` and `encounter_class` came from (for `--explain`).
    sources: tuple[tuple[str, Origin], ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class AdmissionEvent(Sourced):
    """An admission (STIN/STAA) to tell the plan's people about: the coordinator's organisation, and the admitting
    organisation that receives the crisis plan. `text` says who was admitted where and when."""

    source_key: str
    patient: Citizen
    #: The admitting organisation (the ADT's sending facility, completed from the directory).
    hospital: Party
    admitted: datetime
    text: Text
    episode_of_care_identifier: str | None = None
    encounter_class: EncounterClass | None = None
    sources: tuple[tuple[str, Origin], ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class ResolvedParties:
    """What the SOR directory and the caller add to an XDIS91 before it can become a CareCommunication.

    `sender`/`receiver` carry SOR + GLN + name (MedCom's conversion looks the SOR code up by the letter's
    EANIdentifier), `author` signs the text payload (XDIS91 has no structured author), `binaries` holds the
    XBIN01 objects the letter references (matched by `BinaryObject.key`).
    """

    sender: Party
    receiver: Party
    author: Author | None = None
    binaries: tuple[BinaryObject, ...] = ()
