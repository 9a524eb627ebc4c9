"""Goals (profile `kip-goal`): the citizen's wishes, dreams and needs, and the plan's goals.

A wish is a Goal expressed by the citizen (`expressedBy` = Patient, category `wish-kind`), always `active`: it is
the starting point of the plan, as the KL FFB `goal[citizenObjective]` slice treats the citizen's own goal. A goal
has category `goal-term` (short/long), its `lifecycleStatus`, `startDate` and `target.dueDate`, and its key in the
`plan-item-key` extension. `CarePlan.goal` lists wishes first, then goals, in document order.
"""

from __future__ import annotations

from mappings.documents.plan import PlanDocument
from mappings.plan import profiles
from mappings.plan.codes import GOAL_TERM, WISH_KIND, our_coding, profile_url
from mappings.plan.common import Resource, item_key, meta, patient_id, plan_id, reference, uri_identifier
from mappings.plan.context import PlanContext


def wish_id(doc: PlanDocument, ctx: PlanContext, index: int) -> str:
    return plan_id(doc, ctx, "Goal", "wish", str(index))


def goal_id(doc: PlanDocument, ctx: PlanContext, key: str) -> str:
    return plan_id(doc, ctx, "Goal", "goal", key)


def goals_from_plan(doc: PlanDocument, ctx: PlanContext) -> list[Resource]:
    def profile() -> dict[str, list[str]]:
        return meta(profile_url(ctx.base, profiles.GOAL))

    def patient() -> dict[str, str]:
        return reference(patient_id(doc, ctx))

    result: list[Resource] = []
    for index, wish in enumerate(doc.wishes):
        resource_id = wish_id(doc, ctx, index)
        result.append(
            {
                "resourceType": "Goal",
                "id": resource_id,
                "meta": profile(),
                "identifier": [uri_identifier(resource_id)],
                "lifecycleStatus": "active",
                "category": [{"coding": [our_coding(ctx.base, WISH_KIND, wish.kind)]}],
                "description": {"text": wish.text},
                "subject": patient(),
                "expressedBy": patient(),
            }
        )
    for goal in doc.goals:
        resource_id = goal_id(doc, ctx, goal.key)
        resource: Resource = {
            "resourceType": "Goal",
            "id": resource_id,
            "meta": profile(),
            "extension": [item_key(ctx, goal.key)],
            "identifier": [uri_identifier(resource_id)],
            "lifecycleStatus": goal.status,
            "category": [{"coding": [our_coding(ctx.base, GOAL_TERM, goal.term)]}],
            "description": {"text": goal.description},
            "subject": patient(),
        }
        if goal.start_date is not None:
            resource["startDate"] = goal.start_date.isoformat()
        if goal.target_date is not None:
            resource["target"] = [{"dueDate": goal.target_date.isoformat()}]
        result.append(resource)
    return result
