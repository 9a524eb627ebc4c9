"""The shared citizen plan (KIP) as FHIR R4: pure mappings plan document ↔ FHIR, and consent decisions.

One function per output resource (`<target>_from_plan`), the whole plan as a transaction Bundle, the inverse
`plan_from_fhir`, `may_disclose`, by which every disclosure is decided, and its materialisation for the database
(`plan_grants`, `plan_members`). No I/O, no clock, no randomness: ids are UUID v5 under `PlanContext.id_namespace`
(and the author), so the same document gives byte-identical output.
"""

from mappings.plan.care_plan import care_plan_from_plan
from mappings.plan.care_team import care_team_from_plan
from mappings.plan.conformance import conformance_resources, terminology_resources
from mappings.plan.consent import consent_from_plan, crisis_plans_from_plan
from mappings.plan.context import DEFAULT_BASE, DEFAULT_ID_NAMESPACE, PlanContext
from mappings.plan.disclosure import DATA_KINDS, DataKind, Decision, Grant, Recipient, may_disclose, plan_grants
from mappings.plan.goal import goals_from_plan
from mappings.plan.inverse import plan_from_fhir
from mappings.plan.membership import plan_members
from mappings.plan.organization import organizations_from_plan
from mappings.plan.patient import patient_from_plan
from mappings.plan.practitioner import practitioners_from_plan
from mappings.plan.related_person import related_persons_from_plan
from mappings.plan.transaction import resources_from_plan, transaction_from_plan

__all__ = [
    "DATA_KINDS",
    "DEFAULT_BASE",
    "DEFAULT_ID_NAMESPACE",
    "DataKind",
    "Decision",
    "Grant",
    "PlanContext",
    "Recipient",
    "care_plan_from_plan",
    "care_team_from_plan",
    "conformance_resources",
    "consent_from_plan",
    "crisis_plans_from_plan",
    "goals_from_plan",
    "may_disclose",
    "organizations_from_plan",
    "patient_from_plan",
    "plan_from_fhir",
    "plan_grants",
    "plan_members",
    "practitioners_from_plan",
    "related_persons_from_plan",
    "resources_from_plan",
    "terminology_resources",
    "transaction_from_plan",
]
