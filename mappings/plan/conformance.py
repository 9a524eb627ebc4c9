"""Our conformance resources (StructureDefinitions, CodeSystems, ValueSets) for any canonical base.

The JSON files in `profiles/` are these resources rendered for `DEFAULT_BASE` (`python -m profiles` rewrites them; a
test fails when they are stale). A deployment with its own base calls `conformance_resources(base)` instead of
editing files, so the profiles, the codes the mapping emits and the validator's package always agree.

The profiles are differential StructureDefinitions on FHIR R4 (4.0.1), in the style of MedCom's IGs; Patient,
Organization (with SOR), Practitioner and RelatedPerson use DK-core 3.4.0's profiles directly.
"""

from __future__ import annotations

from typing import Any

from mappings.plan import profiles
from mappings.plan.codes import (
    CRISIS_PLAN_KIND,
    DISCLOSURE_DATA,
    DK_CORE_PATIENT,
    PLAN_CATEGORY,
    TABLES,
    TEAM_ROLE,
    Table,
    code_system_url,
    profile_url,
    value_set_url,
)
from mappings.plan.context import DEFAULT_BASE

Resource = dict[str, Any]
VERSION = "0.1.0"
_R4 = "http://hl7.org/fhir/StructureDefinition/"
_PUBLISHER = "careplan-gateway (placeholder canonical base; .example is reserved, RFC 2606)"


def _header(resource_type: str, table: Table, url: str) -> Resource:
    """The metadata our CodeSystems and ValueSets share (in the order the published files have it)."""
    return {
        "resourceType": resource_type,
        "id": table.id,
        "url": url,
        "version": VERSION,
        "name": table.name,
        "title": table.title,
        "status": "active",
        "experimental": False,
        "publisher": _PUBLISHER,
    }


def code_system(base: str, table: Table) -> Resource:
    return _header("CodeSystem", table, code_system_url(base, table)) | {
        "description": table.description,
        "caseSensitive": True,
        "valueSet": value_set_url(base, table),
        "content": "complete",
        "count": len(table.concepts),
        "concept": [
            {
                "code": concept.code,
                "display": concept.display,
                "definition": concept.definition,
                "designation": [{"language": "da", "value": concept.danish}],
            }
            for concept in table.concepts
        ],
    }


def value_set(base: str, table: Table) -> Resource:
    return _header("ValueSet", table, value_set_url(base, table)) | {
        "description": f"All codes of {code_system_url(base, table)}.",
        "compose": {"include": [{"system": code_system_url(base, table)}]},
    }


def terminology_resources(base: str = DEFAULT_BASE) -> list[Resource]:
    """A CodeSystem and a ValueSet (all its codes) per code table of ours."""
    return [resource for table in TABLES for resource in (code_system(base, table), value_set(base, table))]


def _element(path: str, **rules: Any) -> dict[str, Any]:
    slice_name = rules.pop("slice", None)
    element: dict[str, Any] = {"id": f"{path}:{slice_name}" if slice_name else path, "path": path}
    if slice_name:
        element["sliceName"] = slice_name
    element.update(rules)
    return element


def _ref(*targets: str) -> list[dict[str, Any]]:
    return [{"code": "Reference", "targetProfile": list(targets)}]


def _item_key(base: str, path: str, minimum: int) -> dict[str, Any]:
    return _element(
        f"{path}.extension",
        slice="itemKey",
        min=minimum,
        max="1",
        type=[{"code": "Extension", "profile": [profile_url(base, profiles.ITEM_KEY)]}],
    )


def _binding(base: str, table: Table, strength: str = "required") -> dict[str, Any]:
    return {"strength": strength, "valueSet": value_set_url(base, table)}


def _profile(base: str, profile_id: str, title: str, description: str, kind: str, **rest: Any) -> Resource:
    resource_type = rest.pop("type")
    elements = rest.pop("elements")
    return {
        "resourceType": "StructureDefinition",
        "id": profile_id,
        "url": profile_url(base, profile_id),
        "version": VERSION,
        "name": "".join(part.capitalize() for part in profile_id.split("-")),
        "title": title,
        "status": "active",
        "experimental": False,
        "publisher": _PUBLISHER,
        "description": description,
        "fhirVersion": "4.0.1",
        "kind": kind,
        "abstract": False,
        **rest,
        "type": resource_type,
        "baseDefinition": rest.get("baseDefinition", _R4 + resource_type),
        "derivation": "constraint",
        "differential": {"element": [_element(resource_type), *elements]},
    }


def structure_definitions(base: str = DEFAULT_BASE) -> list[Resource]:
    item_key = _profile(
        base, profiles.ITEM_KEY, "Plan item key",
        "The plan document's local key of a goal, intervention or team member, kept for the round trip.",
        "complex-type", type="Extension",
        context=[{"type": "element", "expression": path}
                 for path in ("Goal", "CarePlan.activity", "CareTeam.participant")],
        elements=[
            _element("Extension.extension", max="0"),
            _element("Extension.url", fixedUri=profile_url(base, profiles.ITEM_KEY)),
            _element("Extension.value[x]", min=1, type=[{"code": "string"}]),
        ],
    )  # fmt: skip
    kip = {"coding": [{"system": code_system_url(base, PLAN_CATEGORY), "code": "kip"}]}
    care_plan = _profile(
        base, profiles.CARE_PLAN, "KIP CarePlan",
        "The shared citizen plan (koordinerende indsatsplan): wishes and goals, interventions with a responsible "
        "team member, the coordinator (author) until the next coordination meeting.",
        "resource", type="CarePlan",
        elements=[
            _element("CarePlan.identifier", min=1),
            _element("CarePlan.intent", fixedCode="plan"),
            _element("CarePlan.category", min=1, patternCodeableConcept=kip),
            _element("CarePlan.subject", type=_ref(DK_CORE_PATIENT)),
            _element("CarePlan.created", min=1),
            _element("CarePlan.author", min=1),
            _element("CarePlan.careTeam", min=1, max="1", type=_ref(profile_url(base, profiles.CARE_TEAM))),
            _element("CarePlan.supportingInfo", min=1),
            _element("CarePlan.goal", type=_ref(profile_url(base, profiles.GOAL))),
            _item_key(base, "CarePlan.activity", 0),
            _element("CarePlan.activity.reference", max="0"),
            _element("CarePlan.activity.detail", min=1),
            _element("CarePlan.activity.detail.description", min=1),
            _element("CarePlan.activity.detail.performer", max="1"),
        ],
    )  # fmt: skip
    care_team = _profile(
        base, profiles.CARE_TEAM, "KIP CareTeam",
        "The patient's team (Patientens team): the members the citizen chose, each with a role, organisation and "
        "contact period; the coordinator carries the extra role 'coordinator'.",
        "resource", type="CareTeam",
        elements=[
            _element("CareTeam.identifier", min=1),
            _element("CareTeam.status", min=1),
            _element("CareTeam.category", min=1),
            _element("CareTeam.name", min=1),
            _element("CareTeam.subject", min=1, type=_ref(DK_CORE_PATIENT)),
            _element("CareTeam.participant", min=1),
            _item_key(base, "CareTeam.participant", 1),
            _element("CareTeam.participant.role", min=1, binding=_binding(base, TEAM_ROLE, "extensible")),
            _element("CareTeam.participant.member", min=1),
            _element("CareTeam.participant.period", min=1),
            _element("CareTeam.participant.period.start", min=1),
        ],
    )  # fmt: skip
    goal = _profile(
        base, profiles.GOAL, "KIP Goal",
        "A wish, dream or need of the citizen (expressedBy = Patient) or a short- or long-term goal of the plan.",
        "resource", type="Goal",
        elements=[
            _item_key(base, "Goal", 0),
            _element("Goal.identifier", min=1),
            _element("Goal.category", min=1, max="1"),
            _element("Goal.subject", min=1, type=_ref(DK_CORE_PATIENT)),
        ],
    )  # fmt: skip
    consent = _profile(
        base, profiles.CONSENT, "KIP Consent",
        "The citizen's consent to the plan: who may see it (actors), for which period and data, with explicit "
        "exceptions as a nested deny provision. Enforced by the gateway's may_disclose.",
        "resource", type="Consent",
        elements=[
            _element("Consent.identifier", min=1),
            _element("Consent.scope", patternCodeableConcept={"coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]}),
            _element("Consent.patient", min=1, type=_ref(DK_CORE_PATIENT)),
            _element("Consent.dateTime", min=1),
            _element("Consent.policyRule", min=1),
            _element("Consent.provision", min=1),
            _element("Consent.provision.type", min=1, fixedCode="permit"),
            _element("Consent.provision.period", min=1),
            _element("Consent.provision.period.start", min=1),
            _element("Consent.provision.actor.reference.identifier", min=1),
            _element("Consent.provision.code", min=1, binding=_binding(base, DISCLOSURE_DATA)),
            _element("Consent.provision.data", min=1),
            _element("Consent.provision.provision.type", min=1, fixedCode="deny"),
        ],
    )  # fmt: skip
    crisis = _profile(
        base, profiles.CRISIS_PLAN, "KIP crisis plan / advance directive",
        "A crisis plan or advance directive (kriseplan, forhåndstilkendegivelse) made in a stable phase and to be "
        "found and used at admission; the citizen's text is the source attachment.",
        "resource", type="Consent",
        elements=[
            _element("Consent.identifier", min=1),
            _element("Consent.scope", patternCodeableConcept={"coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "adr"}]}),
            _element("Consent.category", min=2, binding=_binding(base, CRISIS_PLAN_KIND, "extensible")),
            _element("Consent.patient", min=1, type=_ref(DK_CORE_PATIENT)),
            _element("Consent.dateTime", min=1),
            _element("Consent.source[x]", min=1, type=[{"code": "Attachment"}]),
        ],
    )  # fmt: skip
    organization = _profile(
        base, profiles.ORGANIZATION, "KIP Organization without SOR",
        "An organisation in a plan known only by GLN or provider number (e.g. a voluntary association).",
        "resource", type="Organization",
        elements=[_element("Organization.identifier", min=1), _element("Organization.name", min=1)],
    )  # fmt: skip
    return [item_key, care_plan, care_team, goal, consent, crisis, organization]


def conformance_resources(base: str = DEFAULT_BASE) -> list[Resource]:
    """Every StructureDefinition, CodeSystem and ValueSet of ours, for canonical base `base`."""
    return [*structure_definitions(base), *terminology_resources(base)]
