"""Pieces shared by the plan → FHIR mappings: deterministic ids, references, identifiers, names, telecom.

All references are `urn:uuid:<id>`, the form a transaction Bundle uses for its `fullUrl`s (FHIR R4
bundle.html#references); the gateway's FHIR store rewrites them to `Type/id` when it stores the transaction.
"""

from __future__ import annotations

from typing import Any

from mappings.documents.plan import Organisation, PersonName, PlanDocument, TeamMember
from mappings.plan.codes import (
    CPR_SYSTEM,
    GLN_SYSTEM,
    ITEM_KEY_EXTENSION,
    MUNICIPALITY_SYSTEM,
    PROVIDER_NUMBER_SYSTEM,
    SOR_SYSTEM,
    URI_SYSTEM,
    profile_url,
)
from mappings.plan.context import PlanContext

Resource = dict[str, Any]

_ORG_SYSTEMS = {"sor": SOR_SYSTEM, "gln": GLN_SYSTEM, "provider_number": PROVIDER_NUMBER_SYSTEM}


def urn(resource_id: str) -> str:
    return f"urn:uuid:{resource_id}"


def reference(resource_id: str, display: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"reference": urn(resource_id)}
    if display is not None:
        result["display"] = display
    return result


def plan_id(doc: PlanDocument, ctx: PlanContext, *parts: str) -> str:
    """Id of a resource owned by this plan: UUID v5 of the source identifier and `parts`."""
    return ctx.resource_id(doc.source.system, doc.source.value, *parts)


def care_plan_id(doc: PlanDocument, ctx: PlanContext) -> str:
    return plan_id(doc, ctx, "CarePlan")


def patient_id(doc: PlanDocument, ctx: PlanContext) -> str:
    return ctx.resource_id("Patient", CPR_SYSTEM, doc.citizen.cpr)


def organization_id(org: Organisation, ctx: PlanContext) -> str:
    kind, value = org.primary_identifier()
    return ctx.resource_id("Organization", kind, value)


def uri_identifier(resource_id: str) -> dict[str, Any]:
    """The identifier every plan-owned resource carries, so a transaction can update it conditionally."""
    return {"system": URI_SYSTEM, "value": urn(resource_id)}


def organisation_identifiers(org: Organisation) -> list[dict[str, Any]]:
    """DK-core `dk-core-organization` identifier slices: SOR-ID, EAN-ID, Ydernummer, Kommunekode."""
    identifiers: list[dict[str, Any]] = []
    if org.sor is not None:
        # dk-core-sor-identifier fixes use = official
        identifiers.append({"use": "official", "system": SOR_SYSTEM, "value": org.sor})
    if org.gln is not None:
        identifiers.append({"system": GLN_SYSTEM, "value": org.gln})
    if org.provider_number is not None:
        identifiers.append({"system": PROVIDER_NUMBER_SYSTEM, "value": org.provider_number})
    if org.municipality_code is not None:
        identifiers.append({"system": MUNICIPALITY_SYSTEM, "value": org.municipality_code})
    return identifiers


def primary_identifier(org: Organisation) -> dict[str, Any]:
    kind, value = org.primary_identifier()
    return {"system": _ORG_SYSTEMS[kind], "value": value}


def human_name(name: PersonName) -> dict[str, Any]:
    """An official HumanName (DK-core slice `name:official`: use and family required)."""
    return {"use": "official", "family": name.family, "given": list(name.given)}


def telecom(member: TeamMember) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = []
    if member.phone is not None:
        points.append({"system": "phone", "value": member.phone})
    if member.email is not None:
        points.append({"system": "email", "value": member.email})
    return points


def member_kind(member: TeamMember) -> str:
    """The resource type standing for a member: relatives are RelatedPersons, named professionals and
    volunteers Practitioners, organisation-only members (e.g. "Jobcenter Slagelse") the Organization itself."""
    if member.role == "relative":
        return "RelatedPerson"
    if member.name is not None:
        return "Practitioner"
    return "Organization"


def member_id(doc: PlanDocument, member: TeamMember, ctx: PlanContext) -> str:
    kind = member_kind(member)
    if kind == "Organization":
        assert member.organisation is not None
        return organization_id(member.organisation, ctx)
    return plan_id(doc, ctx, kind, member.key)


def member_reference(doc: PlanDocument, key: str, ctx: PlanContext) -> dict[str, Any]:
    member = next(member for member in doc.team if member.key == key)
    return reference(member_id(doc, member, ctx), member_display(member))


def member_display(member: TeamMember) -> str:
    if member.name is not None:
        return " ".join([*member.name.given, member.name.family])
    assert member.organisation is not None
    return member.organisation.name


def item_key(ctx: PlanContext, key: str) -> dict[str, Any]:
    return {"url": profile_url(ctx.base, ITEM_KEY_EXTENSION), "valueString": key}


def meta(profile: str) -> dict[str, Any]:
    return {"profile": [profile]}
