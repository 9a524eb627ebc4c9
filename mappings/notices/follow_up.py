"""The agreed follow-up of a shared plan, as the discharge notices carry it (pure).

Only called after `may_disclose(consent, recipient, "followup", at)` has permitted it: the coordinator chosen at
the last coordination meeting (stafetholder) and the next meeting, the interventions still open, and whether a
crisis plan exists (its presence only: the crisis plan's text is not follow-up data; it goes to the admitting ward
only where the consent permits `crisisplan`, `crisis_plans_of`).
"""

from __future__ import annotations

from mappings.documents.plan import PersonName, PlanDocument, TeamMember
from mappings.documents.plan_facts import CrisisPlan, InterventionDue, PlanFollowUp

_OPEN = ("not-started", "scheduled", "in-progress", "on-hold")
_ROLE_TEXT = {
    "fact-contact": "FACT-kontaktperson",
    "housing-contact": "kontaktperson på botilbud",
    "housing-support": "bostøtte",
    "general-practitioner": "egen læge",
    "social-worker": "socialrådgiver",
    "job-centre": "jobcenter",
    "relative": "pårørende",
    "volunteer": "frivillig",
    "discharge-mentor": "udskrivelsesmentor",
    "psychiatrist": "psykiater",
    "nurse": "sygeplejerske",
    "psychologist": "psykolog",
    "substance-abuse-counsellor": "misbrugskonsulent",
    "other": "andet",
}


def _name(member: TeamMember) -> str:
    name: PersonName | None = member.name
    if name is not None:
        return " ".join([*name.given, name.family])
    if member.organisation is not None:
        return member.organisation.name
    return member.key


def follow_up_from_plan(plan: PlanDocument) -> PlanFollowUp:
    """The follow-up part of `plan`: coordinator, next meeting (a date), open interventions, crisis plan present."""
    members = {member.key: member for member in plan.team}
    coordinator = members[plan.coordination.coordinator]
    return PlanFollowUp(
        coordinator_name=_name(coordinator),
        coordinator_role=_ROLE_TEXT.get(coordinator.role, coordinator.role),
        coordinator_phone=coordinator.phone,
        next_meeting=plan.coordination.next_meeting,
        interventions_due=tuple(
            InterventionDue(
                description=intervention.description,
                due=intervention.until,
                responsible=_name(members[intervention.responsible]) if intervention.responsible in members else None,
                key=intervention.key,
            )
            for intervention in plan.interventions
            if intervention.status in _OPEN
        ),
        crisis_plan_present=bool(plan.crisis_plans),
        coordinator_field=f"team[{coordinator.key}].name",
    )


def crisis_plans_of(plan: PlanDocument) -> tuple[CrisisPlan, ...]:
    """The plan's crisis plans and advance directives, as the citizen made them."""
    return tuple(CrisisPlan(kind=item.kind, text=item.text, made_on=item.made_on) for item in plan.crisis_plans)
