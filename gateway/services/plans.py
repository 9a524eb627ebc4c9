"""Shared citizen plans: plan document in, FHIR transaction out; FHIR back to the plan document.

The mapping is pure (`mappings.plan`); this module does the I/O: one FHIR transaction per accepted plan (all or
nothing, idempotent by the plan's source identifier), and reads of a stored plan with everything it references.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.fhir.access import OPEN, Access
from gateway.fhir.interactions import FhirService
from gateway.fhir.transactions import BundleProcessor
from gateway.store.ports import ResourceTransaction, StoredResource, iterate_references
from gateway.store.search_params import SUPPORTED_TYPES, parse_reference
from mappings.documents.plan import PlanDocument, parse_plan_document
from mappings.issues import IssueError
from mappings.plan import ConsentDecisionInput, PlanContext, plan_from_fhir, transaction_from_plan
from mappings.plan.common import care_plan_id

CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"
PATIENT_PRIVACY = ("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy")

Resource = dict[str, Any]
#: (resource type, id) -> the version to use, or None.
Resolver = Callable[[str, str], StoredResource | None]
#: Types whose read scope `GET /plans/{id}` needs; the team's people and organisations come with the CareTeam.
PLAN_SCOPED_TYPES = frozenset({"CarePlan", "CareTeam", "Goal", "Consent", "Patient"})
#: How far `read_plan` follows references from the CarePlan (plan -> team -> member -> organisation).
MAX_REFERENCE_DEPTH = 4


@dataclass(frozen=True)
class StoredPlan:
    """A citizen's current plan as stored: the document, its consent and every resource it references."""

    plan_id: str
    document: PlanDocument
    consent: ConsentDecisionInput | None


@dataclass(frozen=True)
class PlanReceipt:
    plan_id: str
    version_id: str
    created: bool
    resources: dict[str, list[str]]

    def to_json(self) -> dict[str, Any]:
        return {
            "planId": self.plan_id,
            "versionId": self.version_id,
            "created": self.created,
            "resources": self.resources,
        }


class PlanHooks(Protocol):
    """What the plan write path does besides storing it (`gateway.services.plan_sharing`, wired by `create_app`)."""

    def narrate(self, bundle: Resource, document: PlanDocument) -> Resource:
        """The transaction Bundle with a generated narrative in each resource."""
        ...

    def stored(self, receipt: PlanReceipt, document: PlanDocument, access: Access) -> None:
        """After the plan's transaction committed: share the plan after a new coordination meeting."""
        ...


class PlanService:
    def __init__(self, fhir: FhirService, context: PlanContext, hooks: PlanHooks | None = None) -> None:
        self.fhir = fhir
        self.context = context
        self.hooks = hooks

    def accept(
        self, base: str, data: object, *, expected_plan_id: str | None = None, access: Access = OPEN
    ) -> PlanReceipt:
        """Store a plan document as one FHIR transaction; a repeat of the same plan changes nothing."""
        document = parse_plan_document(data)
        if expected_plan_id is not None and care_plan_id(document, self.context) != expected_plan_id:
            raise IssueError.single(
                "business-rule",
                f"The document's source identifier ({document.source.system}|{document.source.value}) belongs to "
                f"another plan than {expected_plan_id}",
                expression="/source",
                message_id="plan.source-mismatch",
                status=422,
            )
        bundle = transaction_from_plan(document, self.context)
        if self.hooks is not None:
            bundle = self.hooks.narrate(bundle, document)
        reply = BundleProcessor(self.fhir, access).process(base, bundle)
        assert reply.body is not None
        resources: dict[str, list[str]] = defaultdict(list)
        plan_id, version, created = "", "", False
        for entry in reply.body["entry"]:
            resource = entry["resource"]
            resources[resource["resourceType"]].append(resource["id"])
            if resource["resourceType"] == "CarePlan":
                plan_id, version = resource["id"], resource["meta"]["versionId"]
                created = entry["response"]["status"].startswith("201")
        receipt = PlanReceipt(plan_id, version, created, dict(resources))
        if self.hooks is not None:
            self.hooks.stored(receipt, document, access)
        return receipt

    def read(self, plan_id: str, version: int | None = None, access: Access = OPEN) -> PlanDocument:
        """The plan document; every resource it is rebuilt from must be readable and disclosed to the caller."""

        def work(tx: ResourceTransaction) -> dict[str, list[Resource]]:
            if version:
                response = self.fhir.vread_in(tx, "", "CarePlan", plan_id, version, access)
            else:
                response = self.fhir.read_in(tx, "", "CarePlan", plan_id, access)
            assert response.body is not None
            closure = reference_closure(tx, response.body)
            for resource_type, resources in closure.items():
                if resource_type in PLAN_SCOPED_TYPES:
                    access.require(resource_type, "r")
                for resource in resources:
                    current = tx.read_current(resource_type, resource["id"])
                    if current is not None and resource_type != "CarePlan":
                        self.fhir.check_visible(tx, access, current, "read")
            return closure

        return plan_from_fhir(self.fhir.guarded(access, work), self.context)

    def current_plan_for(self, cpr: str, access: Access = OPEN) -> StoredPlan | None:
        """The citizen's newest active plan (by last update) that `access` may see and that is a shared-plan
        document, with its consent; None when there is none.

        Every disclosure of plan content is decided by `may_disclose` on the consent returned here. Judging the
        plans by the caller's access keeps a plan written by another organisation from steering its notices.
        """
        query_patient = self.fhir.parse_query("Patient", [("identifier", f"{CPR_SYSTEM}|{cpr}")])
        with self.fhir.store.reading() as tx:
            for patient in tx.search(query_patient).matches:
                query_plans = self.fhir.parse_query(
                    "CarePlan",
                    [("patient", patient.id), ("status", "active"), ("_sort", "-_lastUpdated"), ("_count", "20")],
                )
                for plan in tx.search(query_plans).matches:
                    if plan.resource is None or (access.governs("CarePlan") and not access.visible(tx, plan)):
                        continue
                    closure = reference_closure(tx, plan.resource)
                    try:
                        document = plan_from_fhir(closure, self.context)
                    except IssueError:
                        continue  # a CarePlan that is not a shared-plan document (written straight to /fhir)
                    return StoredPlan(plan.id, document, _consent_input(closure))
        return None


def _consent_input(closure: dict[str, list[Resource]]) -> ConsentDecisionInput | None:
    """The plan's patient-privacy Consent, with every resource of the plan so actors match on all identifiers."""
    consent = next(
        (
            resource
            for resource in closure.get("Consent", [])
            if any(
                (c.get("system"), c.get("code")) == PATIENT_PRIVACY
                for c in (resource.get("scope") or {}).get("coding", [])
            )
        ),
        None,
    )
    everything = [resource for group in closure.values() for resource in group]
    return None if consent is None else ConsentDecisionInput.with_resources(consent, everything)


def reference_closure(
    tx: ResourceTransaction, root: Resource, resolve: Resolver | None = None
) -> dict[str, list[Resource]]:
    """`root` and every resource it references, transitively (bounded depth), grouped by type. `resolve` picks the
    version of a referenced resource (default: the current one; `gateway.services.plan_history` picks the one of
    an earlier plan version)."""
    resolve = resolve or tx.read_current
    found: dict[tuple[str, str], Resource] = {(root["resourceType"], root["id"]): root}
    frontier = [root]
    for _ in range(MAX_REFERENCE_DEPTH):
        next_frontier: list[Resource] = []
        for resource in frontier:
            for reference in iterate_references(resource):
                target = parse_reference(reference["reference"])
                if target is None or target in found or target[0] not in SUPPORTED_TYPES:
                    continue
                current = resolve(*target)
                if current is not None and current.resource is not None:
                    found[target] = current.resource
                    next_frontier.append(current.resource)
        frontier = next_frontier
    grouped: dict[str, list[Resource]] = defaultdict(list)
    for resource in found.values():
        grouped[resource["resourceType"]].append(resource)
    return dict(grouped)
