"""Which data category guards each resource of a plan (the `careplan`/`careteam`/`crisisplan` part of the rule).

The categories are the citizen's consent categories (`disclosure-data`); a resource is disclosed to an organisation
when the plan's own Consent grants that organisation its category (`disclosure.plan_grants`):

| resource (written for the plan)                                  | category                        |
|------------------------------------------------------------------|---------------------------------|
| CarePlan, Goal (the citizen's wishes too), the privacy Consent    | careplan                        |
| RelatedPerson the Consent excludes ("not my father")             | careplan (it is the Consent's)  |
| CareTeam, Practitioner, PractitionerRole, RelatedPerson members  | careteam                        |
| crisis plans and advance directives (Consent scope `adr`)        | crisisplan                      |
| Patient                                                          | all four: any grant shows whom  |
| Organization                                                     | none: an open directory         |

`followup` guards no stored resource: it is what the discharge notices carry.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mappings.plan.codes import CONSENT_SCOPE
from mappings.plan.disclosure import DATA_KINDS, DataKind

Resource = dict[str, Any]
Member = tuple[str, str, DataKind]
_BY_TYPE: dict[str, DataKind] = {
    "CarePlan": "careplan",
    "Goal": "careplan",
    "CareTeam": "careteam",
    "Practitioner": "careteam",
    "PractitionerRole": "careteam",
}


def _team_members(resources: list[Resource]) -> set[str]:
    return {
        str((participant.get("member") or {}).get("reference"))
        for resource in resources
        if resource.get("resourceType") == "CareTeam"
        for participant in resource.get("participant", [])
    }


def category_of(resource: Resource, team_members: set[str]) -> tuple[DataKind, ...]:
    """The categories guarding one plan resource (`team_members`: the `Type/id` references of the CareTeam)."""
    resource_type = resource.get("resourceType")
    if resource_type == "Patient":
        return DATA_KINDS
    if resource_type == "Consent":
        scopes = {
            c.get("code") for c in (resource.get("scope") or {}).get("coding", []) if c.get("system") == CONSENT_SCOPE
        }
        return ("crisisplan",) if "adr" in scopes else ("careplan",)
    if resource_type == "RelatedPerson":
        return ("careteam",) if f"RelatedPerson/{resource.get('id')}" in team_members else ("careplan",)
    kind = _BY_TYPE.get(str(resource_type))
    return (kind,) if kind else ()


def plan_members(resources: Iterable[Resource]) -> list[Member]:
    """`(resource type, id, category)` of every stored resource of one plan (references already `Type/id`)."""
    stored = list(resources)
    team = _team_members(stored)
    return [
        (resource["resourceType"], resource["id"], kind) for resource in stored for kind in category_of(resource, team)
    ]
