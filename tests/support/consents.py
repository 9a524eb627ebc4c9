"""Hypothesis strategies for stored privacy Consents as `may_disclose` reads them, and instants to judge them at.

Generated consents cover what the decision turns on: status and scope, the base provision's type and period
(date-only and dateTime bounds, with offsets), data codes (none = every category), actors named by SOR code and by
other identifiers (GLN, relationship roles, which grant organisations nothing), and nested provisions (exceptions
with their own periods, and permits, which `may_disclose` ignores). Instants include each bound's edges.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from mappings.plan.disclosure import DANISH_TIME

SORS = ("11111111111", "22222222222", "333333333333333")
DATA = ("careplan", "careteam", "followup", "crisisplan")
DATA_SYSTEM = "https://careplan-gateway.example/fhir/CodeSystem/disclosure-data"
SOR_SYSTEM = "urn:oid:1.2.208.176.1.1"

days = st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 12, 31))
offsets = st.sampled_from([UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5, minutes=-30))])


@st.composite
def bounds(draw: st.DrawFn) -> str:
    day = draw(days)
    if draw(st.booleans()):
        return day.isoformat()
    moment = datetime.combine(day, time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 30, 59]))))
    return moment.replace(tzinfo=draw(offsets)).isoformat().replace("+00:00", "Z")


@st.composite
def periods(draw: st.DrawFn) -> dict[str, str] | None:
    period = {}
    if draw(st.booleans()):
        period["start"] = draw(bounds())
    if draw(st.booleans()):
        period["end"] = draw(bounds())
    return period or None


@st.composite
def actors(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["sor", "sor", "gln", "role"]))
    value = draw(st.sampled_from(SORS))
    if kind == "sor":
        return {
            "role": {"coding": [{"code": "PRCP"}]},
            "reference": {"identifier": {"system": SOR_SYSTEM, "value": value}},
        }
    if kind == "gln":
        reference = {"identifier": {"system": "https://www.gs1.org/gln", "value": value}}
        return {"role": {"coding": [{"code": "IRCP"}]}, "reference": reference}
    role = {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "FTH"}
    return {"role": {"coding": [role]}, "reference": {"reference": "RelatedPerson/father"}}


@st.composite
def provisions(draw: st.DrawFn, *, nested: bool) -> dict[str, Any]:
    provision: dict[str, Any] = {}
    kind = draw(st.sampled_from(["permit", "permit", "deny", None] if not nested else ["deny", "deny", "permit"]))
    if kind is not None:
        provision["type"] = kind
    if period := draw(periods()):
        provision["period"] = period
    provision["actor"] = draw(st.lists(actors(), max_size=4))
    if not nested:
        codes = draw(st.lists(st.sampled_from([*DATA, "something-else"]), max_size=3, unique=True))
        if codes:
            provision["code"] = [{"coding": [{"system": DATA_SYSTEM, "code": code}]} for code in codes]
        if exceptions := draw(st.lists(provisions(nested=True), max_size=2)):
            provision["provision"] = exceptions
    return provision


@st.composite
def consents(draw: st.DrawFn) -> dict[str, Any]:
    scope = draw(st.sampled_from(["patient-privacy"] * 9 + ["adr"]))
    return {
        "resourceType": "Consent",
        "status": draw(st.sampled_from(["active"] * 12 + ["inactive", "rejected", "draft"])),
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": scope}]},
        "provision": draw(provisions(nested=False)),
    }


def _edges(value: str, end: bool) -> list[datetime]:
    """The instants on both sides of where a bound puts its edge."""
    if len(value) == 10:
        day = date.fromisoformat(value) + (timedelta(days=1) if end else timedelta())
        edge = datetime.combine(day, time(0), tzinfo=DANISH_TIME).astimezone(UTC)
    else:
        edge = datetime.fromisoformat(value.replace("Z", "+00:00")) + (
            timedelta(microseconds=1) if end else timedelta()
        )
    return [edge - timedelta(microseconds=1), edge, edge + timedelta(hours=1)]


def instants(consent: dict[str, Any]) -> st.SearchStrategy[datetime]:
    """Any instant of 2023-2027, or one at the edge of one of the consent's bounds."""
    edges: list[datetime] = []
    provision = consent["provision"]
    for item in [provision, *provision.get("provision", [])]:
        for name, end in (("start", False), ("end", True)):
            if value := (item.get("period") or {}).get(name):
                edges += _edges(value, end)
    anywhere = st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))
    return st.one_of(anywhere, st.sampled_from(edges)) if edges else anywhere
