"""Cross-field business rules of the plan document, each reported with a JSON pointer and a stable message id.

The rules run on `PlanParts`: every section and list item of the submitted document that passed the schema on
its own, with its index in the document. So a document with a bad GLN in one team member still has its goals,
interventions and consent checked, and one answer names every problem (schema and rules together). Keys are taken
from the raw document, also from items that failed the schema: a member whose GLN is wrong is still in the team,
and an intervention naming it is not reported as dangling.

Every rule runs; to add one, write a function `PlanParts -> Iterator[Issue]` and append it to `RULES`. Rules that
exist because of the FHIR mapping say so: e.g. two organisation-only team members in the same organisation could
not be told apart in `CareTeam.participant`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from mappings.documents.plan_model import (
    Citizen,
    Coordination,
    Goal,
    Intervention,
    Organisation,
    Period,
    PlanConsent,
    PlanDocument,
    TeamMember,
    organisations_of,
)
from mappings.issues import Issue


@dataclass(frozen=True)
class PlanParts:
    """The parts of a plan document the rules read; `None` or a missing index where that part failed the schema."""

    citizen: Citizen | None
    goals: tuple[tuple[int, Goal], ...]
    interventions: tuple[tuple[int, Intervention], ...]
    coordination: Coordination | None
    team: tuple[tuple[int, TeamMember], ...]
    consent: PlanConsent | None
    #: (index, key) of every item of each keyed list (`team`, `goals`, `interventions`) whose key is a string,
    #: whether or not the rest of the item passed; `None` when the list itself is not a list.
    keys: Mapping[str, tuple[tuple[int, str], ...] | None]

    @classmethod
    def of(cls, doc: PlanDocument) -> PlanParts:
        """All of a document that passed the schema."""
        return cls(
            citizen=doc.citizen,
            goals=tuple(enumerate(doc.goals)),
            interventions=tuple(enumerate(doc.interventions)),
            coordination=doc.coordination,
            team=tuple(enumerate(doc.team)),
            consent=doc.consent,
            keys={
                "team": tuple((index, item.key) for index, item in enumerate(doc.team)),
                "goals": tuple((index, item.key) for index, item in enumerate(doc.goals)),
                "interventions": tuple((index, item.key) for index, item in enumerate(doc.interventions)),
            },
        )

    def key_set(self, name: str) -> frozenset[str] | None:
        """The keys of list `name`, or `None` when they cannot be known (then references to it are not checked)."""
        pairs = self.keys.get(name)
        return None if pairs is None else frozenset(key for _, key in pairs)


Rule = Callable[[PlanParts], Iterator[Issue]]


def _rule(pointer: str, message_id: str, text: str) -> Issue:
    return Issue("error", "business-rule", text, pointer, message_id)


def _period(pointer: str, period: Period) -> Iterator[Issue]:
    if period.end is not None and period.end < period.start:
        yield _rule(f"{pointer}/end", "plan.period-reversed", "A period must not end before it starts")


def _duplicates(parts: PlanParts, name: str, what: str) -> Iterator[Issue]:
    seen: set[str] = set()
    for index, key in parts.keys.get(name) or ():
        if key in seen:
            yield _rule(f"/{name}/{index}/key", "plan.key-duplicate", f"{what} key {key!r} is used twice")
        seen.add(key)


def _identified(org: Organisation) -> bool:
    return org.sor is not None or org.gln is not None or org.provider_number is not None


def organisations(parts: PlanParts) -> Iterator[Issue]:
    first: dict[tuple[str, str], Organisation] = {}
    for pointer, org in organisations_of(parts.citizen, parts.team, parts.consent):
        if not _identified(org):
            yield _rule(
                pointer,
                "plan.organisation-unidentified",
                "An organisation needs a SOR code, a GLN or a provider number",
            )
            continue
        key = org.primary_identifier()
        if key in first and first[key] != org:
            yield _rule(
                pointer,
                "plan.organisation-inconsistent",
                f"Organisation {key[0]}={key[1]} is described differently elsewhere in the document",
            )
        first.setdefault(key, org)


def _relative(pointer: str, member: TeamMember) -> Iterator[Issue]:
    if member.role == "relative":
        if member.relationship is None:
            yield _rule(f"{pointer}/relationship", "plan.relationship-missing", "A relative needs a relationship")
        if member.name is None:
            yield _rule(f"{pointer}/name", "plan.relative-name-missing", "A relative needs a name")
        if member.organisation is not None:
            yield _rule(f"{pointer}/organisation", "plan.relative-organisation", "A relative has no organisation")
    elif member.relationship is not None:
        yield _rule(f"{pointer}/relationship", "plan.relationship-not-relative", "Only relatives have a relationship")


def team(parts: PlanParts) -> Iterator[Issue]:
    yield from _duplicates(parts, "team", "Team member")
    org_only: dict[tuple[str, str], str] = {}
    for index, member in parts.team:
        pointer = f"/team/{index}"
        yield from _period(f"{pointer}/period", member.period)
        yield from _relative(pointer, member)
        if member.name is None and member.organisation is None:
            yield _rule(pointer, "plan.member-empty", "A team member needs a name, an organisation or both")
        if member.name is None and (member.phone or member.email):
            yield _rule(
                f"{pointer}/phone" if member.phone else f"{pointer}/email",
                "plan.member-contact-without-person",
                "Phone and e-mail belong to a named person; an organisation's contact data comes from SOR",
            )
        if member.name is None and member.organisation is not None and _identified(member.organisation):
            key = member.organisation.primary_identifier()
            if key in org_only:
                yield _rule(
                    f"{pointer}/organisation",
                    "plan.member-indistinct",
                    f"Member {org_only[key]!r} already stands for this organisation; give one of them a name",
                )
            org_only.setdefault(key, member.key)


def goals_and_interventions(parts: PlanParts) -> Iterator[Issue]:
    yield from _duplicates(parts, "goals", "Goal")
    yield from _duplicates(parts, "interventions", "Intervention")
    members, goals = parts.key_set("team"), parts.key_set("goals")
    for index, goal in parts.goals:
        if goal.start_date and goal.target_date and goal.target_date < goal.start_date:
            yield _rule(f"/goals/{index}/target_date", "plan.goal-target-before-start", "Target date before start")
    for index, item in parts.interventions:
        if members is not None and item.responsible not in members:
            yield _rule(
                f"/interventions/{index}/responsible",
                "plan.responsible-not-in-team",
                f"The responsible member {item.responsible!r} is not in the team",
            )
        for goal_index, goal_key in enumerate(item.goals):
            if goals is not None and goal_key not in goals:
                yield _rule(f"/interventions/{index}/goals/{goal_index}", "plan.goal-unknown", f"No goal {goal_key!r}")
        if len(set(item.goals)) != len(item.goals):
            yield _rule(f"/interventions/{index}/goals", "plan.goal-repeated", "A goal is listed twice")


def coordination(parts: PlanParts) -> Iterator[Issue]:
    meeting, members = parts.coordination, parts.key_set("team")
    if meeting is None:
        return
    if members is not None and meeting.coordinator not in members:
        yield _rule(
            "/coordination/coordinator",
            "plan.coordinator-not-in-team",
            f"The coordinator {meeting.coordinator!r} is not in the team",
        )
    if meeting.next_meeting is not None and meeting.next_meeting <= meeting.meeting_date:
        yield _rule(
            "/coordination/next_meeting", "plan.next-meeting-not-after", "The next meeting must come after this one"
        )


def consent(parts: PlanParts) -> Iterator[Issue]:
    given, members = parts.consent, parts.key_set("team")
    if given is None:
        return
    yield from _period("/consent/period", given.period)
    for index, key in enumerate(given.permitted):
        if members is not None and key not in members:
            yield _rule(f"/consent/permitted/{index}", "plan.permitted-not-in-team", f"No team member {key!r}")
    if len(set(given.permitted)) != len(given.permitted):
        yield _rule("/consent/permitted", "plan.permitted-repeated", "A member is permitted twice")
    if len(set(given.data)) != len(given.data):
        yield _rule("/consent/data", "plan.data-repeated", "A data category is listed twice")
    if given.decision == "refused" and given.permitted:
        yield _rule("/consent/permitted", "plan.refused-but-permitted", "A refused consent permits nobody")
    for index, party in enumerate(given.denied):
        pointer = f"/consent/denied/{index}"
        if (party.relationship is None) == (party.organisation is None):
            yield _rule(
                pointer, "plan.denied-party-ambiguous", "A denied party is either a relationship or an organisation"
            )
        if party.organisation is not None and party.name is not None:
            yield _rule(f"{pointer}/name", "plan.denied-organisation-name", "Name a person, not an organisation")


#: Every rule, in the order their issues are reported. Append new rules here.
RULES: tuple[Rule, ...] = (organisations, team, goals_and_interventions, coordination, consent)


def check_plan(parts: PlanParts) -> Iterator[Issue]:
    """Every business-rule violation in `parts`, rule by rule."""
    for rule in RULES:
        yield from rule(parts)


__all__ = ["RULES", "PlanParts", "Rule", "check_plan"]
