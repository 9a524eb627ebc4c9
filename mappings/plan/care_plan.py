"""CarePlan: the coordinating plan itself (koordinerende indsatsplan), profile `kip-careplan`.

- `identifier` = the plan's source identifier (its identity for conditional create/update);
- `intent` = plan, `category` = our `plan-category#kip`, `created` = the coordination meeting that agreed it;
- `author` = the coordinator chosen until the next meeting (domain glossary: "CareTeam participant role +
  CarePlan author");
- `goal` = the citizen's wishes, then the goals (`goal.py`); `careTeam` = the patient's team;
- `activity` = one per intervention (`detail.performer` = the responsible member, `detail.scheduledPeriod.end` =
  until when, `detail.goal` = the goals it serves, key in `plan-item-key`), then the next coordination meeting as an
  `Appointment` activity with code `plan-activity#coordination-meeting`;
- `supportingInfo` = the consent, then the crisis plans / advance directives (Consent, scope `adr`), in order.
"""

from __future__ import annotations

from typing import Any

from mappings.documents.plan import Intervention, PlanDocument
from mappings.plan import profiles
from mappings.plan.care_team import care_team_id
from mappings.plan.codes import PLAN_ACTIVITY, PLAN_CATEGORY, our_coding, profile_url
from mappings.plan.common import (
    Resource,
    care_plan_id,
    item_key,
    member_reference,
    meta,
    patient_id,
    reference,
)
from mappings.plan.consent import consent_id, crisis_plan_id
from mappings.plan.context import PlanContext
from mappings.plan.goal import goal_id, wish_id

NEXT_MEETING_DESCRIPTION = "Næste koordinationsmøde"


def _intervention(doc: PlanDocument, item: Intervention, ctx: PlanContext) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "status": item.status,
        "description": item.description,
        "performer": [member_reference(doc, item.responsible, ctx)],
    }
    if item.until is not None:
        detail["scheduledPeriod"] = {"end": item.until.isoformat()}
    if item.goals:
        detail["goal"] = [reference(goal_id(doc, ctx, key)) for key in item.goals]
    return {"extension": [item_key(ctx, item.key)], "detail": detail}


def care_plan_from_plan(doc: PlanDocument, ctx: PlanContext) -> Resource:
    activities = [_intervention(doc, item, ctx) for item in doc.interventions]
    if doc.coordination.next_meeting is not None:
        activities.append(
            {
                "detail": {
                    "kind": "Appointment",
                    "code": {"coding": [our_coding(ctx.base, PLAN_ACTIVITY, "coordination-meeting")]},
                    "status": "scheduled",
                    "scheduledPeriod": {"start": doc.coordination.next_meeting.isoformat()},
                    "description": NEXT_MEETING_DESCRIPTION,
                }
            }
        )
    goals = [reference(wish_id(doc, ctx, index)) for index in range(len(doc.wishes))]
    goals += [reference(goal_id(doc, ctx, goal.key)) for goal in doc.goals]
    supporting = [reference(consent_id(doc, ctx))]
    supporting += [reference(crisis_plan_id(doc, ctx, index)) for index in range(len(doc.crisis_plans))]
    plan: Resource = {
        "resourceType": "CarePlan",
        "id": care_plan_id(doc, ctx),
        "meta": meta(profile_url(ctx.base, profiles.CARE_PLAN)),
        "identifier": [{"system": doc.source.system, "value": doc.source.value}],
        "status": doc.status,
        "intent": "plan",
        "category": [{"coding": [our_coding(ctx.base, PLAN_CATEGORY, "kip")]}],
        "title": "Koordinerende indsatsplan",
        "subject": reference(patient_id(doc, ctx)),
        "created": doc.coordination.meeting_date.isoformat(),
        "author": member_reference(doc, doc.coordination.coordinator, ctx),
        "careTeam": [reference(care_team_id(doc, ctx))],
        "supportingInfo": supporting,
    }
    if goals:
        plan["goal"] = goals
    if activities:
        plan["activity"] = activities
    return plan
