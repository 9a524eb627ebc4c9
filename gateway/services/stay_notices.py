"""The plan's people told of a stay, each only where the citizen's consent permits it (`may_disclose`).

At admission (a STIN or STAA, whatever input it came from):
- the **admitting organisation** (the hospital that reported the admission) gets the citizen's crisis plan and
  advance directive when the consent permits `crisisplan` for it. They are sent by the organisation that keeps the
  plan (the SOR code of the plan's `source.system`, `https://sor2.sum.dsdn.dk/#id=<SOR>`), a sender in the
  directory: the people we build for ask that "advance directives and crisis plans made in a stable phase are
  used during admission";
- the **coordinator's organisation** (the stafetholder's, chosen at the last coordination meeting) is told of the
  admission when the consent permits `followup` for it.
At discharge, the coordinator's organisation is told of the discharge (`followup`), unless the GP letter or the
municipality's follow-up already reaches that very organisation.

Consent is decided only by `mappings.plan.may_disclose`, for the recipient's SOR code. What is not sent is
`Withheld`: the intake reply and the audit trail say what and why. An organisation the consent permits but the
directory cannot deliver to is a 422 (`delivery.recipient-unknown`), never a silent drop.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from gateway.delivery.directory import Recipient, SenderOrganisation
from gateway.services.plans import StoredPlan
from mappings.context import MappingContext
from mappings.documents.discharge import AdmissionEvent, Author, DischargeEvent, Party
from mappings.documents.plan import Organisation
from mappings.issues import IssueError
from mappings.notices.follow_up import crisis_plans_of
from mappings.notices.stay_messages import (
    coordinator_admission_communication,
    coordinator_discharge_communication,
    crisis_plan_communication,
)
from mappings.plan import Decision, may_disclose
from mappings.plan import Recipient as DisclosureRecipient

Resource = dict[str, object]
_SOR_ENDPOINT = re.compile(r"^https://sor2\.sum\.dsdn\.dk/#id=(\d{11,})$")


@dataclass(frozen=True)
class Withheld:
    """A notice (or a part of one) that was not sent, and why: for the intake reply and the audit trail."""

    kind: str
    recipient: str
    code: str
    reason: str

    def note(self) -> str:
        return f"withheld: {self.kind} → {self.recipient}: {self.code}: {self.reason}"

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "recipient": self.recipient, "code": self.code, "reason": self.reason}


@dataclass(frozen=True)
class StayNotice:
    """A consented CareCommunication about the stay, addressed."""

    kind: str
    recipient: Recipient
    message: dict[str, object]
    disclosure: str
    carries: tuple[str, str]  # (plan id, data category) of the plan content it carries: decided again if queued


def decide(plan: StoredPlan | None, sor: str | None, data: str, at: datetime) -> Decision:
    """`may_disclose` for an organisation known by its SOR code (the one access rule; nothing else decides)."""
    return may_disclose(plan.consent if plan else None, DisclosureRecipient(sor=sor), data, at)


def plan_keeper_sor(plan: StoredPlan) -> str | None:
    """The SOR code of the organisation that keeps the plan: its `source.system` when that is a SOR endpoint."""
    found = _SOR_ENDPOINT.match(plan.document.source.system)
    return found.group(1) if found else None


def coordinator_organisation(plan: StoredPlan) -> Organisation | None:
    members = {member.key: member for member in plan.document.team}
    coordinator = members.get(plan.document.coordination.coordinator)
    return coordinator.organisation if coordinator is not None else None


class StayNotices:
    """Plans the consented CareCommunications of one admission or discharge (see the module docstring)."""

    def __init__(
        self,
        find: Callable[..., Recipient],
        sender: Callable[[str, str], SenderOrganisation],
        party_of: Callable[[Recipient | SenderOrganisation, str], Party],
        author_of: Callable[[SenderOrganisation], Author],
    ) -> None:
        self.find = find
        self.sender = sender
        self.party_of = party_of
        self.author_of = author_of
        self.withheld: list[Withheld] = []

    def admission(
        self, event: AdmissionEvent, hospital: SenderOrganisation, plan: StoredPlan, ctx: MappingContext
    ) -> list[StayNotice]:
        notices = self._crisis_plan(event, hospital, plan, ctx)
        coordinator = self._coordinator(plan, ctx.now, "care-communication-admission", exclude=())
        if coordinator is not None:
            recipient, decision = coordinator
            message = coordinator_admission_communication(
                event, self.party_of(recipient, "the coordinator's organisation"), self.author_of(hospital), ctx
            )
            carries = (plan.plan_id, "followup")
            notices.append(StayNotice("care-communication-admission", recipient, message, _said(decision), carries))
        return notices

    def discharge(
        self, event: DischargeEvent, plan: StoredPlan, already_told: tuple[str, ...], ctx: MappingContext
    ) -> list[StayNotice]:
        """The discharge to the coordinator's organisation; `already_told` are the SOR codes other discharge
        notices of this input reach (the GP, the municipality's follow-up)."""
        coordinator = self._coordinator(plan, ctx.now, "care-communication-discharge-coordinator", already_told)
        if coordinator is None:
            return []
        recipient, decision = coordinator
        to_coordinator = replace(event, receiver=self.party_of(recipient, "the coordinator's organisation"))
        message = coordinator_discharge_communication(to_coordinator, ctx)
        carries = (plan.plan_id, "followup")
        return [StayNotice("care-communication-discharge-coordinator", recipient, message, _said(decision), carries)]

    def _crisis_plan(
        self, event: AdmissionEvent, hospital: SenderOrganisation, plan: StoredPlan, ctx: MappingContext
    ) -> list[StayNotice]:
        kind = "care-communication-crisisplan"
        crisis_plans = crisis_plans_of(plan.document)
        if not crisis_plans:
            self.withheld.append(Withheld(kind, hospital.name, "plan.no-crisis-plan", "The plan holds no crisis plan"))
            return []
        decision = decide(plan, hospital.sor, "crisisplan", ctx.now)
        if not decision.permit:
            self.withheld.append(
                Withheld(kind, f"{hospital.name} (SOR {hospital.sor})", decision.code, decision.reason)
            )
            return []
        recipient = self.find(sor=hospital.sor, gln=hospital.gln or None)
        keeper_sor = plan_keeper_sor(plan)
        if keeper_sor is None:
            raise IssueError.single(
                "business-rule",
                f"The crisis plan may go to {hospital.name}, but the plan's source ({plan.document.source.system}) "
                "names no SOR organisation to send it from; plans are expected from https://sor2.sum.dsdn.dk/#id=<SOR>",
                expression="plan.source.system",
                message_id="intake.plan-keeper-unknown",
                status=422,
            )
        keeper = self.sender(keeper_sor, "plan.source.system")
        message = crisis_plan_communication(
            event,
            crisis_plans,
            self.party_of(keeper, "the plan's source organisation"),
            self.author_of(keeper),
            ctx,
        )
        return [StayNotice(kind, recipient, message, _said(decision), (plan.plan_id, "crisisplan"))]

    def _coordinator(
        self, plan: StoredPlan, at: datetime, kind: str, exclude: tuple[str, ...]
    ) -> tuple[Recipient, Decision] | None:
        organisation = coordinator_organisation(plan)
        if organisation is None:
            self.withheld.append(
                Withheld(
                    kind,
                    "the coordinator",
                    "plan.coordinator-no-organisation",
                    "The coordinator has no organisation to send to",
                )
            )
            return None
        label = f"{organisation.name} (SOR {organisation.sor or 'unknown'})"
        if organisation.sor is not None and organisation.sor in exclude:
            return None  # told by another notice of this input
        decision = decide(plan, organisation.sor, "followup", at)
        if not decision.permit:
            self.withheld.append(Withheld(kind, label, decision.code, decision.reason))
            return None
        return self.find(sor=organisation.sor, gln=organisation.gln), decision


def _said(decision: Decision) -> str:
    return f"{decision.code}: {decision.reason}"
