"""Cross-field business rules of the plan document, each reported with a JSON pointer and a stable message id.

They run after the structure and the formats are sound (pydantic's `after` model validator), and every rule runs,
so one response names every offending field. Rules that exist because of the FHIR mapping say so: e.g. two
organisation-only team members in the same organisation could not be told apart in `CareTeam.participant`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from mappings.issues import Issue

if TYPE_CHECKING:
    from mappings.documents.plan import Organisation, Period, PlanDocument


def _rule(pointer: str, message_id: str, text: str) -> Issue:
    return Issue("error", "business-rule", text, pointer, message_id)


def _period(pointer: str, period: Period) -> Iterator[Issue]:
    if period.end is not None and period.end < period.start:
        yield _rule(f"{pointer}/end", "plan.period-reversed", "A period must not end before it starts")


def _duplicates(pointer: str, keys: list[str], what: str) -> Iterator[Issue]:
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if key in seen:
            yield _rule(f"{pointer}/{index}/key", "plan.key-duplicate", f"{what} key {key!r} is used twice")
        seen.add(key)


def _identified(org: Organisation) -> bool:
    return org.sor is not None or org.gln is not None or org.provider_number is not None


def _organisations(doc: PlanDocument) -> Iterator[Issue]:
    from mappings.documents.plan import iter_organisations

    first: dict[tuple[str, str], Organisation] = {}
    for pointer, org in iter_organisations(doc):
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


def _team(doc: PlanDocument) -> Iterator[Issue]:
    yield from _duplicates("/team", [member.key for member in doc.team], "Team member")
    org_only: dict[tuple[str, str], str] = {}
    for index, member in enumerate(doc.team):
        pointer = f"/team/{index}"
        yield from _period(f"{pointer}/period", member.period)
        if member.role == "relative":
            if member.relationship is None:
                yield _rule(f"{pointer}/relationship", "plan.relationship-missing", "A relative needs a relationship")
            if member.name is None:
                yield _rule(f"{pointer}/name", "plan.relative-name-missing", "A relative needs a name")
            if member.organisation is not None:
                yield _rule(f"{pointer}/organisation", "plan.relative-organisation", "A relative has no organisation")
        elif member.relationship is not None:
            yield _rule(
                f"{pointer}/relationship", "plan.relationship-not-relative", "Only relatives have a relationship"
            )
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


def _plan_items(doc: PlanDocument, members: set[str]) -> Iterator[Issue]:
    yield from _duplicates("/goals", [goal.key for goal in doc.goals], "Goal")
    yield from _duplicates("/interventions", [item.key for item in doc.interventions], "Intervention")
    goals = {goal.key for goal in doc.goals}
    for index, goal in enumerate(doc.goals):
        if goal.start_date and goal.target_date and goal.target_date < goal.start_date:
            yield _rule(f"/goals/{index}/target_date", "plan.goal-target-before-start", "Target date before start")
    for index, item in enumerate(doc.interventions):
        if item.responsible not in members:
            yield _rule(
                f"/interventions/{index}/responsible",
                "plan.responsible-not-in-team",
                f"The responsible member {item.responsible!r} is not in the team",
            )
        for goal_index, goal_key in enumerate(item.goals):
            if goal_key not in goals:
                yield _rule(f"/interventions/{index}/goals/{goal_index}", "plan.goal-unknown", f"No goal {goal_key!r}")
        if len(set(item.goals)) != len(item.goals):
            yield _rule(f"/interventions/{index}/goals", "plan.goal-repeated", "A goal is listed twice")
    coordination = doc.coordination
    if coordination.coordinator not in members:
        yield _rule(
            "/coordination/coordinator",
            "plan.coordinator-not-in-team",
            f"The coordinator {coordination.coordinator!r} is not in the team",
        )
    if coordination.next_meeting is not None and coordination.next_meeting <= coordination.meeting_date:
        yield _rule(
            "/coordination/next_meeting", "plan.next-meeting-not-after", "The next meeting must come after this one"
        )


def _consent(doc: PlanDocument, members: set[str]) -> Iterator[Issue]:
    consent = doc.consent
    yield from _period("/consent/period", consent.period)
    for index, key in enumerate(consent.permitted):
        if key not in members:
            yield _rule(f"/consent/permitted/{index}", "plan.permitted-not-in-team", f"No team member {key!r}")
    if len(set(consent.permitted)) != len(consent.permitted):
        yield _rule("/consent/permitted", "plan.permitted-repeated", "A member is permitted twice")
    if len(set(consent.data)) != len(consent.data):
        yield _rule("/consent/data", "plan.data-repeated", "A data category is listed twice")
    if consent.decision == "refused" and consent.permitted:
        yield _rule("/consent/permitted", "plan.refused-but-permitted", "A refused consent permits nobody")
    for index, party in enumerate(consent.denied):
        pointer = f"/consent/denied/{index}"
        if (party.relationship is None) == (party.organisation is None):
            yield _rule(
                pointer, "plan.denied-party-ambiguous", "A denied party is either a relationship or an organisation"
            )
        if party.organisation is not None and party.name is not None:
            yield _rule(f"{pointer}/name", "plan.denied-organisation-name", "Name a person, not an organisation")


def check_plan(doc: PlanDocument) -> Iterator[Issue]:
    """Every business-rule violation in `doc`, in document order of the rules."""
    members = {member.key for member in doc.team}
    yield from _organisations(doc)
    yield from _team(doc)
    yield from _plan_items(doc, members)
    yield from _consent(doc, members)
