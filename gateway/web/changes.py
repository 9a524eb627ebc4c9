"""What changed in the plan since the previous coordination meeting, in words (pure).

Items are matched by their keys (goals, interventions, team members) and wishes by their text, so a changed
deadline reads as "changed: deadline 3. juni 2025 → 1. juli 2025", not as one item removed and another added.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from gateway.web import words
from gateway.web.views import person_name
from mappings.documents.plan import Goal, Intervention, PlanDocument, TeamMember

Kind = Literal["added", "removed", "changed"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Change:
    section: str
    kind: Kind
    what: str
    details: tuple[str, ...] = ()


def _field_changes(old: T, new: T, fields: Sequence[tuple[str, Callable[[T], str]]]) -> tuple[str, ...]:
    found = []
    for label, read in fields:
        before, after = read(old), read(new)
        if before != after:
            found.append(f"{label}: {before or '–'} → {after or '–'}")
    return tuple(found)


def _keyed(
    section: str,
    old: Iterable[T],
    new: Iterable[T],
    key: Callable[[T], str],
    title: Callable[[T], str],
    fields: Sequence[tuple[str, Callable[[T], str]]],
) -> list[Change]:
    before = {key(item): item for item in old}
    after = {key(item): item for item in new}
    changes = [Change(section, "added", title(item)) for k, item in after.items() if k not in before]
    changes += [Change(section, "removed", title(item)) for k, item in before.items() if k not in after]
    for k, item in after.items():
        if k in before:
            details = _field_changes(before[k], item, fields)
            if details:
                changes.append(Change(section, "changed", title(item), details))
    return changes


_GOAL_FIELDS: list[tuple[str, Callable[[Goal], str]]] = [
    ("Beskrivelse", lambda g: g.description),
    ("Sigt", lambda g: words.GOAL_TERM[g.term]),
    ("Status", lambda g: words.GOAL_STATUS[g.status]),
    ("Start", lambda g: words.long_date(g.start_date)),
    ("Mål nået senest", lambda g: words.long_date(g.target_date)),
]


def _intervention_fields(old: PlanDocument, new: PlanDocument) -> list[tuple[str, Callable[[Intervention], str]]]:
    names = {m.key: person_name(m.name) or (m.organisation.name if m.organisation else m.key) for m in old.team}
    names |= {m.key: person_name(m.name) or (m.organisation.name if m.organisation else m.key) for m in new.team}
    return [
        ("Beskrivelse", lambda i: i.description),
        ("Ansvarlig", lambda i: names.get(i.responsible, i.responsible)),
        ("Frist", lambda i: words.long_date(i.until)),
        ("Status", lambda i: words.INTERVENTION_STATUS[i.status]),
    ]


_MEMBER_FIELDS: list[tuple[str, Callable[[TeamMember], str]]] = [
    ("Rolle", lambda m: words.ROLE[m.role]),
    ("Organisation", lambda m: m.organisation.name if m.organisation else ""),
    ("Telefon", lambda m: m.phone or ""),
    ("E-mail", lambda m: m.email or ""),
    ("Med til", lambda m: words.long_date(m.period.end)),
]


def _member_title(member: TeamMember) -> str:
    return person_name(member.name) or (member.organisation.name if member.organisation else member.key)


def plan_changes(old: PlanDocument, new: PlanDocument) -> list[Change]:
    """Every difference a team member would want to hear about, section by section."""
    changes: list[Change] = []
    old_wishes = {(w.kind, w.text) for w in old.wishes}
    new_wishes = {(w.kind, w.text) for w in new.wishes}
    changes += [
        Change("Ønsker, drømme og behov", "added", f"{words.WISH_KIND[k]}: {t}")
        for k, t in sorted(new_wishes - old_wishes)
    ]
    changes += [
        Change("Ønsker, drømme og behov", "removed", f"{words.WISH_KIND[k]}: {t}")
        for k, t in sorted(old_wishes - new_wishes)
    ]
    changes += _keyed("Mål", old.goals, new.goals, lambda g: g.key, lambda g: g.description, _GOAL_FIELDS)
    changes += _keyed(
        "Indsatser",
        old.interventions,
        new.interventions,
        lambda i: i.key,
        lambda i: i.description,
        _intervention_fields(old, new),
    )
    changes += _keyed("Teamet", old.team, new.team, lambda m: m.key, _member_title, _MEMBER_FIELDS)
    coordinators = {m.key: _member_title(m) for m in (*old.team, *new.team)}
    coordination = _field_changes(
        old,
        new,
        [
            ("Stafetholder", lambda d: coordinators.get(d.coordination.coordinator, d.coordination.coordinator)),
            ("Næste koordinationsmøde", lambda d: words.long_date(d.coordination.next_meeting)),
        ],
    )
    if coordination:
        changes.append(Change("Koordinering", "changed", "Stafetholder og næste møde", coordination))
    consent = _field_changes(
        old,
        new,
        [
            ("Beslutning", lambda d: words.CONSENT_DECISION[d.consent.decision]),
            ("Hvad må deles", lambda d: ", ".join(words.DATA_CATEGORY[c] for c in d.consent.data)),
            ("Hvem må se planen", lambda d: ", ".join(coordinators.get(k, k) for k in d.consent.permitted)),
        ],
    )
    if consent:
        changes.append(Change("Samtykke", "changed", "Hvem må se hvad", consent))
    old_crisis = {(c.kind, c.text) for c in old.crisis_plans}
    new_crisis = {(c.kind, c.text) for c in new.crisis_plans}
    if old_crisis != new_crisis:
        changes.append(Change("Kriseplan", "changed", "Kriseplan eller forhåndstilkendegivelse er ændret"))
    return changes
