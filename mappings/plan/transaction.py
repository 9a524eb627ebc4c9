"""The plan as one FHIR `transaction` Bundle (FHIR R4 http.html#transaction), and the ordered resource list.

Every entry has `fullUrl` = `urn:uuid:<id>` and all references point at those fullUrls; the store rewrites them.
Requests make a repeated POST of the same plan idempotent (issue 3: "a plan posted twice with the same source
identifier is not duplicated"):
- Patient: conditional update by CPR, `PUT Patient?identifier=urn:oid:1.2.208.176.1.2|<cpr>`;
- Organization: conditional create by its primary identifier (`POST` with `ifNoneExist`), as organisations are
  shared reference data that other plans and notices point at too;
- CarePlan: conditional update by the plan's source identifier, so a new coordination meeting makes a new version;
- every other (plan-owned) resource: conditional update by its `urn:ietf:rfc:3986` identifier `urn:uuid:<id>`.
Search values are percent-encoded (RFC 3986) because the server splits the query with `parse_qsl`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from mappings.documents.plan import PlanDocument
from mappings.plan.care_plan import care_plan_from_plan
from mappings.plan.care_team import care_team_from_plan
from mappings.plan.common import Resource, urn
from mappings.plan.consent import consent_from_plan, crisis_plans_from_plan
from mappings.plan.context import PlanContext
from mappings.plan.goal import goals_from_plan
from mappings.plan.organization import organizations_from_plan
from mappings.plan.patient import patient_from_plan
from mappings.plan.practitioner import practitioners_from_plan
from mappings.plan.related_person import related_persons_from_plan


def resources_from_plan(doc: PlanDocument, ctx: PlanContext) -> list[Resource]:
    """Every resource of the plan, referenced before referencing: Patient, Organizations, Practitioners,
    RelatedPersons, CareTeam, Goals, CarePlan, the consent, crisis plans."""
    return [
        patient_from_plan(doc, ctx),
        *organizations_from_plan(doc, ctx),
        *practitioners_from_plan(doc, ctx),
        *related_persons_from_plan(doc, ctx),
        care_team_from_plan(doc, ctx),
        *goals_from_plan(doc, ctx),
        care_plan_from_plan(doc, ctx),
        consent_from_plan(doc, ctx),
        *crisis_plans_from_plan(doc, ctx),
    ]


def _token(identifier: dict[str, Any]) -> str:
    return "identifier=" + quote(f"{identifier['system']}|{identifier['value']}", safe=":/|")


def request_for(resource: Resource) -> dict[str, Any]:
    """The conditional request for one of our resources (see the module docstring)."""
    resource_type = resource["resourceType"]
    identifier = resource["identifier"][0]
    if resource_type == "Organization":
        return {"method": "POST", "url": "Organization", "ifNoneExist": _token(identifier)}
    return {"method": "PUT", "url": f"{resource_type}?{_token(identifier)}"}


def transaction_from_plan(doc: PlanDocument, ctx: PlanContext) -> Resource:
    """A transaction Bundle storing the whole plan; same document and context give byte-identical JSON."""
    entries = [
        {"fullUrl": urn(resource["id"]), "resource": resource, "request": request_for(resource)}
        for resource in resources_from_plan(doc, ctx)
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}
