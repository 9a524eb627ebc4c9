"""The search parameters the store supports, and the index entries a resource yields for them.

Names, types and expressions follow the FHIR R4 SearchParameter registry
(http://hl7.org/fhir/R4/searchparameter-registry.html). fhirpathpy cannot evaluate `resolve()`, so
`CarePlan.subject.where(resolve() is Patient)` is written `CarePlan.subject` with `targets=("Patient",)`: the
reference's own type decides, which is what `resolve() is Patient` tests for a relative reference.
Expressions are compiled once, at import.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from fhirpathpy import compile as compile_fhirpath
from fhirpathpy.models import models as fhirpath_models

from gateway.store.dates import date_range, period_range

ParamType = Literal["token", "reference", "date", "string"]


@dataclass(frozen=True)
class SearchParam:
    name: str
    type: ParamType
    expression: str
    targets: tuple[str, ...] = ()
    evaluate: Callable[[dict[str, Any]], list[Any]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "evaluate", compile_fhirpath(self.expression, fhirpath_models["r4"]))


def _params(
    resource_type: str, *specs: tuple[str, ParamType, str, tuple[str, ...]], identifier: bool = True
) -> dict[str, SearchParam]:
    common = {"identifier": SearchParam("identifier", "token", f"{resource_type}.identifier")} if identifier else {}
    return common | {name: SearchParam(name, kind, expr, targets) for name, kind, expr, targets in specs}


SEARCH_PARAMS: dict[str, dict[str, SearchParam]] = {
    "CarePlan": _params(
        "CarePlan",
        ("patient", "reference", "CarePlan.subject", ("Patient",)),
        ("subject", "reference", "CarePlan.subject", ("Patient", "Group")),
        ("status", "token", "CarePlan.status", ()),
        ("intent", "token", "CarePlan.intent", ()),
        ("category", "token", "CarePlan.category", ()),
        ("date", "date", "CarePlan.period", ()),
        ("care-team", "reference", "CarePlan.careTeam", ("CareTeam",)),
        ("goal", "reference", "CarePlan.goal", ("Goal",)),
        ("performer", "reference", "CarePlan.activity.detail.performer", ()),
    ),
    "CareTeam": _params(
        "CareTeam",
        ("patient", "reference", "CareTeam.subject", ("Patient",)),
        ("subject", "reference", "CareTeam.subject", ("Patient", "Group")),
        ("status", "token", "CareTeam.status", ()),
        ("category", "token", "CareTeam.category", ()),
        ("date", "date", "CareTeam.period", ()),
        ("participant", "reference", "CareTeam.participant.member", ()),
    ),
    "Consent": _params(
        "Consent",
        ("patient", "reference", "Consent.patient", ("Patient",)),
        ("status", "token", "Consent.status", ()),
        ("category", "token", "Consent.category", ()),
        ("scope", "token", "Consent.scope", ()),
        ("date", "date", "Consent.dateTime", ()),
        ("period", "date", "Consent.provision.period", ()),
        ("actor", "reference", "Consent.provision.actor.reference", ()),
        ("data", "reference", "Consent.provision.data.reference", ()),
    ),
    "Goal": _params(
        "Goal",
        ("patient", "reference", "Goal.subject", ("Patient",)),
        ("subject", "reference", "Goal.subject", ("Patient", "Group", "Organization")),
        ("lifecycle-status", "token", "Goal.lifecycleStatus", ()),
        ("achievement-status", "token", "Goal.achievementStatus", ()),
        ("category", "token", "Goal.category", ()),
        ("target-date", "date", "Goal.target.due", ()),
        ("start-date", "date", "Goal.start", ()),
    ),
    "Patient": _params(
        "Patient",
        ("name", "string", "Patient.name", ()),
        ("family", "string", "Patient.name.family", ()),
        ("given", "string", "Patient.name.given", ()),
        ("birthdate", "date", "Patient.birthDate", ()),
        ("gender", "token", "Patient.gender", ()),
        ("active", "token", "Patient.active", ()),
        ("general-practitioner", "reference", "Patient.generalPractitioner", ()),
        ("organization", "reference", "Patient.managingOrganization", ("Organization",)),
    ),
    "Practitioner": _params(
        "Practitioner",
        ("name", "string", "Practitioner.name", ()),
        ("family", "string", "Practitioner.name.family", ()),
        ("given", "string", "Practitioner.name.given", ()),
        ("active", "token", "Practitioner.active", ()),
    ),
    "PractitionerRole": _params(
        "PractitionerRole",
        ("practitioner", "reference", "PractitionerRole.practitioner", ("Practitioner",)),
        ("organization", "reference", "PractitionerRole.organization", ("Organization",)),
        ("role", "token", "PractitionerRole.code", ()),
        ("active", "token", "PractitionerRole.active", ()),
    ),
    "RelatedPerson": _params(
        "RelatedPerson",
        ("patient", "reference", "RelatedPerson.patient", ("Patient",)),
        ("name", "string", "RelatedPerson.name", ()),
        ("relationship", "token", "RelatedPerson.relationship", ()),
        ("active", "token", "RelatedPerson.active", ()),
    ),
    "Organization": _params(
        "Organization",
        ("name", "string", "Organization.name | Organization.alias", ()),
        ("type", "token", "Organization.type", ()),
        ("active", "token", "Organization.active", ()),
        ("partof", "reference", "Organization.partOf", ("Organization",)),
    ),
    # The audit trail (IHE BALP AuditEvents), written by the gateway only and read with the auditor scope.
    "AuditEvent": _params(
        "AuditEvent",
        ("date", "date", "AuditEvent.recorded", ()),
        ("agent", "reference", "AuditEvent.agent.who", ()),
        ("entity", "reference", "AuditEvent.entity.what", ()),
        ("patient", "reference", "AuditEvent.entity.what", ("Patient",)),
        ("type", "token", "AuditEvent.type", ()),
        ("subtype", "token", "AuditEvent.subtype", ()),
        ("action", "token", "AuditEvent.action", ()),
        ("outcome", "token", "AuditEvent.outcome", ()),
        ("agent-identifier", "token", "AuditEvent.agent.who.identifier", ()),
        identifier=False,
    ),
}

#: Types only the gateway itself writes: no create, update or delete through the REST API, whatever the scopes.
GATEWAY_WRITTEN: tuple[str, ...] = ("AuditEvent",)

#: Resource types the REST API serves; `SEARCH_PARAMS` has an entry for each.
SUPPORTED_TYPES: tuple[str, ...] = tuple(SEARCH_PARAMS)


@dataclass(frozen=True, slots=True)
class TokenEntry:
    param: str
    system: str | None
    code: str


@dataclass(frozen=True, slots=True)
class ReferenceEntry:
    param: str
    target_type: str
    target_id: str


@dataclass(frozen=True, slots=True)
class DateEntry:
    param: str
    low: str
    high: str


@dataclass(frozen=True, slots=True)
class StringEntry:
    param: str
    normalized: str
    exact: str


IndexEntry = TokenEntry | ReferenceEntry | DateEntry | StringEntry


def index_entries(resource: dict[str, Any]) -> list[IndexEntry]:
    """The search index rows for the current version of `resource` (deduplicated, stable order)."""
    params = SEARCH_PARAMS.get(resource["resourceType"], {})
    entries: dict[IndexEntry, None] = {}
    for param in params.values():
        for value in param.evaluate(resource):
            for entry in _entries_for(param, value):
                entries[entry] = None
    return list(entries)


def _entries_for(param: SearchParam, value: Any) -> Iterator[IndexEntry]:
    if param.type == "token":
        for system, code in token_values(value):
            yield TokenEntry(param.name, system, code)
    elif param.type == "reference":
        parsed = parse_reference(value.get("reference")) if isinstance(value, dict) else None
        if parsed and (not param.targets or parsed[0] in param.targets):
            yield ReferenceEntry(param.name, parsed[0], parsed[1])
    elif param.type == "date":
        bounds = _date_bounds(value)
        if bounds:
            yield DateEntry(param.name, *bounds)
    else:
        for text in string_values(value):
            yield StringEntry(param.name, normalize_string(text), text)


def token_values(value: Any) -> Iterator[tuple[str | None, str]]:
    """(system, code) pairs of a code, Coding, CodeableConcept, Identifier, ContactPoint or boolean."""
    if isinstance(value, bool):
        yield None, "true" if value else "false"
    elif isinstance(value, str):
        yield None, value
    elif isinstance(value, dict):
        if isinstance(value.get("coding"), list):
            for coding in value["coding"]:
                yield from token_values(coding)
        elif isinstance(value.get("code"), str):
            yield value.get("system"), value["code"]
        elif isinstance(value.get("value"), str):
            yield value.get("system"), value["value"]


def string_values(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key in ("text", "family", "given", "prefix", "suffix"):
            part = value.get(key)
            if isinstance(part, str):
                yield part
            elif isinstance(part, list):
                yield from (item for item in part if isinstance(item, str))


def normalize_string(text: str) -> str:
    """Case- and accent-insensitive form (R4 search: string matching ignores case and accents)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def parse_reference(reference: Any) -> tuple[str, str] | None:
    """(type, id) of a literal reference: `Patient/1`, `http://x/fhir/Patient/1/_history/2`; else None."""
    if not isinstance(reference, str) or reference.startswith(("#", "urn:")):
        return None
    parts = reference.split("?")[0].rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) < 2 or not parts[-2][:1].isupper():
        return None
    return parts[-2], parts[-1]


def _date_bounds(value: Any) -> tuple[str, str] | None:
    try:
        if isinstance(value, str):
            return date_range(value)
        if isinstance(value, dict):
            return period_range(value)
    except ValueError:
        return None
    return None
