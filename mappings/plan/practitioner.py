"""Practitioners: named team members who are not relatives (DK-core `dk-core-practitioner`).

A Practitioner here stands for one person in one plan's team (its id comes from the plan's source identifier and
the member key); their organisation is `CareTeam.participant.onBehalfOf`.
"""

from __future__ import annotations

from mappings.documents.plan import PlanDocument
from mappings.plan.codes import DK_CORE_PRACTITIONER
from mappings.plan.common import Resource, human_name, member_id, member_kind, meta, telecom, uri_identifier
from mappings.plan.context import PlanContext


def practitioners_from_plan(doc: PlanDocument, ctx: PlanContext) -> list[Resource]:
    result: list[Resource] = []
    for member in doc.team:
        if member_kind(member) != "Practitioner":
            continue
        assert member.name is not None
        resource_id = member_id(doc, member, ctx)
        practitioner: Resource = {
            "resourceType": "Practitioner",
            "id": resource_id,
            "meta": meta(DK_CORE_PRACTITIONER),
            "identifier": [uri_identifier(resource_id)],
            "name": [human_name(member.name)],
        }
        if points := telecom(member):
            practitioner["telecom"] = points
        result.append(practitioner)
    return result
