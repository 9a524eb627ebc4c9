"""`_summary` and `_elements`: the parts of a resource a search returns (FHIR R4 search.html#summary, #elements).

The element lists are the R4 core StructureDefinitions' own (`isSummary`, and `min >= 1` for the mandatory ones)
for the types the REST API serves, written out here so a search does not load the core package;
`tests/gateway/fhir/test_subsetting.py` derives them from the shipped `hl7.fhir.r4.core` 4.0.1 and fails if they
drift. A choice element is named with its `[x]` (`deceased[x]` keeps `deceasedBoolean` and `deceasedDateTime`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Resource = dict[str, Any]

#: R4 search.html#summary: a subsetted resource SHOULD carry this tag so it is never taken for the whole resource.
SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "subsetted",
}

#: Top-level elements with `isSummary: true` in R4 core (4.0.1).
SUMMARY: dict[str, tuple[str, ...]] = {
    "CarePlan": (
        "id", "meta", "implicitRules", "identifier", "instantiatesCanonical", "instantiatesUri", "basedOn",
        "replaces", "partOf", "status", "intent", "category", "title", "description", "subject", "encounter",
        "period", "created", "author", "addresses",
    ),
    "CareTeam": (
        "id", "meta", "implicitRules", "identifier", "status", "category", "name", "subject", "encounter", "period",
        "managingOrganization",
    ),
    "Consent": (
        "id", "meta", "implicitRules", "identifier", "status", "scope", "category", "patient", "dateTime",
        "performer", "organization", "source[x]", "policyRule", "verification", "provision",
    ),
    "Goal": (
        "id", "meta", "implicitRules", "lifecycleStatus", "achievementStatus", "category", "priority", "description",
        "subject", "start[x]", "statusDate", "expressedBy",
    ),
    "Patient": (
        "id", "meta", "implicitRules", "identifier", "active", "name", "telecom", "gender", "birthDate",
        "deceased[x]", "address", "managingOrganization", "link",
    ),
    "Practitioner": (
        "id", "meta", "implicitRules", "identifier", "active", "name", "telecom", "address", "gender", "birthDate",
    ),
    "PractitionerRole": (
        "id", "meta", "implicitRules", "identifier", "active", "period", "practitioner", "organization", "code",
        "specialty", "location", "telecom",
    ),
    "RelatedPerson": (
        "id", "meta", "implicitRules", "identifier", "active", "patient", "relationship", "name", "telecom",
        "gender", "birthDate", "address",
    ),
    "Organization": ("id", "meta", "implicitRules", "identifier", "active", "type", "name", "partOf"),
    "AuditEvent": (
        "id", "meta", "implicitRules", "type", "subtype", "action", "recorded", "outcome", "outcomeDesc",
        "purposeOfEvent",
    ),
}  # fmt: skip

#: Top-level elements with `min >= 1` in R4 core (4.0.1): returned whatever `_elements` asks (search.html#elements).
MANDATORY: dict[str, tuple[str, ...]] = {
    "CarePlan": ("status", "intent", "subject"),
    "CareTeam": (),
    "Consent": ("status", "scope", "category"),
    "Goal": ("lifecycleStatus", "description", "subject"),
    "Patient": (),
    "Practitioner": (),
    "PractitionerRole": (),
    "RelatedPerson": ("patient",),
    "Organization": (),
    "AuditEvent": ("type", "recorded", "agent", "source"),
}

#: Kept in every subset: what makes it a resource at all.
_ALWAYS = ("resourceType", "id", "meta")


def subset(resource: Resource, *, summary: str | None = None, elements: Iterable[str] = ()) -> Resource:
    """`resource` as `_summary` (true, text, data) or `_elements` asks, tagged SUBSETTED; unchanged when neither
    asks for anything. A copy: the stored resource is never altered."""
    wanted = tuple(elements)
    if summary is None and not wanted:
        return resource
    resource_type = resource.get("resourceType", "")
    mandatory = MANDATORY.get(resource_type, ())
    if summary == "data":  # everything but the narrative
        kept = {key: value for key, value in resource.items() if key != "text"}
    elif summary == "text":  # the narrative, id, meta and the mandatory elements
        kept = _pick(resource, (*_ALWAYS, "text", *mandatory))
    elif summary == "true":
        kept = _pick(resource, (*_ALWAYS, *SUMMARY.get(resource_type, ()), *mandatory))
    else:
        kept = _pick(resource, (*_ALWAYS, *mandatory, *wanted))
    meta = dict(kept.get("meta") or {})
    tags = [tag for tag in meta.get("tag", []) if tag.get("code") != SUBSETTED["code"]]
    meta["tag"] = [*tags, dict(SUBSETTED)]
    kept["meta"] = meta
    return kept


def _pick(resource: Resource, names: Iterable[str]) -> Resource:
    plain = {name for name in names if not name.endswith("[x]")}
    choices = tuple(name[:-3] for name in names if name.endswith("[x]"))
    return {
        key: value
        for key, value in resource.items()
        if key.lstrip("_") in plain or any(_is_choice(key.lstrip("_"), stem) for stem in choices)
    }


def _is_choice(key: str, stem: str) -> bool:
    return key.startswith(stem) and len(key) > len(stem) and key[len(stem)].isupper()
