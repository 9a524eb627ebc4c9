"""RelatedPersons: relatives in the team, and relatives the citizen excluded in the consent ("not my father").

DK-core `dk-core-related-person`; `relationship` from v3-RoleCode, as in DK-core's value set
`dk-core-RelatedPersonRelationshipTypes`.
"""

from __future__ import annotations

from typing import Any

from mappings.documents.plan import PersonName, PlanDocument
from mappings.plan.codes import DK_CORE_RELATED_PERSON, RELATIONSHIP_CODES, V3_ROLE_CODE, coding
from mappings.plan.common import (
    Resource,
    human_name,
    member_id,
    member_kind,
    meta,
    patient_id,
    plan_id,
    reference,
    telecom,
    uri_identifier,
)
from mappings.plan.context import PlanContext


def relationship(code: str) -> dict[str, Any]:
    return {"coding": [coding(V3_ROLE_CODE, code, RELATIONSHIP_CODES[code])]}


def _related_person(
    doc: PlanDocument, ctx: PlanContext, resource_id: str, code: str, name: PersonName | None
) -> Resource:
    person: Resource = {
        "resourceType": "RelatedPerson",
        "id": resource_id,
        "meta": meta(DK_CORE_RELATED_PERSON),
        "identifier": [uri_identifier(resource_id)],
        "patient": reference(patient_id(doc, ctx)),
        "relationship": [relationship(code)],
    }
    if name is not None:
        person["name"] = [human_name(name)]
    return person


def denied_person_id(doc: PlanDocument, ctx: PlanContext, index: int) -> str:
    return plan_id(doc, ctx, "RelatedPerson", "denied", str(index))


def related_persons_from_plan(doc: PlanDocument, ctx: PlanContext) -> list[Resource]:
    result: list[Resource] = []
    for member in doc.team:
        if member_kind(member) == "RelatedPerson":
            assert member.relationship is not None
            person = _related_person(doc, ctx, member_id(doc, member, ctx), member.relationship, member.name)
            if points := telecom(member):
                person["telecom"] = points
            result.append(person)
    for index, party in enumerate(doc.consent.denied):
        if party.relationship is not None:
            result.append(_related_person(doc, ctx, denied_person_id(doc, ctx, index), party.relationship, party.name))
    return result
