"""Which notices an inbound message becomes, and for whom (the routing half of intake).

Per input (issue 5):
- HL7 v2 ADT (A01 admit, A03 discharge, A13 cancel discharge, A21/A22 leave, ...): a MedCom HospitalNotification to
  the citizen's home municipality, always (it carries no plan content and is sent under its own legal basis);
  for an A03 also a CareCommunication (category `discharge`) to the citizen's GP, with the plan's follow-up only
  where the citizen's consent permits disclosure to that GP, and a CareCommunication (`carecoordination`) with the
  follow-up to the municipality only where the consent permits that.
- OIOXML XDIS01 discharge letter: the GP CareCommunication (+ the municipality one), as for an A03.
- OIOXML XDIS91 correspondence: converted to a CareCommunication for its own receiver (MedCom's conversion).
- FHIR CareCommunication message: relayed to its receiver unchanged (the worker gives each send a new Bundle.id).

The home municipality comes from the citizen's stored plan (`citizen.municipality_code`): HL7 v2 ADT and XDIS01
do not carry it. A citizen without a plan therefore gets no HospitalNotification; intake says so (422).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.delivery.directory import Recipient, RecipientDirectory, SenderOrganisation
from gateway.fhir.access import OPEN, Access
from gateway.services.plans import PlanService, StoredPlan
from mappings.context import MappingContext
from mappings.documents.discharge import (
    AdtEvent,
    Author,
    CareCommunicationMessage,
    Correspondence,
    DischargeEvent,
    DischargeLetter,
    Party,
    PriorNotice,
    ResolvedParties,
)
from mappings.issues import Issue, IssueError
from mappings.notices.care_communication import (
    care_communication_from_correspondence,
    discharge_care_communication,
    municipality_care_communication,
)
from mappings.notices.follow_up import follow_up_from_plan
from mappings.notices.hospital_notification import hospital_notification_from_event
from mappings.notices.stay_events import (
    discharge_event_from_adt,
    discharge_event_from_letter,
    episode_of_care_identifier,
    stay_event_from_adt,
)
from mappings.plan import Decision, may_disclose
from mappings.plan import Recipient as DisclosureRecipient

Resource = dict[str, Any]
#: (citizen CPR, recipient key, episode-of-care identifier) -> the stay's earlier notices to that recipient.
HistoryLookup = Callable[[str, str, str], tuple[PriorNotice, ...]]


@dataclass(frozen=True)
class PlannedNotice:
    """A notice built and addressed, not yet validated or stored."""

    kind: str
    recipient: Recipient
    message: Resource
    disclosure: str | None = None  # why plan content is (or is not) included, for the operator
    plan_id: str | None = None  # the shared plan whose content it carries (consent is decided again on replay)


def party_of(organisation: Recipient | SenderOrganisation) -> Party:
    return Party(gln=organisation.gln, sor=organisation.sor, name=organisation.name)


def disclosure_recipient(recipient: Recipient) -> DisclosureRecipient:
    """A directory recipient as `may_disclose` sees it: by its SOR code (the consent names organisations by SOR)."""
    return DisclosureRecipient(sor=recipient.sor)


class NoticePlanner:
    def __init__(self, directory: RecipientDirectory, plans: PlanService, access: Access = OPEN) -> None:
        self.directory = directory
        self.plans = plans
        self.access = access

    # -- HL7 v2 ----------------------------------------------------------------------------------------------

    def from_adt(self, adt: AdtEvent, ctx: MappingContext, history: HistoryLookup) -> list[PlannedNotice]:
        sender = self._sender(_facility_code(adt.sending_facility), "MSH-4")
        plan = self.plans.current_plan_for(adt.patient.cpr, self.access)
        municipality = self._home_municipality(plan, "PID-3")
        episode = episode_of_care_identifier(adt.visit_number, adt.sending_facility)
        episode_notices = history(adt.patient.cpr, municipality.key, episode)
        event = stay_event_from_adt(
            adt, sender=party_of(sender), receiver=party_of(municipality), history=episode_notices
        )
        notices = [PlannedNotice("hospital-notification", municipality, hospital_notification_from_event(event, ctx))]
        if adt.trigger == "A03" and not adt.patient.deceased:
            gp = self._gp_of_adt(adt, plan)
            text = (
                f"{adt.patient.given[0] if adt.patient.given else 'Borgeren'} er udskrevet fra "
                f"{sender.name} {adt.discharged:%d.%m.%Y kl. %H:%M}."
                if adt.discharged
                else ""
            )
            discharge = discharge_event_from_adt(
                adt, sender=party_of(sender), receiver=party_of(gp), author=self._author(sender), text=text
            )
            notices += self._discharge_notices(discharge, gp, municipality, plan, ctx)
        return notices

    # -- OIOXML ----------------------------------------------------------------------------------------------

    def from_discharge_letter(self, letter: DischargeLetter, ctx: MappingContext) -> list[PlannedNotice]:
        sender = self._sender(letter.sender.gln or letter.sender.sor or "", "Sender/EANIdentifier")
        gp = self._recipient_of_party(letter.receiver, "Receiver")
        plan = self.plans.current_plan_for(letter.patient.cpr, self.access)
        event = discharge_event_from_letter(
            letter, sender=party_of(sender), receiver=party_of(gp), author=self._author(sender)
        )
        municipality = self._home_municipality(plan, "Patient") if plan else None
        return self._discharge_notices(event, gp, municipality, plan, ctx)

    def from_correspondence(self, letter: Correspondence, ctx: MappingContext) -> list[PlannedNotice]:
        sender = self._sender(letter.sender.gln or letter.sender.sor or "", "Sender/EANIdentifier")
        receiver = self._recipient_of_party(letter.receiver, "Receiver")
        resolved = ResolvedParties(
            sender=party_of(sender), receiver=party_of(receiver), author=self._optional_author(sender)
        )
        message = care_communication_from_correspondence(letter, resolved, ctx)
        return [PlannedNotice("care-communication", receiver, message)]

    # -- FHIR ------------------------------------------------------------------------------------------------

    def from_fhir_message(self, message: CareCommunicationMessage) -> list[PlannedNotice]:
        receiver = self._recipient_of_party(message.receiver, "MessageHeader.destination.receiver")
        return [PlannedNotice("care-communication", receiver, message.bundle)]

    # -- shared ----------------------------------------------------------------------------------------------

    def _discharge_notices(
        self,
        event: DischargeEvent,
        gp: Recipient,
        municipality: Recipient | None,
        plan: StoredPlan | None,
        ctx: MappingContext,
    ) -> list[PlannedNotice]:
        notices: list[PlannedNotice] = []
        gp_decision = _decide(plan, gp, ctx.now)
        follow_up = follow_up_from_plan(plan.document) if plan and gp_decision.permit else None
        notices.append(
            PlannedNotice(
                "care-communication-discharge",
                gp,
                discharge_care_communication(event, follow_up, ctx),
                f"{gp_decision.code}: {gp_decision.reason}",
                plan.plan_id if follow_up is not None and plan else None,
            )
        )
        if municipality is not None and plan is not None:
            decision = _decide(plan, municipality, ctx.now)
            if decision.permit:
                to_municipality = DischargeEvent(
                    source_key=f"{event.source_key}|municipality",
                    patient=event.patient,
                    sender=event.sender,
                    receiver=party_of(municipality),
                    author=event.author,
                    discharged=event.discharged,
                    text=event.text,
                    episode_of_care_identifier=event.episode_of_care_identifier,
                    encounter_class=event.encounter_class,
                )
                message = municipality_care_communication(to_municipality, follow_up_from_plan(plan.document), ctx)
                notices.append(
                    PlannedNotice(
                        "care-communication-followup",
                        municipality,
                        message,
                        f"{decision.code}: {decision.reason}",
                        plan.plan_id,
                    )
                )
        return notices

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
        return Author(signatory.family, signatory.given, signatory.phone, signatory.role_code)


def _decide(plan: StoredPlan | None, recipient: Recipient, at: datetime) -> Decision:
    consent = plan.consent if plan else None
    return may_disclose(consent, disclosure_recipient(recipient), "followup", at)


def _facility_code(facility: str) -> str:
    """MSH-4 `name^universal id^type` (HD): the SOR code is the universal id when the type is SOR."""
    parts = facility.split("^")
    return parts[1] if len(parts) > 1 and parts[1] else parts[0]


def _at(error: IssueError, where: str) -> IssueError:
    issues = tuple(Issue(i.severity, i.code, i.diagnostics, i.expression or where, i.message_id) for i in error.issues)
    return IssueError(issues, status=422)
