"""Consent honoured: may this organisation receive this data about the citizen now? (`may_disclose`, `plan_grants`)

Decides from the FHIR Consent that `consent.consent_from_plan` emits (or the stored copy of it), following the
enforcement rules of the eHealth Infrastructure's consents (`/work/shared/reference/NOTES.md` §10: `status` =
active, `provision.period`, `provision.actor`) and FHIR R4 consent.html#provision (nested provisions are
exceptions to the base rule). In order:

1. no consent at all → deny (Sundhedsloven §41: disclosure between providers needs the citizen's consent);
2. not a `patient-privacy` consent, or `status` not `active` (refused = rejected, withdrawn = inactive) → deny;
3. `at` outside `provision.period` → deny (not yet valid / expired). Date-only bounds are whole days in Danish
   time (Europe/Copenhagen), the end day included;
4. `data` not among the base provision's `code`s (our `disclosure-data` codes) → deny;
5. the recipient matches an actor of a nested `deny` provision in force at `at` ("not my father") → deny:
   exceptions win;
6. the recipient matches an actor of the base `permit` provision → permit; otherwise deny.

An organisation matches an actor only by its SOR code, exactly, as the Consent holds it (`actor.reference.identifier`
with system `urn:oid:1.2.208.176.1.1`, written when the citizen decided). Nothing else is consulted: not the
resource the reference points at (anybody with write access could add an identifier to it), not a GLN, provider
number or municipality code (a municipality code names every department of a municipality at once). A relative
matches by their v3-RoleCode relationship.

`plan_grants` is the same rule materialised for the database: the organisations (SOR) a plan's own Consent permits,
per data category and period. The gateway stores them with every plan write and evaluates "is this SOR granted this
category now" in SQL; a property test holds `plan_grants` to `may_disclose` for generated consents and instants.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

from mappings.issues import IssueError
from mappings.plan.codes import CONSENT_SCOPE, SOR_SYSTEM, V3_ROLE_CODE

Resource = dict[str, Any]
DANISH_TIME = ZoneInfo("Europe/Copenhagen")
DataKind = Literal["careplan", "careteam", "followup", "crisisplan"]
DATA_KINDS: tuple[DataKind, ...] = get_args(DataKind)
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who would receive the data: an organisation by its SOR code, or a relative by relationship (v3-RoleCode)."""

    sor: str | None = None
    relationship: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """`permit` or deny, with a stable `code` (for audit) and a human `reason`."""

    permit: bool
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class Grant:
    """The organisation with SOR code `sor` may receive `category` at every instant in [`valid_from`, `valid_to`)
    (UTC; None = unbounded on that side)."""

    category: DataKind
    sor: str
    valid_from: datetime | None
    valid_to: datetime | None

    def covers(self, at: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= at) and (self.valid_to is None or at < self.valid_to)


def _deny(code: str, reason: str) -> Decision:
    return Decision(False, code, reason)


def _identifier(actor: Resource) -> tuple[Any, Any]:
    identifier = (actor.get("reference") or {}).get("identifier") or {}
    return identifier.get("system"), identifier.get("value")


def _matches(actor: Resource, recipient: Recipient) -> bool:
    system, value = _identifier(actor)
    if recipient.sor is not None and (system, value) == (SOR_SYSTEM, recipient.sor):
        return True
    if recipient.relationship is not None:
        for item in (actor.get("role") or {}).get("coding", []):
            if item.get("system") == V3_ROLE_CODE and item.get("code") == recipient.relationship:
                return True
    return False


def _edge(value: str, *, end: bool) -> datetime:
    """Where a period bound puts the edge of the half-open interval [start, end) it belongs to (UTC).

    A date-only start is the Danish midnight beginning that day; a date-only end the Danish midnight after it (the
    end day is included); a dateTime end the instant just after it (FHIR R4 Period.end is inclusive). A dateTime
    without a zone is read as UTC, as the store reads it."""
    if len(value) == 10:
        day = date.fromisoformat(value) + (timedelta(days=1) if end else timedelta())
        return datetime.combine(day, time(0), tzinfo=DANISH_TIME).astimezone(UTC)
    instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant + _TICK if end else instant


def _interval(period: Any) -> tuple[datetime | None, datetime | None]:
    start, end = (period or {}).get("start"), (period or {}).get("end")
    return (_edge(start, end=False) if start else None, _edge(end, end=True) if end else None)


def _period_problem(period: Any, at: datetime) -> Decision | None:
    low, high = _interval(period)
    if low is not None and at < low:
        return _deny("consent.not-yet-valid", f"The consent applies from {period['start']}")
    if high is not None and at >= high:
        return _deny("consent.expired", f"The consent expired after {period['end']}")
    return None


def _data_codes(provision: Resource) -> set[str]:
    return {
        str(item.get("code"))
        for concept in provision.get("code", [])
        for item in concept.get("coding", [])
        if str(item.get("system", "")).endswith("/CodeSystem/disclosure-data")
    }


def _inactive(resource: Resource) -> Decision | None:
    """Why this Consent permits nothing at all (rules 2), or None."""
    scopes = [item.get("code") for item in (resource.get("scope") or {}).get("coding", [])
              if item.get("system") == CONSENT_SCOPE]  # fmt: skip
    if resource.get("resourceType") != "Consent" or "patient-privacy" not in scopes:
        return _deny("consent.not-privacy", "This is not a privacy consent for disclosure")
    status = resource.get("status")
    if status != "active":
        reason = {"inactive": "withdrawn", "rejected": "refused"}.get(str(status), f"not active ({status})")
        return _deny(f"consent.{reason.split()[0]}", f"The citizen's consent is {reason}")
    return None


def _exceptions(provision: Resource) -> list[Resource]:
    return [nested for nested in provision.get("provision", []) if nested.get("type") == "deny"]


def may_disclose(consent: Resource | None, recipient: Recipient, data: DataKind | str, at: datetime) -> Decision:
    """Decide whether `data` about the citizen may go to `recipient` at instant `at` (timezone-aware)."""
    if at.tzinfo is None:
        raise IssueError.single(
            "invalid", "may_disclose needs a timezone-aware instant", message_id="consent.naive-time"
        )
    if consent is None:
        return _deny("consent.none", "The citizen has given no consent")
    if problem := _inactive(consent):
        return problem
    provision = consent.get("provision") or {}
    if problem := _period_problem(provision.get("period"), at):
        return problem
    covered = _data_codes(provision)
    if covered and data not in covered:
        return _deny("consent.data-not-covered", f"The consent does not cover {data!r}")
    for nested in _exceptions(provision):
        if not _period_problem(nested.get("period"), at) and any(
            _matches(actor, recipient) for actor in nested.get("actor", [])
        ):
            return _deny("consent.excluded", "The citizen has excluded this recipient")
    if provision.get("type", "permit") == "permit" and any(
        _matches(actor, recipient) for actor in provision.get("actor", [])
    ):
        return Decision(True, "consent.permit", "The citizen has consented to this recipient")
    return _deny("consent.not-permitted", "The recipient is not among those the citizen consented to")


Interval = tuple[datetime | None, datetime | None]


def _minus(intervals: list[Interval], cut: Interval) -> list[Interval]:
    """`intervals` without the instants of `cut` (all half-open, None unbounded; an inverted cut is empty)."""
    low, high = cut
    if not _nonempty(cut):
        return intervals
    result: list[Interval] = []
    for start, end in intervals:
        if low is not None and (start is None or start < low):
            result.append((start, low if end is None else min(end, low)))
        if high is not None and (end is None or high < end):
            result.append((high if start is None else max(start, high), end))
    return [interval for interval in result if _nonempty(interval)]


def _nonempty(interval: Interval) -> bool:
    start, end = interval
    return start is None or end is None or start < end


def plan_grants(consent: Resource | None) -> tuple[Grant, ...]:
    """Every (category, SOR, period) for which `may_disclose(consent, Recipient(sor=...), category, at)` permits.

    The same steps as `may_disclose`, solved for `at`: the base period, less the periods of the exceptions that
    name the organisation; only organisations named by SOR in the base permit provision; only the covered data
    categories (all four when the consent lists none). An inactive or non-privacy Consent grants nothing."""
    if consent is None or _inactive(consent) is not None:
        return ()
    provision = consent.get("provision") or {}
    if provision.get("type", "permit") != "permit":
        return ()
    covered = _data_codes(provision)
    categories = [kind for kind in DATA_KINDS if not covered or kind in covered]
    named = [value for system, value in map(_identifier, provision.get("actor", [])) if system == SOR_SYSTEM]
    grants: list[Grant] = []
    for sor in dict.fromkeys(value for value in named if isinstance(value, str)):
        recipient = Recipient(sor=sor)
        intervals = [interval for interval in [_interval(provision.get("period"))] if _nonempty(interval)]
        for nested in _exceptions(provision):
            if any(_matches(actor, recipient) for actor in nested.get("actor", [])):
                intervals = _minus(intervals, _interval(nested.get("period")))
        grants += [Grant(kind, sor, start, end) for kind in categories for start, end in intervals]
    return tuple(grants)
