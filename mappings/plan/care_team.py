"""CareTeam: the patient's team (Patientens team), profile `kip-careteam`.

Each member is one `participant`: `role` holds the member's team role (ours, plus a SNOMED CT occupation where one
exists) and, for the coordinator chosen until the next meeting, a second role `coordinator`; `member` is the
Practitioner / RelatedPerson / Organization standing for the member; `onBehalfOf` the organisation of a
Practitioner (R4 invariant ctm-1 allows it only there); `period` the contact period. The member's key travels in
the `plan-item-key` extension. Category: LOINC LA28865-6 "Longitudinal care-coordination focused care team".
"""

from __future__ import annotations

from typing import Any

from mappings.documents.plan import PlanDocument, TeamMember
from mappings.plan import profiles
from mappings.plan.codes import LOINC, ROLE_SNOMED, SNOMED, TEAM_ROLE, coding, our_coding, profile_url
from mappings.plan.common import (
    Resource,
    item_key,
    member_id,
    member_kind,
    meta,
    organization_id,
    patient_id,
    plan_id,
    reference,
    uri_identifier,
)
from mappings.plan.context import PlanContext

#: CarePlan.status -> CareTeam.status (R4 care-team-status)
_TEAM_STATUS = {
    "draft": "proposed",
    "active": "active",
    "on-hold": "suspended",
    "revoked": "inactive",
    "completed": "inactive",
}


def care_team_id(doc: PlanDocument, ctx: PlanContext) -> str:
    return plan_id(doc, ctx, "CareTeam")


def team_role(ctx: PlanContext, role: str) -> dict[str, Any]:
    codings = [our_coding(ctx.base, TEAM_ROLE, role)]
    if role in ROLE_SNOMED:
        code, display = ROLE_SNOMED[role]
        codings.append(coding(SNOMED, code, display))
    return {"coding": codings}


def _period(member: TeamMember) -> dict[str, str]:
    period = {"start": member.period.start.isoformat()}
    if member.period.end is not None:
        period["end"] = member.period.end.isoformat()
    return period


def _participant(doc: PlanDocument, member: TeamMember, ctx: PlanContext) -> dict[str, Any]:
    roles = [team_role(ctx, member.role)]
    if member.key == doc.coordination.coordinator:
        roles.append({"coding": [our_coding(ctx.base, TEAM_ROLE, "coordinator")]})
    participant: dict[str, Any] = {
        "extension": [item_key(ctx, member.key)],
        "role": roles,
        "member": reference(member_id(doc, member, ctx)),
    }
    if member_kind(member) == "Practitioner" and member.organisation is not None:
        participant["onBehalfOf"] = reference(organization_id(member.organisation, ctx))
    participant["period"] = _period(member)
    return participant


def care_team_from_plan(doc: PlanDocument, ctx: PlanContext) -> Resource:
    resource_id = care_team_id(doc, ctx)
    return {
        "resourceType": "CareTeam",
        "id": resource_id,
        "meta": meta(profile_url(ctx.base, profiles.CARE_TEAM)),
        "identifier": [uri_identifier(resource_id)],
        "status": _TEAM_STATUS[doc.status],
        "category": [{"coding": [coding(LOINC, "LA28865-6", "Longitudinal care-coordination focused care team")]}],
        "name": "Patientens team",
        "subject": reference(patient_id(doc, ctx)),
        "participant": [_participant(doc, member, ctx) for member in doc.team],
    }
