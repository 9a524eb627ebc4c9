"""Consents: the citizen's consent to the plan (`kip-consent`) and crisis plans / advance directives
(`kip-crisis-plan`).

The plan consent follows the eHealth Infrastructure's `ehealth-consent` pattern (`/work/shared/reference/NOTES.md`
§10): scope `consentscope#patient-privacy`, category v3-ActCode `IDSCL` (information disclosure) plus our
`plan-category#kip`, `policyRule` v3-ActCode `OPTIN`, and one base `permit` provision holding the consent period,
the data categories (`code`, our `disclosure-data`), the plan (`data`, meaning `related`) and the permitted actors:
- a named professional or volunteer: the Practitioner with role v3-ParticipationType `IRCP` (information
  recipient), and their organisation with role `PRCP` (primary information recipient: where a message is sent);
- a relative: the RelatedPerson with the relationship (v3-RoleCode, part of R4's SecurityRoleType) as role;
- an organisation-only member: the Organization with role `IRCP`.
Exceptions ("not my father") are one nested `deny` provision. Every actor reference carries `identifier` as well,
an organisation's SOR code where it has one (its GLN or provider number otherwise, which grants nothing: access is
by SOR code), taken when the citizen decided, so `disclosure.may_disclose` decides from the stored Consent alone and
never from records others could edit. The consent governs its own plan only: `provision.data` (meaning `related`)
points at the CarePlan, as the eHealth Infrastructure ties a consent to what it governs (`ehealth-consent`, enforced
through `provision.data.reference`; NOTES.md §10); DK-core has no Consent profile to follow. Decision → `status`:
given → active, refused → rejected, withdrawn → inactive (R4 consent-state-codes).

A crisis plan is a Consent with scope `adr`, category `consentcategorycodes#acd` plus our `crisis-plan-kind`, and
the citizen's text as a UTF-8 `sourceAttachment`.
"""

from __future__ import annotations

import base64
from typing import Any

from mappings.documents.plan import PlanDocument, TeamMember
from mappings.plan import profiles
from mappings.plan.codes import (
    CONSENT_CATEGORY,
    CONSENT_SCOPE,
    CRISIS_PLAN_KIND,
    DISCLOSURE_DATA,
    PLAN_CATEGORY,
    V3_ACT_CODE,
    V3_PARTICIPATION_TYPE,
    coding,
    our_coding,
    profile_url,
)
from mappings.plan.common import (
    Resource,
    care_plan_id,
    member_id,
    member_kind,
    meta,
    organization_id,
    patient_id,
    plan_id,
    primary_identifier,
    reference,
    uri_identifier,
)
from mappings.plan.context import PlanContext
from mappings.plan.related_person import denied_person_id, relationship

CONSENT_STATUS = {"given": "active", "refused": "rejected", "withdrawn": "inactive"}
IRCP = coding(V3_PARTICIPATION_TYPE, "IRCP", "information recipient")
PRCP = coding(V3_PARTICIPATION_TYPE, "PRCP", "primary information recipient")
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"


def consent_id(doc: PlanDocument, ctx: PlanContext) -> str:
    return plan_id(doc, ctx, "Consent")


def crisis_plan_id(doc: PlanDocument, ctx: PlanContext, index: int) -> str:
    return plan_id(doc, ctx, "Consent", "crisis-plan", str(index))


def _actor(role: dict[str, Any], resource_id: str, identifier: dict[str, Any]) -> dict[str, Any]:
    return {"role": {"coding": [dict(role)]}, "reference": {**reference(resource_id), "identifier": identifier}}


def _member_actors(doc: PlanDocument, member: TeamMember, ctx: PlanContext) -> list[dict[str, Any]]:
    kind = member_kind(member)
    resource_id = member_id(doc, member, ctx)
    if kind == "RelatedPerson":
        assert member.relationship is not None
        role = relationship(member.relationship)["coding"][0]
        return [_actor(role, resource_id, uri_identifier(resource_id))]
    if kind == "Organization":
        assert member.organisation is not None
        return [_actor(IRCP, resource_id, primary_identifier(member.organisation))]
    actors = [_actor(IRCP, resource_id, uri_identifier(resource_id))]
    if member.organisation is not None:
        org = member.organisation
        actors.append(_actor(PRCP, organization_id(org, ctx), primary_identifier(org)))
    return actors


def _denied_actors(doc: PlanDocument, ctx: PlanContext) -> list[dict[str, Any]]:
    actors: list[dict[str, Any]] = []
    for index, party in enumerate(doc.consent.denied):
        if party.organisation is not None:
            org = party.organisation
            actors.append(_actor(IRCP, organization_id(org, ctx), primary_identifier(org)))
        else:
            assert party.relationship is not None
            person_id = denied_person_id(doc, ctx, index)
            actors.append(_actor(relationship(party.relationship)["coding"][0], person_id, uri_identifier(person_id)))
    return actors


def consent_from_plan(doc: PlanDocument, ctx: PlanContext) -> Resource:
    consent = doc.consent
    members = {member.key: member for member in doc.team}
    actors: list[dict[str, Any]] = []
    for key in consent.permitted:
        for actor in _member_actors(doc, members[key], ctx):
            if actor not in actors:
                actors.append(actor)
    period = {"start": consent.period.start.isoformat()}
    if consent.period.end is not None:
        period["end"] = consent.period.end.isoformat()
    provision: dict[str, Any] = {"type": "permit", "period": period}
    if actors:
        provision["actor"] = actors
    provision["code"] = [{"coding": [our_coding(ctx.base, DISCLOSURE_DATA, code)]} for code in consent.data]
    provision["data"] = [{"meaning": "related", "reference": reference(care_plan_id(doc, ctx))}]
    if denied := _denied_actors(doc, ctx):
        provision["provision"] = [{"type": "deny", "actor": denied}]
    resource_id = consent_id(doc, ctx)
    return {
        "resourceType": "Consent",
        "id": resource_id,
        "meta": meta(profile_url(ctx.base, profiles.CONSENT)),
        "identifier": [uri_identifier(resource_id)],
        "status": CONSENT_STATUS[consent.decision],
        "scope": {"coding": [coding(CONSENT_SCOPE, "patient-privacy", "Privacy Consent")]},
        "category": [
            {"coding": [coding(V3_ACT_CODE, "IDSCL", "information disclosure")]},
            {"coding": [our_coding(ctx.base, PLAN_CATEGORY, "kip")]},
        ],
        "patient": reference(patient_id(doc, ctx)),
        "dateTime": consent.decided_on.isoformat(),
        "performer": [reference(patient_id(doc, ctx))],
        "policyRule": {"coding": [coding(V3_ACT_CODE, "OPTIN", "opt-in")]},
        "provision": provision,
    }


def crisis_plans_from_plan(doc: PlanDocument, ctx: PlanContext) -> list[Resource]:
    result: list[Resource] = []
    for index, plan in enumerate(doc.crisis_plans):
        resource_id = crisis_plan_id(doc, ctx, index)
        result.append(
            {
                "resourceType": "Consent",
                "id": resource_id,
                "meta": meta(profile_url(ctx.base, profiles.CRISIS_PLAN)),
                "identifier": [uri_identifier(resource_id)],
                "status": "active",
                "scope": {"coding": [coding(CONSENT_SCOPE, "adr", "Advanced Care Directive")]},
                "category": [
                    {"coding": [coding(CONSENT_CATEGORY, "acd", "Advance Directive")]},
                    {"coding": [our_coding(ctx.base, CRISIS_PLAN_KIND, plan.kind)]},
                ],
                "patient": reference(patient_id(doc, ctx)),
                "dateTime": plan.made_on.isoformat(),
                "performer": [reference(patient_id(doc, ctx))],
                # R4 invariant ppc-1 needs a policy or policyRule; no published code names a crisis plan.
                "policy": [{"uri": f"{ctx.base}/policy/crisis-plan"}],
                "sourceAttachment": {
                    "contentType": TEXT_CONTENT_TYPE,
                    "language": "da",
                    "data": base64.b64encode(plan.text.encode("utf-8")).decode("ascii"),
                    "title": CRISIS_PLAN_KIND.display(plan.kind),
                },
            }
        )
    return result
