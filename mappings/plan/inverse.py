"""FHIR → plan document: the inverse of `transaction_from_plan`, for stored resources as well as our own output.

Input is either a Bundle (searchset, transaction, collection: entries resolved by `fullUrl`) or a mapping of
resource type to resources. References are resolved as the FHIR spec says (R4 references.html): by `fullUrl`
inside a Bundle, else as `Type/id` (relative or at the end of an absolute URL, ignoring `_history`), else as
`urn:uuid:<id>` (our own unstored output). The walk starts at the one CarePlan with category `plan-category#kip`
and follows its references only, so unrelated resources in a search result do no harm.

Problems are `IssueError`s with FHIRPath locations (`CarePlan.activity[1].detail.performer[0]`) and message ids
`plan.fhir-*`; the rebuilt document then passes through `parse_plan_document`, so it satisfies every rule.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from mappings.documents.plan import PlanDocument, parse_plan_document
from mappings.issues import IssueError
from mappings.plan import profiles
from mappings.plan.codes import (
    CONSENT_SCOPE,
    CPR_SYSTEM,
    CRISIS_PLAN_KIND,
    DISCLOSURE_DATA,
    GLN_SYSTEMS,
    GOAL_TERM,
    MUNICIPALITY_EXTENSION,
    MUNICIPALITY_SYSTEM,
    PLAN_ACTIVITY,
    PLAN_CATEGORY,
    PROVIDER_NUMBER_SYSTEM,
    SOR_SYSTEM,
    TEAM_ROLE,
    V3_PARTICIPATION_TYPE,
    V3_ROLE_CODE,
    WISH_KIND,
    code_system_url,
    profile_url,
)
from mappings.plan.consent import CONSENT_STATUS
from mappings.plan.context import PlanContext

Resource = dict[str, Any]
_DECISION = {status: decision for decision, status in CONSENT_STATUS.items()}


def _fail(expression: str, text: str, message_id: str = "plan.fhir-unresolvable") -> IssueError:
    return IssueError.single("processing", text, expression=expression, message_id=message_id)


class _Index:
    def __init__(self, resources: Mapping[str, Sequence[Resource]] | Resource) -> None:
        self.by_key: dict[str, Resource] = {}
        self.all: list[Resource] = []
        if isinstance(resources, Mapping) and resources.get("resourceType") == "Bundle":
            for entry in resources.get("entry", []):
                resource = entry.get("resource")
                if isinstance(resource, dict):
                    self._add(resource, entry.get("fullUrl"))
        else:
            for items in resources.values():
                for resource in items:
                    self._add(resource, None)

    def _add(self, resource: Resource, full_url: str | None) -> None:
        self.all.append(resource)
        if full_url:
            self.by_key[full_url] = resource
        if "id" in resource:
            self.by_key.setdefault(f"{resource['resourceType']}/{resource['id']}", resource)
            self.by_key.setdefault(f"urn:uuid:{resource['id']}", resource)

    def resolve(self, ref: Any, where: str) -> Resource:
        target = ref.get("reference") if isinstance(ref, dict) else None
        if not isinstance(target, str):
            raise _fail(where, "Reference without a literal reference")
        found = self.by_key.get(target)
        if found is None:
            parts = [part for part in target.split("/") if part]
            if len(parts) >= 4 and parts[-2] == "_history":
                parts = parts[:-2]
            if len(parts) >= 2:
                found = self.by_key.get(f"{parts[-2]}/{parts[-1]}")
        if found is None:
            raise _fail(where, f"Reference {target!r} does not resolve to a resource in the input")
        return found


def _identity(resource: Resource) -> tuple[str, str]:
    return resource["resourceType"], str(resource.get("id", ""))


def _code(concept: Any, system: str) -> str | None:
    for item in (concept or {}).get("coding", []):
        if item.get("system") == system:
            return str(item["code"])
    return None


def _codes(concepts: Any, system: str) -> list[str]:
    return [code for concept in concepts or [] if (code := _code(concept, system)) is not None]


def _item_key(element: Resource, ctx: PlanContext) -> str | None:
    url = profile_url(ctx.base, profiles.ITEM_KEY)
    for extension in element.get("extension", []):
        if extension.get("url") == url:
            return str(extension["valueString"])
    return None


def _name(resource: Resource) -> dict[str, Any] | None:
    names = resource.get("name") or []
    official = next((name for name in names if name.get("use") == "official"), names[0] if names else None)
    if official is None:
        return None
    return {"given": list(official.get("given", [])), "family": official.get("family")}


def _telecom(resource: Resource, target: dict[str, Any]) -> None:
    for point in resource.get("telecom", []):
        if point.get("system") in ("phone", "email"):
            target[point["system"]] = point.get("value")


def _organisation(resource: Resource) -> dict[str, Any]:
    org: dict[str, Any] = {"name": resource.get("name")}
    for identifier in resource.get("identifier", []):
        system, value = identifier.get("system"), identifier.get("value")
        if system == SOR_SYSTEM:
            org["sor"] = value
        elif system in GLN_SYSTEMS:
            org["gln"] = value
        elif system == PROVIDER_NUMBER_SYSTEM:
            org["provider_number"] = value
        elif system == MUNICIPALITY_SYSTEM:
            org["municipality_code"] = value
    return org


def _period(period: Any) -> dict[str, Any]:
    result = {"start": (period or {}).get("start")}
    if (period or {}).get("end") is not None:
        result["end"] = period["end"]
    return result


def _find_care_plan(index: _Index, ctx: PlanContext) -> Resource:
    system = code_system_url(ctx.base, PLAN_CATEGORY)
    plans = [
        resource
        for resource in index.all
        if resource.get("resourceType") == "CarePlan" and "kip" in _codes(resource.get("category"), system)
    ]
    if len(plans) != 1:
        raise _fail("CarePlan", f"Expected one KIP CarePlan, found {len(plans)}", "plan.fhir-careplan-count")
    return plans[0]


def _citizen(index: _Index, patient: Resource) -> dict[str, Any]:
    cpr = next((item.get("value") for item in patient.get("identifier", []) if item.get("system") == CPR_SYSTEM), None)
    municipality = None
    for address in patient.get("address", []):
        for extension in address.get("extension", []):
            if extension.get("url") == MUNICIPALITY_EXTENSION:
                municipality = _code(extension.get("valueCodeableConcept"), MUNICIPALITY_SYSTEM)
    citizen: dict[str, Any] = {"cpr": cpr, "name": _name(patient), "municipality_code": municipality}
    if patient.get("generalPractitioner"):
        gp = index.resolve(patient["generalPractitioner"][0], "Patient.generalPractitioner[0]")
        citizen["gp"] = _organisation(gp)
    return citizen


def _team(index: _Index, team: Resource, ctx: PlanContext) -> tuple[list[dict[str, Any]], dict[Any, str]]:
    roles_system = code_system_url(ctx.base, TEAM_ROLE)
    members: list[dict[str, Any]] = []
    keys: dict[Any, str] = {}
    for position, participant in enumerate(team.get("participant", [])):
        where = f"CareTeam.participant[{position}]"
        key = _item_key(participant, ctx)
        resource = index.resolve(participant.get("member"), f"{where}.member")
        roles = [code for code in _codes(participant.get("role"), roles_system) if code != "coordinator"]
        member: dict[str, Any] = {"key": key, "role": roles[0] if roles else None}
        kind = resource["resourceType"]
        if kind == "Organization":
            member["organisation"] = _organisation(resource)
        else:
            member["name"] = _name(resource)
            _telecom(resource, member)
            if kind == "RelatedPerson":
                member["relationship"] = _code((resource.get("relationship") or [None])[0], V3_ROLE_CODE)
            elif participant.get("onBehalfOf"):
                org = index.resolve(participant["onBehalfOf"], f"{where}.onBehalfOf")
                member["organisation"] = _organisation(org)
        member["period"] = _period(participant.get("period"))
        members.append(member)
        keys[_identity(resource)] = str(key)
    return members, keys


def _member_key(index: _Index, ref: Any, keys: Mapping[Any, str], where: str) -> str:
    resource = index.resolve(ref, where)
    if _identity(resource) not in keys:
        raise _fail(where, "The referenced resource is not a member of the plan's CareTeam", "plan.fhir-not-member")
    return keys[_identity(resource)]


def _goals(index: _Index, plan: Resource, ctx: PlanContext) -> tuple[list[Any], list[Any], dict[Any, str]]:
    wishes: list[dict[str, Any]] = []
    goals: list[dict[str, Any]] = []
    goal_keys: dict[Any, str] = {}
    for position, ref in enumerate(plan.get("goal", [])):
        goal = index.resolve(ref, f"CarePlan.goal[{position}]")
        text = (goal.get("description") or {}).get("text")
        kind = _codes(goal.get("category"), code_system_url(ctx.base, WISH_KIND))
        if kind:
            wishes.append({"kind": kind[0], "text": text})
            continue
        key = _item_key(goal, ctx)
        term = _codes(goal.get("category"), code_system_url(ctx.base, GOAL_TERM))
        item: dict[str, Any] = {
            "key": key,
            "description": text,
            "term": term[0] if term else None,
            "status": goal.get("lifecycleStatus"),
        }
        if "startDate" in goal:
            item["start_date"] = goal["startDate"]
        due = [target["dueDate"] for target in goal.get("target", []) if "dueDate" in target]
        if due:
            item["target_date"] = due[0]
        goals.append(item)
        goal_keys[_identity(goal)] = str(key)
    return wishes, goals, goal_keys


def _activities(
    index: _Index, plan: Resource, ctx: PlanContext, keys: Mapping[Any, str], goal_keys: Mapping[Any, str]
) -> tuple[list[dict[str, Any]], str | None]:
    meeting_system = code_system_url(ctx.base, PLAN_ACTIVITY)
    interventions: list[dict[str, Any]] = []
    next_meeting = None
    for position, activity in enumerate(plan.get("activity", [])):
        where = f"CarePlan.activity[{position}].detail"
        detail = activity.get("detail") or {}
        if _code(detail.get("code"), meeting_system) == "coordination-meeting":
            next_meeting = (detail.get("scheduledPeriod") or {}).get("start")
            continue
        performers = detail.get("performer") or [None]
        item: dict[str, Any] = {
            "key": _item_key(activity, ctx),
            "description": detail.get("description"),
            "responsible": _member_key(index, performers[0], keys, f"{where}.performer[0]"),
            "status": detail.get("status"),
        }
        if (detail.get("scheduledPeriod") or {}).get("end"):
            item["until"] = detail["scheduledPeriod"]["end"]
        goals = []
        for goal_position, ref in enumerate(detail.get("goal", [])):
            goal = index.resolve(ref, f"{where}.goal[{goal_position}]")
            goals.append(goal_keys.get(_identity(goal)))
        if goals:
            item["goals"] = goals
        interventions.append(item)
    return interventions, next_meeting


def _consent(index: _Index, consent: Resource, ctx: PlanContext, keys: Mapping[Any, str]) -> dict[str, Any]:
    provision = consent.get("provision") or {}
    permitted: list[str] = []
    for position, actor in enumerate(provision.get("actor", [])):
        if _code(actor.get("role"), V3_PARTICIPATION_TYPE) == "PRCP":
            continue  # the organisation of a permitted professional, implied by the member
        permitted.append(_member_key(index, actor.get("reference"), keys, f"Consent.provision.actor[{position}]"))
    denied: list[dict[str, Any]] = []
    for nested in provision.get("provision", []):
        for position, actor in enumerate(nested.get("actor", []) if nested.get("type") == "deny" else []):
            party = index.resolve(actor.get("reference"), f"Consent.provision.provision.actor[{position}]")
            if party["resourceType"] == "Organization":
                denied.append({"organisation": _organisation(party)})
            else:
                entry: dict[str, Any] = {"relationship": _code((party.get("relationship") or [None])[0], V3_ROLE_CODE)}
                if party.get("name"):
                    entry["name"] = _name(party)
                denied.append(entry)
    return {
        "decision": _DECISION.get(str(consent.get("status"))),
        "decided_on": consent.get("dateTime"),
        "period": _period(provision.get("period")),
        "data": _codes(provision.get("code"), code_system_url(ctx.base, DISCLOSURE_DATA)),
        "permitted": permitted,
        "denied": denied,
    }


def _crisis_plan(consent: Resource, ctx: PlanContext, where: str) -> dict[str, Any]:
    kind = _codes(consent.get("category"), code_system_url(ctx.base, CRISIS_PLAN_KIND))
    attachment = consent.get("sourceAttachment") or {}
    try:
        text = base64.b64decode(attachment.get("data", ""), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _fail(f"{where}.sourceAttachment.data", "Not base64 of UTF-8 text", "plan.fhir-attachment") from None
    return {"kind": kind[0] if kind else None, "made_on": consent.get("dateTime"), "text": text}


def plan_from_fhir(
    resources: Mapping[str, Sequence[Resource]] | Resource, ctx: PlanContext | None = None
) -> PlanDocument:
    """Rebuild the plan document from its FHIR resources (a Bundle, or resources grouped by type)."""
    ctx = ctx or PlanContext()
    index = _Index(resources)
    plan = _find_care_plan(index, ctx)
    patient = index.resolve(plan.get("subject"), "CarePlan.subject")
    team = index.resolve((plan.get("careTeam") or [None])[0], "CarePlan.careTeam[0]")
    members, keys = _team(index, team, ctx)
    wishes, goals, goal_keys = _goals(index, plan, ctx)
    interventions, next_meeting = _activities(index, plan, ctx, keys, goal_keys)
    consent: dict[str, Any] | None = None
    crisis_plans: list[dict[str, Any]] = []
    for position, ref in enumerate(plan.get("supportingInfo", [])):
        where = f"CarePlan.supportingInfo[{position}]"
        info = index.resolve(ref, where)
        scope = _code(info.get("scope"), CONSENT_SCOPE) if info.get("resourceType") == "Consent" else None
        if scope == "patient-privacy":
            consent = _consent(index, info, ctx, keys)
        elif scope == "adr":
            crisis_plans.append(_crisis_plan(info, ctx, where))
    if consent is None:
        raise _fail("CarePlan.supportingInfo", "The plan's consent is missing", "plan.fhir-consent-missing")
    identifier = (plan.get("identifier") or [{}])[0]
    coordination: dict[str, Any] = {
        "meeting_date": plan.get("created"),
        "coordinator": _member_key(index, plan.get("author"), keys, "CarePlan.author"),
    }
    if next_meeting is not None:
        coordination["next_meeting"] = next_meeting
    document = {
        "source": {"system": identifier.get("system"), "value": identifier.get("value")},
        "status": plan.get("status"),
        "citizen": _citizen(index, patient),
        "wishes": wishes,
        "goals": goals,
        "interventions": interventions,
        "coordination": coordination,
        "team": members,
        "crisis_plans": crisis_plans,
        "consent": consent,
    }
    return parse_plan_document(document)
