"""Organizations: the GP, members' organisations and denied organisations, one resource per organisation.

An organisation with a SOR code conforms to DK-core's `dk-core-organization` (whose invariant
`dk-core-organization-mandatory-identifier` needs SOR, KOMBIT or CVR); one known only by GLN or provider number
gets our `kip-organization` profile instead.
"""

from __future__ import annotations

from mappings.documents.plan import Organisation, PlanDocument, iter_organisations
from mappings.plan import profiles
from mappings.plan.codes import DK_CORE_ORGANIZATION, profile_url
from mappings.plan.common import Resource, meta, organisation_identifiers, organization_id
from mappings.plan.context import PlanContext


def organization_from_organisation(org: Organisation, ctx: PlanContext) -> Resource:
    profile = DK_CORE_ORGANIZATION if org.sor is not None else profile_url(ctx.base, profiles.ORGANIZATION)
    return {
        "resourceType": "Organization",
        "id": organization_id(org, ctx),
        "meta": meta(profile),
        "identifier": organisation_identifiers(org),
        "active": True,
        "name": org.name,
    }


def organizations_from_plan(doc: PlanDocument, ctx: PlanContext) -> list[Resource]:
    """Each distinct organisation once, in document order (the document rules make equal keys equal)."""
    seen: set[tuple[str, str]] = set()
    result: list[Resource] = []
    for _pointer, org in iter_organisations(doc):
        key = org.primary_identifier()
        if key not in seen:
            seen.add(key)
            result.append(organization_from_organisation(org, ctx))
    return result
