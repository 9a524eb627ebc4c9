"""Consent honoured: may this recipient receive this data about the citizen now? (`may_disclose`)

Decides from the FHIR Consent that `consent.consent_from_plan` emits (or the stored copy of it), following the
enforcement rules of the eHealth Infrastructure's consents (`/work/shared/reference/NOTES.md` §10: `status` =
active, `provision.period`, `provision.actor`) and FHIR R4 consent.html#provision (nested provisions are
exceptions to the base rule). In order:

1. no consent at all → deny (Sundhedsloven §41: disclosure between providers needs the citizen's consent);
2. not a `patient-privacy` consent, or `status` not `active` (refused = rejected, withdrawn = inactive) → deny;
3. `at` outside `provision.period` → deny (not yet valid / expired). Date-only bounds are whole days in Danish
   time (Europe/Copenhagen), the end day included;
4. `data` not among the base provision's `code`s (our `disclosure-data` codes) → deny;
5. the recipient matches an actor of a nested `deny` provision ("not my father") → deny: exceptions win;
6. the recipient matches an actor of the base `permit` provision → permit; otherwise deny.

An actor matches when one of the recipient's identifiers equals the actor reference's `identifier` (or, given a
`ConsentDecisionInput` with the referenced resources, any identifier of the referenced resource), or when the
recipient's `relationship` equals the actor's v3-RoleCode role (relatives). GLN is compared under both system
spellings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from mappings.issues import IssueError
from mappings.plan.codes import (
    CONSENT_SCOPE,
    GLN_SYSTEM,
    GLN_SYSTEMS,
    MUNICIPALITY_SYSTEM,
    PROVIDER_NUMBER_SYSTEM,
    SOR_SYSTEM,
    V3_ROLE_CODE,
)

Resource = dict[str, Any]
DANISH_TIME = ZoneInfo("Europe/Copenhagen")
DataKind = Literal["careplan", "careteam", "followup", "crisisplan"]


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who would receive the data: an organisation (SOR / GLN / provider number / municipality code) and
    optionally a person (an identifier `(system, value)`) or, for relatives, their relationship (v3-RoleCode)."""

    sor: str | None = None
    gln: str | None = None
    provider_number: str | None = None
    municipality_code: str | None = None
    person: tuple[str, str] | None = None
    relationship: str | None = None

    def identifiers(self) -> set[tuple[str, str]]:
        found = {
            (system, value)
            for system, value in (
                (SOR_SYSTEM, self.sor),
                (GLN_SYSTEM, self.gln),
                (PROVIDER_NUMBER_SYSTEM, self.provider_number),
                (MUNICIPALITY_SYSTEM, self.municipality_code),
            )
            if value is not None
        }
        if self.person is not None:
            found.add(self.person)
        return found


@dataclass(frozen=True, slots=True)
class ConsentDecisionInput:
    """A Consent plus the resources its actors reference (keyed by reference: `Organization/<id>`,
    `urn:uuid:<id>`), so an actor matches on every identifier of its resource, not only the one in the reference."""

    consent: Resource
    resources: Mapping[str, Resource] = field(default_factory=dict)

    @classmethod
    def with_resources(cls, consent: Resource, resources: Iterable[Resource]) -> ConsentDecisionInput:
        index: dict[str, Resource] = {}
        for resource in resources:
            if "id" in resource:
                index[f"{resource['resourceType']}/{resource['id']}"] = resource
                index[f"urn:uuid:{resource['id']}"] = resource
        return cls(consent, index)


@dataclass(frozen=True, slots=True)
class Decision:
    """`permit` or deny, with a stable `code` (for audit) and a human `reason`."""

    permit: bool
    code: str
    reason: str


def _deny(code: str, reason: str) -> Decision:
    return Decision(False, code, reason)


def _normal(system: str, value: str) -> tuple[str, str]:
    return (GLN_SYSTEM if system in GLN_SYSTEMS else system, value)


def _matches(actor: Resource, recipient: Recipient, resources: Mapping[str, Resource]) -> bool:
    wanted = {_normal(*pair) for pair in recipient.identifiers()}
    ref = actor.get("reference") or {}
    candidates = [ref.get("identifier") or {}]
    target = resources.get(str(ref.get("reference")))
    if target is not None:
        candidates += target.get("identifier", [])
    for identifier in candidates:
        system, value = identifier.get("system"), identifier.get("value")
        if system and value and _normal(system, value) in wanted:
            return True
    if recipient.relationship is not None:
        for item in (actor.get("role") or {}).get("coding", []):
            if item.get("system") == V3_ROLE_CODE and item.get("code") == recipient.relationship:
                return True
    return False


def _bound(value: str, at: datetime, *, end: bool) -> bool:
    """Whether `at` lies on the valid side of one period bound (start: at >= bound; end: at <= bound)."""
    if len(value) == 10:
        day, local = date.fromisoformat(value), at.astimezone(DANISH_TIME).date()
        return local <= day if end else local >= day
    instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return at <= instant if end else at >= instant


def _period_problem(period: Any, at: datetime) -> Decision | None:
    start, end = (period or {}).get("start"), (period or {}).get("end")
    if start and not _bound(start, at, end=False):
        return _deny("consent.not-yet-valid", f"The consent applies from {start}")
    if end and not _bound(end, at, end=True):
        return _deny("consent.expired", f"The consent expired after {end}")
    return None


def _data_codes(provision: Resource) -> set[str]:
    return {
        str(item.get("code"))
        for concept in provision.get("code", [])
        for item in concept.get("coding", [])
        if str(item.get("system", "")).endswith("/CodeSystem/disclosure-data")
    }


def may_disclose(
    consent: Resource | ConsentDecisionInput | None, recipient: Recipient, data: DataKind | str, at: datetime
) -> Decision:
    """Decide whether `data` about the citizen may go to `recipient` at instant `at` (timezone-aware)."""
    if at.tzinfo is None:
        raise IssueError.single(
            "invalid", "may_disclose needs a timezone-aware instant", message_id="consent.naive-time"
        )
    if consent is None:
        return _deny("consent.none", "The citizen has given no consent")
    decision_input = consent if isinstance(consent, ConsentDecisionInput) else ConsentDecisionInput(consent)
    resource, resources = decision_input.consent, decision_input.resources
    scopes = [item.get("code") for item in (resource.get("scope") or {}).get("coding", [])
              if item.get("system") == CONSENT_SCOPE]  # fmt: skip
    if resource.get("resourceType") != "Consent" or "patient-privacy" not in scopes:
        return _deny("consent.not-privacy", "This is not a privacy consent for disclosure")
    status = resource.get("status")
    if status != "active":
        reason = {"inactive": "withdrawn", "rejected": "refused"}.get(str(status), f"not active ({status})")
        return _deny(f"consent.{reason.split()[0]}", f"The citizen's consent is {reason}")
    provision = resource.get("provision") or {}
    if problem := _period_problem(provision.get("period"), at):
        return problem
    covered = _data_codes(provision)
    if covered and data not in covered:
        return _deny("consent.data-not-covered", f"The consent does not cover {data!r}")
    for nested in provision.get("provision", []):
        if nested.get("type") != "deny" or _period_problem(nested.get("period"), at):
            continue
        if any(_matches(actor, recipient, resources) for actor in nested.get("actor", [])):
            return _deny("consent.excluded", "The citizen has excluded this recipient")
    if provision.get("type", "permit") == "permit" and any(
        _matches(actor, recipient, resources) for actor in provision.get("actor", [])
    ):
        return Decision(True, "consent.permit", "The citizen has consented to this recipient")
    return _deny("consent.not-permitted", "The recipient is not among those the citizen consented to")
