"""Which notices an inbound message becomes, and for whom (the routing half of intake).

Per input:
- HL7 v2 ADT (A01 admit, A03 discharge, A13 cancel discharge, A21/A22 leave, ...): a MedCom HospitalNotification to
  the citizen's home municipality, always (it carries no plan content and is sent under its own legal basis).
  At admission (STIN/STAA) also the consented notices of `stay_notices` (the crisis plan to the admitting ward,
  the admission to the coordinator's organisation). For an A03 also a CareCommunication (category `discharge`) to
  the citizen's GP, with the plan's follow-up only where the consent permits disclosure to that GP, a
  CareCommunication (`carecoordination`) with the follow-up to the municipality only where the consent permits
  that, and the discharge to the coordinator's organisation (`stay_notices`).
- OIOXML XDIS01 discharge letter: the GP CareCommunication (+ the municipality one), as for an A03.
- OIOXML XDIS91 correspondence (+ its XBIN01 attachments): a CareCommunication for its own receiver (MedCom's
  conversion).
- FHIR CareCommunication message: relayed to its receiver unchanged (the worker gives each send a new Bundle.id).

The home municipality comes from the citizen's stored plan (`citizen.municipality_code`): HL7 v2 ADT and XDIS01
do not carry it. A citizen without a plan therefore gets no HospitalNotification; intake says so (422).
Every consent decision is `may_disclose` for the recipient's SOR code; what is not sent is listed as withheld.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from gateway.delivery.directory import Recipient, SenderOrganisation
from gateway.fhir.access import OPEN, Access
from gateway.services.planning import Directory, Planning, PlanSource, party_of
from gateway.services.plans import StoredPlan
from gateway.services.stay_notices import StayNotices, Withheld, decide
from mappings.context import MappingContext
from mappings.documents.discharge import (
    AdmissionEvent,
    AdtEvent,
    Author,
    BinaryObject,
    CareCommunicationMessage,
    Correspondence,
    DischargeEvent,
    DischargeLetter,
    HospitalStayEvent,
    Party,
    PriorNotice,
    ResolvedParties,
)
from mappings.explain import Origin
from mappings.issues import Issue, IssueError
from mappings.notices.correspondence import care_communication_from_correspondence
from mappings.notices.danish_text import stay_text
from mappings.notices.follow_up import follow_up_from_plan
from mappings.notices.hospital_notification import hospital_notification_from_event
from mappings.notices.messaging import derived_uuid
from mappings.notices.stay_events import (
    discharge_event_from_adt,
    discharge_event_from_letter,
    episode_of_care_identifier,
    stay_event_from_adt,
)
from mappings.notices.stay_messages import discharge_care_communication, municipality_care_communication

#: (citizen CPR, recipient key, episode-of-care identifier, this input's own MessageHeader.id, the sender's SOR
#: code) -> the stay's earlier notices from that sender to that recipient (never this input's own notice:
#: converting an input again must not repeat it).
HistoryLookup = Callable[[str, str, str, str, str], tuple[PriorNotice, ...]]


def facility_code(facility: str) -> str:
    """MSH-4 `name^universal id^type` (HD): the SOR code is the universal id when the type is SOR."""
    parts = facility.split("^")
    return parts[1] if len(parts) > 1 and parts[1] else parts[0]


def _at(error: IssueError, where: str) -> IssueError:
    issues = tuple(Issue(i.severity, i.code, i.diagnostics, i.expression or where, i.message_id) for i in error.issues)
    return IssueError(issues, status=422)


class NoticePlanner:
    def __init__(self, directory: Directory, plans: PlanSource, access: Access = OPEN) -> None:
        self.directory = directory
        self.plans = plans
        self.access = access

    # -- HL7 v2 ----------------------------------------------------------------------------------------------

    def from_adt(
        self, adt: AdtEvent, ctx: MappingContext, history: HistoryLookup, *, first_of_stay: bool = False
    ) -> Planning:
        planning = Planning()
        sender = self._sender(facility_code(adt.sending_facility), "MSH-4")
        hospital = party_of(sender, "MSH-4 (sending facility)")
        plan = self.plans.current_plan_for(adt.patient.cpr, self.access)
        municipality = self._home_municipality(plan, "PID-3")
        episode = episode_of_care_identifier(adt.visit_number, adt.sending_facility)
        own_header = hospital_notification_header_id(adt.source_key, ctx.header_namespace)
        episode_notices = history(adt.patient.cpr, municipality.key, episode, own_header, sender.sor)
        event = stay_event_from_adt(
            adt,
            sender=hospital,
            receiver=party_of(municipality, "the home municipality (plan: citizen.municipality_code)"),
            history=episode_notices,
            first_of_stay=first_of_stay,
        )
        if event is None:
            planning.notes.append(
                f"no HospitalNotification: ADT^{adt.trigger} cancels a notice of a stay this gateway sent nothing "
                "for (first of stay), so there is nothing to cancel"
            )
        else:
            if event.first_of_stay:
                planning.notes.append(
                    f"sent as the stay's first notice ({event.use_case}, one Provenance without a predecessor): "
                    "the operator said the stay began before this gateway reported it"
                )
            message = hospital_notification_from_event(event, ctx)
            planning.add("hospital-notification", municipality, message, ctx)
        if event is not None and plan is not None:
            self._admission(event, sender, plan, ctx, planning)
        if adt.trigger == "A03" and not adt.patient.deceased:
            gp = self._gp_of_adt(adt, plan)
            discharge = discharge_event_from_adt(
                adt, sender=hospital, receiver=party_of(gp, "the citizen's GP"), author=self._author(sender)
            )
            self._discharge_notices(discharge, gp, municipality, plan, ctx, planning)
        return planning

    def _admission(
        self,
        event: HospitalStayEvent,
        sender: SenderOrganisation,
        plan: StoredPlan,
        ctx: MappingContext,
        planning: Planning,
    ) -> None:
        """The consented notices of an admission: any input whose HospitalNotification starts a stay (STIN, STAA)."""
        if event.use_case not in ("STIN", "STAA"):
            return
        patient = event.patient
        who = " ".join((*patient.given, patient.family or "")).strip() or "Borgeren"
        names = ", ".join(o.source for o in (patient.origin("given"), patient.origin("family")))
        text = stay_text(
            who,
            "indlagt på",
            event.sender.name or "sygehuset",
            event.admitted,
            (
                (names, who),
                ("the admitting organisation's name (directory)", event.sender.name or ""),
                (event.origin("admitted").source, event.admitted.isoformat()),
            ),
        )
        admission = AdmissionEvent(
            source_key=event.source_key,
            patient=patient,
            hospital=event.sender,
            admitted=event.admitted,
            text=text,
            episode_of_care_identifier=event.episode_of_care_identifier,
            encounter_class=event.encounter_class,
            sources=(("episode", event.origin("episode")), ("encounter_class", event.origin("encounter_class"))),
        )
        stay = self._stay_notices()
        for notice in stay.admission(admission, sender, plan, ctx):
            planning.add(notice.kind, notice.recipient, notice.message, ctx, notice.disclosure, notice.carries)
        planning.withheld += stay.withheld

    # -- OIOXML ----------------------------------------------------------------------------------------------

    def from_discharge_letter(self, letter: DischargeLetter, ctx: MappingContext) -> Planning:
        planning = Planning()
        sender = self._sender(letter.sender.gln or letter.sender.sor or "", "Sender/EANIdentifier")
        gp = self._recipient_of_party(letter.receiver, "Receiver")
        plan = self.plans.current_plan_for(letter.patient.cpr, self.access)
        event = discharge_event_from_letter(
            letter,
            sender=party_of(sender, "Sender/EANIdentifier"),
            receiver=party_of(gp, "Receiver"),
            author=self._author(sender),
        )
        municipality = self._home_municipality(plan, "Patient") if plan else None
        self._discharge_notices(event, gp, municipality, plan, ctx, planning)
        return planning

    def from_correspondence(
        self, letter: Correspondence, ctx: MappingContext, binaries: tuple[BinaryObject, ...] = ()
    ) -> Planning:
        sender = self._sender(letter.sender.gln or letter.sender.sor or "", "Sender/EANIdentifier")
        receiver = self._recipient_of_party(letter.receiver, "Receiver")
        resolved = ResolvedParties(
            sender=party_of(sender, "/Emessage/ClinicalEmail/Sender/EANIdentifier"),
            receiver=party_of(receiver, "/Emessage/ClinicalEmail/Receiver"),
            author=self._optional_author(sender),
            binaries=binaries,
        )
        planning = Planning()
        planning.add("care-communication", receiver, care_communication_from_correspondence(letter, resolved, ctx), ctx)
        return planning

    # -- FHIR ------------------------------------------------------------------------------------------------

    def from_fhir_message(self, message: CareCommunicationMessage, ctx: MappingContext) -> Planning:
        receiver = self._recipient_of_party(message.receiver, "MessageHeader.destination.receiver")
        if ctx.explain is not None:
            ctx.explain.relayed(message.bundle)
        planning = Planning()
        planning.add("care-communication", receiver, message.bundle, ctx)
        return planning

    # -- shared ----------------------------------------------------------------------------------------------

    def _discharge_notices(
        self,
        event: DischargeEvent,
        gp: Recipient,
        municipality: Recipient | None,
        plan: StoredPlan | None,
        ctx: MappingContext,
        planning: Planning,
    ) -> None:
        gp_decision = decide(plan, gp.sor or None, "followup", ctx.now)
        follow_up = follow_up_from_plan(plan.document) if plan and gp_decision.permit else None
        if plan is not None and not gp_decision.permit:
            planning.withheld.append(
                Withheld(
                    "the plan's follow-up in the GP's discharge letter", gp.name, gp_decision.code, gp_decision.reason
                )
            )
        message = discharge_care_communication(event, follow_up, ctx)
        carried = (plan.plan_id, "followup") if plan is not None and follow_up is not None else None
        said = f"{gp_decision.code}: {gp_decision.reason}"
        planning.add("care-communication-discharge", gp, message, ctx, said, carried)
        told = [gp.sor]
        if municipality is not None and plan is not None:
            decision = decide(plan, municipality.sor or None, "followup", ctx.now)
            if decision.permit:
                to_municipality = DischargeEvent(
                    source_key=f"{event.source_key}|municipality",
                    patient=event.patient,
                    sender=event.sender,
                    receiver=party_of(municipality, "the home municipality (plan: citizen.municipality_code)"),
                    author=event.author,
                    discharged=event.discharged,
                    text=event.text,
                    episode_of_care_identifier=event.episode_of_care_identifier,
                    encounter_class=event.encounter_class,
                    sources=event.sources,
                )
                message = municipality_care_communication(to_municipality, follow_up_from_plan(plan.document), ctx)
                said = f"{decision.code}: {decision.reason}"
                planning.add(
                    "care-communication-followup", municipality, message, ctx, said, (plan.plan_id, "followup")
                )
                told.append(municipality.sor)
            else:
                planning.withheld.append(
                    Withheld("care-communication-followup", municipality.name, decision.code, decision.reason)
                )
        if plan is not None:
            stay = self._stay_notices()
            for notice in stay.discharge(event, plan, tuple(sor for sor in told if sor), ctx):
                planning.add(notice.kind, notice.recipient, notice.message, ctx, notice.disclosure, notice.carries)
            planning.withheld += stay.withheld

    def _stay_notices(self) -> StayNotices:
        return StayNotices(self._find, self._sender, party_of, self._author)

    def _find(self, **keys: str | None) -> Recipient:
        try:
            return self.directory.find(**keys)
        except IssueError as error:
            asked = ", ".join(f"{k} {v}" for k, v in keys.items() if v)
            raise _at(error, f"directory ({asked}): the citizen's consent permits this recipient") from None

    def _sender(self, code: str, where: str) -> SenderOrganisation:
        try:
            return self.directory.sender(code)
        except IssueError as error:
            raise _at(error, where) from None

    def _recipient_of_party(self, party: Party, where: str) -> Recipient:
        provider = party.identifier if party.identifier_code == "ydernummer" else None
        try:
            return self.directory.find(sor=party.sor, gln=party.gln, provider_number=provider)
        except IssueError as error:
            raise _at(error, where) from None

    def _home_municipality(self, plan: StoredPlan | None, where: str) -> Recipient:
        if plan is None:
            raise IssueError.single(
                "business-rule",
                "The citizen's home municipality is not known: there is no active shared plan for this CPR number, "
                "and the input does not name a municipality",
                expression=where,
                message_id="intake.municipality-unknown",
                status=422,
            )
        try:
            return self.directory.find(municipality=plan.document.citizen.municipality_code)
        except IssueError as error:
            raise _at(error, where) from None

    def _gp_of_adt(self, adt: AdtEvent, plan: StoredPlan | None) -> Recipient:
        gp = adt.general_practitioner
        plan_gp = plan.document.citizen.gp if plan else None
        try:
            if gp is not None and (gp.sor or gp.provider_number):
                return self.directory.find(sor=gp.sor, provider_number=gp.provider_number)
            if plan_gp is not None:
                return self.directory.find(sor=plan_gp.sor, gln=plan_gp.gln, provider_number=plan_gp.provider_number)
        except IssueError as error:
            raise _at(error, "PD1-4") from None
        raise IssueError.single(
            "required",
            "The citizen's GP is not known: PD1-4 / ROL are empty and the shared plan names no GP",
            expression="PD1-4",
            message_id="intake.gp-unknown",
            status=422,
        )

    def _author(self, sender: SenderOrganisation) -> Author:
        author = self._optional_author(sender)
        if author is None:
            raise IssueError.single(
                "business-rule",
                f"Sender {sender.name} has no signatory in the directory; a CareCommunication needs an author",
                message_id="intake.author-unknown",
                status=422,
            )
        return author

    @staticmethod
    def _optional_author(sender: SenderOrganisation) -> Author | None:
        signatory = sender.signatory
        if signatory is None:
            return None
        return Author(
            signatory.family,
            signatory.given,
            signatory.phone,
            signatory.role_code,
            origin=Origin("directory", f"signatory of {sender.name} (directory `senders`)"),
        )


def hospital_notification_header_id(source_key: str, namespace: uuid.UUID) -> str:
    """The MessageHeader.id the HospitalNotification of an input gets (UUID v5 of its identity)."""
    return derived_uuid(source_key, "MessageHeader", namespace=namespace)
