"""Shared citizen plans: plan document in, FHIR transaction out; FHIR back to the plan document.

The mapping is pure (`mappings.plan`); this module does the I/O: one FHIR transaction per accepted plan (all or
nothing, idempotent by the plan's source identifier), written by the plan's author only, together with the access
rule's data for it (the plan's row, its members by data category and what its own Consent grants); and reads of a
stored plan with everything it references, for callers the rule lets see all of it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Protocol

from gateway.fhir.access import OPEN, Access, AuditRecord, Denied
from gateway.fhir.interactions import FhirService
from gateway.fhir.rules import missing
from gateway.fhir.transactions import BundleProcessor, parse_entries
from gateway.services.plan_cache import PlanLookupCache
from gateway.store.dates import format_instant
from gateway.store.ports import CitizenPlan, PlanRecord, ResourceTransaction, StoredResource, iterate_references
from gateway.store.search_params import SUPPORTED_TYPES, parse_reference
from gateway.store.tables import SOURCE_SYSTEM_LEN
from mappings.documents.plan import PlanConsent, PlanDocument, parse_plan_document
from mappings.issues import Issue, IssueError
from mappings.plan import PlanContext, plan_from_fhir, plan_grants, plan_members, transaction_from_plan
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
    """A citizen's current plan as stored: the document and its own privacy Consent."""

    plan_id: str
    document: PlanDocument
    consent: Resource | None


@dataclass(frozen=True)
class PlanReceipt:
    plan_id: str
    version_id: str
    created: bool
    resources: dict[str, list[str]]
    warnings: tuple[Issue, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "planId": self.plan_id,
            "versionId": self.version_id,
            "created": self.created,
            "resources": self.resources,
            "warnings": [
                {"messageId": w.message_id, "expression": w.expression, "diagnostics": w.diagnostics}
                for w in self.warnings
            ],
        }


class PlanHooks(Protocol):
    """What the plan write path does besides storing it (`gateway.services.plan_sharing`, wired by `create_app`)."""

    def narrate(self, bundle: Resource, document: PlanDocument, context: PlanContext) -> Resource:
        """The transaction Bundle (made under `context`: ids derive from it) with a narrative in each resource."""
        ...

    def stored(self, receipt: PlanReceipt, document: PlanDocument, access: Access) -> None:
        """After the plan's transaction committed: share the plan after a new coordination meeting."""
        ...


class PlanService:
    def __init__(
        self, fhir: FhirService, context: PlanContext, hooks: PlanHooks | None = None, *, kept_plans: int = 512
    ) -> None:
        self.fhir = fhir
        self.context = context
        self.hooks = hooks
        self._current: PlanLookupCache[StoredPlan | None] = PlanLookupCache(fhir.store, kept_plans)

    def accept(
        self,
        base: str,
        data: object,
        *,
        expected_plan_id: str | None = None,
        access: Access = OPEN,
        by_citizen: bool = False,
    ) -> PlanReceipt:
        """Store a plan document as one FHIR transaction by its author; a repeat of the same plan changes nothing.
        `by_citizen`: the citizen's own change on their page, whose consent decision is never refused as outdated
        (a withdrawal must always go through, even against a stored decision dated in the future).

        The source system must be the caller's organisation's (403 otherwise); ids are derived under the author's
        SOR code, conditional matches look only at the author's own resources, and the plan's access data is
        rewritten in the same transaction."""
        document = parse_plan_document(data)
        system = document.source.system
        if len(system) > SOURCE_SYSTEM_LEN:
            raise IssueError.single(
                "too-long", f"source.system is over {SOURCE_SYSTEM_LEN} characters", expression="/source/system"
            )
        context = replace(self.context, author=access.author)
        bundle = transaction_from_plan(document, context)
        if self.hooks is not None:
            bundle = self.hooks.narrate(bundle, document, context)

        def work(tx: ResourceTransaction) -> PlanReceipt:
            access.require_source(system, owned=True)
            # one writer of a citizen's plans at a time on PostgreSQL (SQLite has one writer anyway): the consent
            # a write replaces (`_held_consent`) must still be the stored one when the write commits
            tx.lock(f"plans of {document.citizen.cpr}")
            earlier = tx.plan_by_source(system, document.source.value)
            if earlier is not None and earlier.author != access.author:
                raise _not_yours(system)  # the registry gave the system to another organisation since
            plan_id = earlier.plan_id if earlier else care_plan_id(document, context)
            _check_expected(document, expected_plan_id, plan_id)
            held = _held_consent(tx, earlier, document.citizen.cpr, access.author, self.context)
            changed = held is not None and _consent_terms(document.consent) != _consent_terms(held.consent)
            if held is not None and changed and not by_citizen:
                _require_current_consent(document.consent, held)
            written = bundle
            if earlier is not None and _on_record(tx, earlier, document):
                written = _onto_patient(bundle, earlier.patient_id)
            processor = BundleProcessor(self.fhir, access, plan_write=True)
            reply = processor.transaction_in(tx, base, parse_entries(base, written))
            assert reply.body is not None
            receipt = _receipt(reply.body, _warnings(document))
            _check_expected(document, expected_plan_id, receipt.plan_id)
            stored = [entry["resource"] for entry in reply.body["entry"]]
            first_active = earlier.first_active if earlier is not None else None
            if first_active is None and document.status == "active":  # the CarePlan version just written, as stored
                written_plan = tx.read_current("CarePlan", receipt.plan_id)
                first_active = written_plan.last_updated if written_plan else format_instant(self.fhir.clock.now())
            record = PlanRecord(
                receipt.plan_id,
                receipt.resources["Patient"][0],
                access.author,
                system,
                document.source.value,
                first_active,
                _citizen_decision(document.consent, held, changed=changed, by_citizen=by_citizen),
            )
            if earlier is not None and earlier.patient_id != record.patient_id:
                raise _citizen_changed(document)  # its record of the citizen was gone: found again by CPR number
            tx.save_plan(record, plan_members(stored), plan_grants(_privacy_consent(stored)))
            return receipt

        receipt = self.fhir.guarded(access, work, writes=True)
        if self.hooks is not None:
            self.hooks.stored(receipt, document, access)
        return receipt

    def read(self, plan_id: str, version: int | None = None, access: Access = OPEN) -> PlanDocument:
        """The plan document as far as the caller may see it: crisis plans outside its consented categories are
        left out; any other part it may not see makes the plan answer as a missing one (the document would be
        a different plan without it)."""

        def work(tx: ResourceTransaction) -> dict[str, list[Resource]]:
            if version:
                response = self.fhir.vread_in(tx, "", "CarePlan", plan_id, version, access)
            else:
                response = self.fhir.read_in(tx, "", "CarePlan", plan_id, access)
            assert response.body is not None
            if tx.plan(plan_id) is None:
                raise missing(access, "R", "read", "CarePlan", plan_id, version)  # written straight to /fhir
            closure = reference_closure(tx, response.body)
            hidden: set[str] = set()
            for resource_type, resources in closure.items():
                if resource_type in PLAN_SCOPED_TYPES:
                    access.require(resource_type, "r")
                for resource in resources:
                    if tx.read_current(resource_type, resource["id"], access.viewer) is None:
                        if not is_crisis_plan(resource):
                            raise missing(access, "R", "read", "CarePlan", plan_id, version)
                        hidden.add(f"Consent/{resource['id']}")
            return without_crisis_plans(closure, hidden)

        return plan_from_fhir(self.fhir.guarded(access, work), self.context)

    def patient_of(self, plan_id: str) -> str | None:
        """The id of the Patient a shared plan is about (its author's record of the citizen), or None."""
        with self.fhir.store.reading() as tx:
            record = tx.plan(plan_id)
        return record.patient_id if record is not None else None

    def current_plan_for(self, cpr: str, access: Access = OPEN, *, paused: bool = False) -> StoredPlan | None:
        """The citizen's plan as `access` may use it (`citizens_plan`), with its own Consent; None when there is
        none, or when the caller may not see it. `paused`: a plan its keeper has put on hold counts too (the
        citizen's own page), where it steers nothing.

        Every disclosure of plan content is decided by `may_disclose` on the consent returned here. Only plans
        written through `/plans` count, so a CarePlan written straight to `/fhir` never steers notices. Kept between
        calls while the store and the caller's grants are unchanged (`gateway.services.plan_cache`)."""
        viewer = access.viewer
        if paused or access.author != (viewer.sor if viewer is not None else None):
            # the kept plans are those that steer (not `paused`); and they are kept per viewer, while the answer
            # also depends on the author (its own plans): only kept where they agree
            with self.fhir.store.reading() as tx:
                return self._current_plan_in(tx, cpr, access, paused=paused)
        return self._current.get(cpr, viewer, lambda tx: self._current_plan_in(tx, cpr, access))

    def _current_plan_in(
        self, tx: ResourceTransaction, cpr: str, access: Access, *, paused: bool = False
    ) -> StoredPlan | None:
        chosen = citizens_plan(tx.plans_of_citizen(cpr), access.author, paused=paused)
        if chosen is None:
            return None
        plan = tx.read_current("CarePlan", chosen.record.plan_id, access.viewer)
        if plan is None or plan.resource is None:
            return None  # the citizen's plan, which this caller may not see: as if there were none
        closure = reference_closure(tx, plan.resource)
        document = plan_from_fhir(closure, self.context)
        return StoredPlan(plan.id, document, _privacy_consent(closure.get("Consent", [])))


#: The statuses of a plan that is in force, if paused: its keeper keeps its place (R4 request-status).
LIVE = frozenset({"active", "on-hold"})


def citizens_plan(plans: Sequence[CitizenPlan], caller: str | None, *, paused: bool = False) -> CitizenPlan | None:
    """Which of a citizen's plans steers what `caller` (an organisation's SOR code; None: the citizen, or no
    caller) is sent and shown: the newest of its own active plans, if it keeps any; else the newest active plan
    of the citizen's plan keeper, or none while the keeper's plan is paused. With `paused` (the citizen's own
    page), the keeper's newest paused plan when it has no active one: a plan on hold (during an admission, say)
    is still the citizen's plan, shared by the consent it holds, and the citizen must be able to see it and
    change who may see what; it steers nothing, since nothing else asks for `paused`.

    Any organisation may write a plan about any CPR number in its own source namespace. Were the newest plan the
    citizen's, such a plan would replace the one the citizen and their team agreed on: on the citizen's page and
    consent form, and in the notices others send about them. So the keeper is, among the organisations with a
    plan in force for the citizen (`LIVE`: active, or on hold), the one whose plan for the citizen was active first
    (`PlanRecord.first_active`, kept by every plan write, of any of its plans, ended ones included): a keeper that
    pauses its plan, or replaces it with a new one, stays the keeper, and a plan written early as a draft and
    activated later does not outrank it. A plan's citizen never changes (`PlanService.accept`). A plan of one's
    own steers only one's own messages, so writing one learns nothing (the answer is the same whether or not the
    citizen has a plan elsewhere)."""
    active = [plan for plan in plans if plan.active]
    own = [plan for plan in active if caller is not None and plan.record.author == caller]
    if own:
        return max(own, key=_newest)
    authors = {plan.record.author for plan in plans if plan.status in LIVE}
    if len(authors) > 1:
        ranks: dict[str | None, tuple[str, str]] = {}
        for plan in plans:
            if plan.record.author in authors:
                # never stamped (a plan an old instance wrote during an upgrade): after every stamped one; ties of
                # one instant: the lower plan id was first
                rank = (plan.record.first_active or "~", plan.record.plan_id)
                ranks[plan.record.author] = min(ranks.get(plan.record.author, rank), rank)
        authors = {min(authors, key=lambda author: ranks[author])}
    kept = [plan for plan in active if plan.record.author in authors]
    if not kept and paused:
        # only a plan that has been in force: one put on hold before it was ever active was never agreed on
        kept = [
            plan
            for plan in plans
            if plan.status == "on-hold" and plan.record.author in authors and plan.record.first_active is not None
        ]
    return max(kept, key=_newest, default=None)


def _newest(plan: CitizenPlan) -> tuple[str, str]:
    return plan.last_updated, plan.record.plan_id


@dataclass(frozen=True, slots=True)
class _HeldConsent:
    """The consent a plan write replaces, where it is stored, and how long the citizen's decision in it holds."""

    consent: PlanConsent
    plan_id: str
    #: `PlanRecord.citizen_decision` of that plan.
    citizen_decision: str | None


def _held_consent(
    tx: ResourceTransaction, earlier: PlanRecord | None, cpr: str, author: str | None, context: PlanContext
) -> _HeldConsent | None:
    """The stored consent a write of this plan replaces: the plan's own, or for a new plan, that of the author's
    newest plan in force for the citizen (a plan started anew must not undo the citizen's decision either)."""
    record = earlier
    if record is None:
        own = [plan for plan in tx.plans_of_citizen(cpr) if plan.record.author == author and plan.status in LIVE]
        if not own:
            return None
        record = max(own, key=_newest).record
    stored_plan = tx.read_current("CarePlan", record.plan_id)
    if stored_plan is None or stored_plan.resource is None:
        return None
    closure = reference_closure(tx, stored_plan.resource)
    if _privacy_consent(closure.get("Consent", [])) is None:
        return None
    return _HeldConsent(plan_from_fhir(closure, context).consent, record.plan_id, record.citizen_decision)


def _require_current_consent(incoming: PlanConsent, held: _HeldConsent) -> None:
    """409 when an organisation's document, whose consent says something else than the stored one, is not a newer
    decision: decided before the stored one, or, where the citizen decided the stored one on their
    own page, not after the day that decision holds to (`PlanRecord.citizen_decision`). A system sending the plan
    as it held it would otherwise undo the citizen's withdrawal (`tests/security/test_citizens_withdrawal.py`).
    A document that carries the stored consent as `GET /plans/{id}` reads it passes; so does an organisation's
    correction of its own decision on the day it made it."""
    if held.citizen_decision is not None:
        holds_to = date.fromisoformat(held.citizen_decision)
        if incoming.decided_on > holds_to:
            return
        why = f"the citizen changed it on their own page, and that holds against decisions made up to {holds_to}"
    elif incoming.decided_on >= held.consent.decided_on:
        return
    else:
        why = f"it was decided on {held.consent.decided_on.isoformat()}"
    raise IssueError.single(
        "conflict",
        f"This document's consent, decided on {incoming.decided_on.isoformat()}, says something else than the "
        f"stored one, which is newer ({why}): read the plan (GET /plans/{held.plan_id}) and send its consent, "
        "or record a newer decision",
        expression="/consent/decided_on",
        message_id="plan.consent-outdated",
        status=409,
    )


def _citizen_decision(
    incoming: PlanConsent, held: _HeldConsent | None, *, changed: bool, by_citizen: bool
) -> str | None:
    """The day the written plan's consent holds to as the citizen's decision (`PlanRecord.citizen_decision`): a
    citizen's change holds to the later of its own day and the decision it changed (which the author may have
    dated ahead); an organisation's change ends it; a write that leaves the consent as it was (not `changed`)
    keeps it."""
    if held is None:
        return incoming.decided_on.isoformat() if by_citizen else None
    if not changed:
        return held.citizen_decision
    if not by_citizen:
        return None
    days = [incoming.decided_on, held.consent.decided_on]
    if held.citizen_decision is not None:
        days.append(date.fromisoformat(held.citizen_decision))
    return max(days).isoformat()


def _consent_terms(consent: PlanConsent) -> tuple[Any, ...]:
    """What a consent decides, in an order-free form: who may see the plan, what, when, and who may never."""
    dumped = consent.model_dump(mode="json", exclude={"decided_on"})
    return (
        dumped["decision"],
        repr(sorted(dumped["period"].items())),
        frozenset(dumped["data"]),
        frozenset(dumped["permitted"]),
        frozenset(repr(sorted(party.items())) for party in dumped["denied"]),
    )


def _check_expected(document: PlanDocument, expected_plan_id: str | None, plan_id: str) -> None:
    if expected_plan_id is not None and expected_plan_id != plan_id:
        raise IssueError.single(
            "business-rule",
            f"The document's source identifier ({document.source.system}|{document.source.value}) belongs to "
            f"another plan than {expected_plan_id}",
            expression="/source",
            message_id="plan.source-mismatch",
            status=422,
        )


def _on_record(tx: ResourceTransaction, earlier: PlanRecord, document: PlanDocument) -> bool:
    """Whether the plan's record of its citizen is still stored (then its later versions are written onto it);
    422 when that record is about another CPR number than `document`: a plan's citizen never changes."""
    stored = tx.read_current("Patient", earlier.patient_id)
    if stored is None or stored.resource is None:
        return False
    numbers = {i.get("value") for i in stored.resource.get("identifier", []) if i.get("system") == CPR_SYSTEM}
    if document.citizen.cpr not in numbers:
        raise _citizen_changed(document)
    return True


def _onto_patient(bundle: Resource, patient_id: str) -> Resource:
    """The plan's transaction with its Patient written by id, the one its earlier versions were written for: the
    conditional update by CPR number would also match any other record of the citizen the author keeps (written
    straight to /fhir), and several matches refuse the write (412)."""
    entries = []
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry = {**entry, "resource": {**entry["resource"], "id": patient_id},
                     "request": {"method": "PUT", "url": f"Patient/{patient_id}"}}  # fmt: skip
        entries.append(entry)
    return {**bundle, "entry": entries}


def _citizen_changed(document: PlanDocument) -> IssueError:
    """A plan is about one citizen for good: else an old plan, moved onto another CPR number, would bring its age
    (the keeper's seniority, `citizens_plan`) and its history along."""
    return IssueError.single(
        "business-rule",
        f"The plan {document.source.system[:200]}|{document.source.value[:100]} is about another citizen; a "
        "plan's citizen cannot change: end this plan and write the new citizen's under a source value of its own",
        expression="/citizen/cpr",
        message_id="plan.citizen-changed",
        status=422,
    )


def _not_yours(system: str) -> Denied:
    issue = Issue(
        "error",
        "forbidden",
        f"The plan source system {system[:200]} is another organisation's",
        "/source/system",
        "plan.source-not-yours",
    )
    return Denied.of(issue, 403, AuditRecord("C", "create", outcome="4", detail=f"plan of {system[:200]}"))


def _receipt(reply: Resource, warnings: tuple[Issue, ...]) -> PlanReceipt:
    resources: dict[str, list[str]] = defaultdict(list)
    plan_id, version, created = "", "", False
    for entry in reply["entry"]:
        resource = entry["resource"]
        resources[resource["resourceType"]].append(resource["id"])
        if resource["resourceType"] == "CarePlan":
            plan_id, version = resource["id"], resource["meta"]["versionId"]
            created = entry["response"]["status"].startswith("201")
    return PlanReceipt(plan_id, version, created, dict(resources), warnings)


def _warnings(document: PlanDocument) -> tuple[Issue, ...]:
    """Permitted members whose organisation has no SOR code: the consent names them, but grants is by SOR only."""
    if document.consent.decision != "given":
        return ()
    permitted = set(document.consent.permitted)
    found: list[Issue] = []
    for index, member in enumerate(document.team):
        if member.key not in permitted or member.role == "relative":
            continue
        if member.organisation is None or member.organisation.sor is None:
            name = member.organisation.name if member.organisation else member.key
            found.append(
                Issue(
                    "warning",
                    "informational",
                    f"{name} has no SOR code: the consent names {member.key}, but no organisation gets access to "
                    "the plan through it (access is granted by SOR code only)",
                    f"/team/{index}/organisation",
                    "plan.permitted-without-sor",
                )
            )
    return tuple(found)


def _privacy_consent(resources: list[Resource]) -> Resource | None:
    """The plan's own patient-privacy Consent among its resources (crisis plans are Consents too)."""
    return next(
        (
            resource
            for resource in resources
            if resource.get("resourceType") == "Consent"
            and any(
                (c.get("system"), c.get("code")) == PATIENT_PRIVACY
                for c in (resource.get("scope") or {}).get("coding", [])
            )
        ),
        None,
    )


def is_crisis_plan(resource: Resource) -> bool:
    """A crisis plan or advance directive (a Consent of scope `adr`): the part of a plan a caller granted the plan
    but not `crisisplan` sees the plan without."""
    codings = (resource.get("scope") or {}).get("coding", []) if resource.get("resourceType") == "Consent" else []
    return any(coding.get("code") == "adr" for coding in codings)


def without_crisis_plans(closure: dict[str, list[Resource]], hidden: set[str]) -> dict[str, list[Resource]]:
    """The closure without the `hidden` crisis plans, and the CarePlan without its references to them."""
    if not hidden:
        return closure
    kept = {
        resource_type: [r for r in resources if f"{resource_type}/{r['id']}" not in hidden]
        for resource_type, resources in closure.items()
    }
    kept["CarePlan"] = [
        {**plan, "supportingInfo": [i for i in plan.get("supportingInfo", []) if i.get("reference") not in hidden]}
        for plan in kept["CarePlan"]
    ]
    return kept


def reference_closure(
    tx: ResourceTransaction, root: Resource, resolve: Resolver | None = None
) -> dict[str, list[Resource]]:
    """`root` and every resource it references, transitively (bounded depth), grouped by type. `resolve` picks the
    version of a referenced resource (default: the current one; `gateway.services.plan_history` picks the one of
    an earlier plan version)."""
    found: dict[tuple[str, str], Resource] = {(root["resourceType"], root["id"]): root}
    frontier = [root]
    for _ in range(MAX_REFERENCE_DEPTH):
        # A level's targets in the order they are referenced, read together (issue 18: one statement per type
        # instead of one per reference: a plan's closure was 26 reads, two thirds of a citizen's first lookup).
        targets: dict[tuple[str, str], None] = {}
        for resource in frontier:
            for reference in iterate_references(resource):
                target = parse_reference(reference["reference"])
                if target is not None and target not in found and target[0] in SUPPORTED_TYPES:
                    targets[target] = None
        if resolve is None:
            read = tx.read_current_many(list(targets))
        else:
            read = {target: current for target in targets if (current := resolve(*target)) is not None}
        next_frontier: list[Resource] = []
        for target in targets:
            current = read.get(target)
            if current is not None and current.resource is not None:
                found[target] = current.resource
                next_frontier.append(current.resource)
        frontier = next_frontier
    grouped: dict[str, list[Resource]] = defaultdict(list)
    for resource in found.values():
        grouped[resource["resourceType"]].append(resource)
    return dict(grouped)
