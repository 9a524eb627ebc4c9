"""Hypothesis strategies for valid plan documents (every business rule satisfied by construction)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import strategies as st

from mappings.documents.plan import PlanDocument, municipality_codes, parse_plan_document

LETTERS = "abcdefghijklmnopqrstuvwxyzæøåÆØÅABCDEFGHIJKLMNOPQRSTUVWXYZé"
TEAM_ROLES = [
    "fact-contact", "housing-contact", "housing-support", "general-practitioner", "social-worker", "job-centre",
    "volunteer", "discharge-mentor", "psychiatrist", "nurse", "psychologist", "substance-abuse-counsellor", "other",
]  # fmt: skip
RELATIONSHIPS = ["FTH", "MTH", "SIS", "BRO", "SIB", "FRND", "NBOR", "SPS", "DOMPART", "GRMTH", "SONC", "DAUC", "NOK"]

words = st.text(alphabet=LETTERS, min_size=1, max_size=12)
texts = st.text(alphabet=LETTERS + " .,:;!?-()\n0123456789", min_size=1, max_size=80).map(str.strip).filter(bool)
dates = st.dates(min_value=date(2018, 1, 1), max_value=date(2030, 12, 31))
municipalities = st.sampled_from(sorted(municipality_codes()))


def gln(prefix: str) -> str:
    total = sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(prefix))
    return prefix + str((10 - total % 10) % 10)


@st.composite
def names(draw: st.DrawFn) -> dict[str, Any]:
    return {"given": draw(st.lists(words, min_size=1, max_size=3)), "family": draw(words)}


@st.composite
def periods(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(dates)
    period: dict[str, Any] = {"start": start.isoformat()}
    if draw(st.booleans()):
        period["end"] = (start + timedelta(days=draw(st.integers(0, 900)))).isoformat()
    return period


@st.composite
def organisation_pool(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Organisations with distinct identifiers, so the same identifier always means the same organisation."""
    pool = []
    for index in range(draw(st.integers(1, 5))):
        org: dict[str, Any] = {"name": draw(texts)}
        kind = draw(st.sampled_from(["sor", "gln", "provider", "sor+gln"]))
        if "sor" in kind:
            org["sor"] = f"{draw(st.integers(10**10, 10**14))}{index}"
        if "gln" in kind:
            org["gln"] = gln(f"57900{draw(st.integers(0, 99999)):05d}{index:02d}")
        if kind == "provider":
            org["provider_number"] = f"{index}{draw(st.integers(0, 99999)):05d}"
        if draw(st.booleans()):
            org["municipality_code"] = draw(municipalities)
        pool.append(org)
    return pool


@st.composite
def members(draw: st.DrawFn, pool: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    unused_orgs = list(range(len(pool)))
    for index in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["relative", "person", "organisation"] if unused_orgs else ["relative", "person"]))
        member: dict[str, Any] = {"key": f"m{index}"}
        if kind == "relative":
            member.update(role="relative", relationship=draw(st.sampled_from(RELATIONSHIPS)), name=draw(names()))
        elif kind == "person":
            member.update(role=draw(st.sampled_from(TEAM_ROLES)), name=draw(names()))
            if draw(st.booleans()):
                member["organisation"] = draw(st.sampled_from(pool))
        else:
            chosen = draw(st.sampled_from(unused_orgs))
            unused_orgs.remove(chosen)
            member.update(role=draw(st.sampled_from(TEAM_ROLES)), organisation=pool[chosen])
        if kind != "organisation":
            if draw(st.booleans()):
                member["phone"] = f"+45 {draw(st.integers(10_000_000, 99_999_999))}"
            if draw(st.booleans()):
                member["email"] = f"{draw(st.sampled_from(['a', 'kontakt', 'mette.k']))}@example.dk"
        member["period"] = draw(periods())
        result.append(member)
    return result


def _subset(draw: st.DrawFn, items: list[str]) -> list[str]:
    return draw(st.lists(st.sampled_from(items), unique=True, max_size=len(items))) if items else []


@st.composite
def plan_dicts(draw: st.DrawFn) -> dict[str, Any]:
    pool = draw(organisation_pool())
    team = draw(members(pool))
    keys = [member["key"] for member in team]
    goals = []
    for index in range(draw(st.integers(0, 4))):
        goal: dict[str, Any] = {
            "key": f"g{index}",
            "description": draw(texts),
            "term": draw(st.sampled_from(["short-term", "long-term"])),
            "status": draw(st.sampled_from(["proposed", "accepted", "active", "on-hold", "completed", "cancelled"])),
        }
        start = draw(st.none() | dates)
        if start is not None:
            goal["start_date"] = start.isoformat()
        if draw(st.booleans()):
            goal["target_date"] = (
                (start or date(2030, 12, 31)) + timedelta(days=draw(st.integers(0, 400)))
            ).isoformat()
        goals.append(goal)
    interventions = []
    for index in range(draw(st.integers(0, 4))):
        item: dict[str, Any] = {
            "key": f"i-{index}",
            "description": draw(texts),
            "responsible": draw(st.sampled_from(keys)),
            "status": draw(
                st.sampled_from(["not-started", "scheduled", "in-progress", "on-hold", "completed", "cancelled"])
            ),
            "goals": _subset(draw, [goal["key"] for goal in goals]),
        }
        if draw(st.booleans()):
            item["until"] = draw(dates).isoformat()
        interventions.append(item)
    meeting = draw(dates)
    coordination: dict[str, Any] = {"meeting_date": meeting.isoformat(), "coordinator": draw(st.sampled_from(keys))}
    if draw(st.booleans()):
        coordination["next_meeting"] = (meeting + timedelta(days=draw(st.integers(1, 200)))).isoformat()
    decision = draw(st.sampled_from(["given", "refused", "withdrawn"]))
    denied = []
    for _ in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            party: dict[str, Any] = {"relationship": draw(st.sampled_from(RELATIONSHIPS))}
            if draw(st.booleans()):
                party["name"] = draw(names())
        else:
            party = {"organisation": draw(st.sampled_from(pool))}
        denied.append(party)
    citizen: dict[str, Any] = {
        "cpr": f"{draw(st.integers(1, 28)):02d}{draw(st.integers(1, 12)):02d}{draw(st.integers(0, 999999)):06d}",
        "name": draw(names()),
        "municipality_code": draw(municipalities),
    }
    if draw(st.booleans()):
        citizen["gp"] = draw(st.sampled_from(pool))
    return {
        "source": {
            "system": draw(
                st.sampled_from(["urn:oid:1.2.208.176.1.1", "https://sor2.sum.dsdn.dk/#id=265161000016000"])
            ),
            "value": draw(st.from_regex(r"\A[A-Za-z0-9\-]{1,20}\Z")),
        },
        "status": draw(st.sampled_from(["draft", "active", "on-hold", "revoked", "completed"])),
        "citizen": citizen,
        "wishes": [
            {"kind": draw(st.sampled_from(["wish", "dream", "need"])), "text": draw(texts)}
            for _ in range(draw(st.integers(0, 3)))
        ],  # fmt: skip
        "goals": goals,
        "interventions": interventions,
        "coordination": coordination,
        "team": team,
        "crisis_plans": [
            {
                "kind": draw(st.sampled_from(["crisis-plan", "advance-directive"])),
                "made_on": draw(dates).isoformat(),
                "text": draw(texts),
            }
            for _ in range(draw(st.integers(0, 2)))
        ],  # fmt: skip
        "consent": {
            "decision": decision,
            "decided_on": draw(dates).isoformat(),
            "period": draw(periods()),
            "data": draw(
                st.lists(st.sampled_from(["careplan", "careteam", "followup", "crisisplan"]), min_size=1, unique=True)
            ),  # fmt: skip
            "permitted": [] if decision == "refused" else _subset(draw, keys),
            "denied": denied,
        },
    }


plan_documents: st.SearchStrategy[PlanDocument] = plan_dicts().map(parse_plan_document)
