"""The plan as the pages, the narratives and the PDF show it: a plan document turned into plain Danish values.

`plan_view` is pure (a `PlanDocument` in, a `PlanView` out); the templates only lay the values out, so the page,
the FHIR narrative and the PDF cannot say different things.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.web import words
from mappings.documents.plan import DeniedParty, Goal, Organisation, PersonName, PlanDocument, TeamMember


@dataclass(frozen=True, slots=True)
class MemberView:
    key: str
    name: str
    role: str
    organisation: str
    phone: str
    email: str
    coordinator: bool
    permitted: bool
    period: str


@dataclass(frozen=True, slots=True)
class WishView:
    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class GoalView:
    key: str
    text: str
    term: str
    status: str
    start: str
    target: str


@dataclass(frozen=True, slots=True)
class InterventionView:
    key: str
    text: str
    responsible: str
    until: str
    status: str
    goals: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CrisisPlanView:
    kind: str
    made_on: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CategoryView:
    code: str
    words: str
    shared: bool


@dataclass(frozen=True, slots=True)
class ConsentView:
    decision: str
    decision_code: str
    period: str
    categories: tuple[CategoryView, ...]
    denied: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PlanView:
    plan_id: str
    version: int
    citizen: str
    status: str
    meeting: str
    next_meeting: str
    coordinator: MemberView | None
    wishes: tuple[WishView, ...]
    short_goals: tuple[GoalView, ...]
    long_goals: tuple[GoalView, ...]
    interventions: tuple[InterventionView, ...]
    team: tuple[MemberView, ...]
    crisis_plans: tuple[CrisisPlanView, ...]
    consent: ConsentView
    #: Whether the plan is on hold: shown to the citizen, whose page still holds it (`plans.citizens_plan`).
    paused: bool = False


def person_name(name: PersonName | None) -> str:
    return "" if name is None else " ".join((*name.given, name.family))


def organisation_name(organisation: Organisation | None) -> str:
    return "" if organisation is None else organisation.name


def member_view(document: PlanDocument, member: TeamMember) -> MemberView:
    role = words.ROLE[member.role]
    if member.relationship:
        role = f"{role} ({words.RELATIONSHIP.get(member.relationship, member.relationship)})"
    period = member.period
    until = f" til {words.long_date(period.end)}" if period.end else ""
    return MemberView(
        key=member.key,
        name=person_name(member.name) or organisation_name(member.organisation),
        role=role,
        organisation=organisation_name(member.organisation) if member.name else "",
        phone=member.phone or "",
        email=member.email or "",
        coordinator=member.key == document.coordination.coordinator,
        permitted=member.key in document.consent.permitted and document.consent.decision == "given",
        period=f"Med fra {words.long_date(period.start)}{until}",
    )


def _goal_view(goal: Goal) -> GoalView:
    return GoalView(
        key=goal.key,
        text=goal.description,
        term=words.GOAL_TERM[goal.term],
        status=words.GOAL_STATUS[goal.status],
        start=words.long_date(goal.start_date),
        target=words.long_date(goal.target_date),
    )


def denied_text(party: DeniedParty) -> str:
    """ "din far, Bent Østergård" / "Herlev Kommune"."""
    parts = []
    if party.relationship:
        parts.append(f"din {words.RELATIONSHIP.get(party.relationship, party.relationship)}")
    if party.name:
        parts.append(person_name(party.name))
    if party.organisation:
        parts.append(party.organisation.name)
    return ", ".join(parts)


def consent_view(document: PlanDocument) -> ConsentView:
    consent = document.consent
    until = f" til {words.long_date(consent.period.end)}" if consent.period.end else ""
    return ConsentView(
        decision=words.CONSENT_DECISION[consent.decision],
        decision_code=consent.decision,
        period=f"Fra {words.long_date(consent.period.start)}{until}",
        categories=tuple(
            CategoryView(code, text, consent.decision == "given" and code in consent.data)
            for code, text in words.DATA_CATEGORY.items()
        ),
        denied=tuple(denied_text(party) for party in consent.denied),
    )


def plan_view(document: PlanDocument, plan_id: str, version: int) -> PlanView:
    team = tuple(member_view(document, member) for member in document.team)
    by_key = {member.key: member for member in team}
    goal_texts = {goal.key: goal.description for goal in document.goals}
    goals = [_goal_view(goal) for goal in document.goals]
    interventions = tuple(
        InterventionView(
            key=item.key,
            text=item.description,
            responsible=_responsible(by_key.get(item.responsible)),
            until=words.long_date(item.until),
            status=words.INTERVENTION_STATUS[item.status],
            goals=tuple(goal_texts[key] for key in item.goals if key in goal_texts),
        )
        for item in document.interventions
    )
    return PlanView(
        plan_id=plan_id,
        version=version,
        citizen=person_name(document.citizen.name),
        status=words.PLAN_STATUS[document.status],
        meeting=words.long_date(document.coordination.meeting_date),
        next_meeting=words.long_date(document.coordination.next_meeting),
        coordinator=by_key.get(document.coordination.coordinator),
        wishes=tuple(WishView(words.WISH_KIND[wish.kind], wish.text) for wish in document.wishes),
        short_goals=tuple(
            goal for goal, source in zip(goals, document.goals, strict=True) if source.term == "short-term"
        ),
        long_goals=tuple(
            goal for goal, source in zip(goals, document.goals, strict=True) if source.term == "long-term"
        ),
        interventions=interventions,
        team=team,
        crisis_plans=tuple(
            CrisisPlanView(words.CRISIS_KIND[plan.kind], words.long_date(plan.made_on), tuple(plan.text.splitlines()))
            for plan in document.crisis_plans
        ),
        consent=consent_view(document),
        paused=document.status == "on-hold",
    )


def _responsible(member: MemberView | None) -> str:
    if member is None:
        return ""
    return f"{member.name} ({member.role})"
