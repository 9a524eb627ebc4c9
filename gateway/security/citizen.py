"""`CitizenAccess`: the `gateway.fhir.access.Access` of a citizen signed in to the pages with their CPR number.

The citizen's right of use (issue 12): they see exactly the plan content whose Patient carries their CPR number
(`Patient.identifier` in `urn:oid:1.2.208.176.1.2`), the AuditEvents about that Patient ("who looked at my plan",
as sundhed.dk's "Min log"), and may write their own plan through `/plans`' service: never delete, never another
citizen's plan. Their writes are audited with the citizen as author (an agent identified by the CPR number, role
`AUT`), while `meta.source` keeps the organisation that authored the plan: authorship of plan content is recorded
once, at the first write, and the plan's own Consent keeps deciding for the organisations.
"""

from __future__ import annotations

from gateway.clock import Clock, IdSource
from gateway.fhir.access import AuditRecord, Denied, Interaction
from gateway.security.consent import GOVERNED, patient_of
from gateway.security.guard import audit_event_for
from gateway.store.ports import Resource, ResourceStore, ResourceTransaction, StoredResource
from gateway.store.search_params import parse_reference
from mappings.audit import AuditAgent
from mappings.issues import Issue
from mappings.plan.codes import CPR_SYSTEM

#: What a plan page reads: the plan's content and the people and organisations it names.
READABLE = frozenset({*GOVERNED, "Patient", "Organization", "Practitioner", "PractitionerRole", "RelatedPerson"})
#: What a plan document's transaction writes (`mappings.plan.transaction_from_plan`).
WRITABLE = frozenset({*GOVERNED, "Patient", "Organization", "Practitioner", "RelatedPerson"})
#: The client id the citizen's AuditEvents carry (the pages act for the citizen).
CITIZEN_CLIENT = "careplan-gateway-pages"


class CitizenAccess:
    audits = True
    filters = True

    def __init__(
        self,
        cpr: str,
        store: ResourceStore,
        clock: Clock,
        ids: IdSource,
        observer: str,
        *,
        plan_author: str | None = None,
    ) -> None:
        """`plan_author`: the `meta.source` of the plan being written, stamped on resources the citizen's write
        creates (a new wish), so that the plan's consent decides about them as about the rest of the plan."""
        self.cpr = cpr
        self.store = store
        self.clock = clock
        self.ids = ids
        self.observer = observer
        self.plan_author = plan_author
        self.agent = AuditAgent(CITIZEN_CLIENT, ((CPR_SYSTEM, cpr),), "Borgeren selv")
        self._mine: dict[str, bool] = {}

    def for_plan(self, plan_author: str | None) -> CitizenAccess:
        return CitizenAccess(self.cpr, self.store, self.clock, self.ids, self.observer, plan_author=plan_author)

    def require(self, resource_type: str, interaction: Interaction) -> None:
        allowed = (
            (interaction in ("r", "s") and resource_type in READABLE)
            or (interaction in ("c", "u") and resource_type in WRITABLE)
            or (interaction in ("r", "s") and resource_type == "AuditEvent")
        )
        if allowed:
            return
        issue = Issue(
            "error", "forbidden", f"A citizen's session may not do this with {resource_type}", "", "pages.forbidden"
        )
        record = AuditRecord("E", "operation", outcome="4", detail=f"citizen: {interaction} on {resource_type}")
        raise Denied.of(issue, 403, record)

    def governs(self, resource_type: str) -> bool:
        return resource_type in GOVERNED or resource_type in ("Patient", "AuditEvent")

    def visible(self, tx: ResourceTransaction, stored: StoredResource) -> bool:
        resource = stored.resource
        if resource is None:
            return False
        if stored.resource_type == "Patient":
            return self._carries_cpr(resource)
        if stored.resource_type == "AuditEvent":
            return any(self._is_mine(tx, patient) for patient in _audited_patients(resource))
        if stored.resource_type in GOVERNED:
            patient = patient_of(resource)
            return patient is not None and self._is_mine(tx, patient)
        return True

    def _carries_cpr(self, patient: Resource) -> bool:
        return any(
            identifier.get("system") == CPR_SYSTEM and identifier.get("value") == self.cpr
            for identifier in patient.get("identifier") or []
        )

    def _is_mine(self, tx: ResourceTransaction, patient_id: str) -> bool:
        if patient_id not in self._mine:
            current = tx.read_current("Patient", patient_id)
            self._mine[patient_id] = bool(current and current.resource and self._carries_cpr(current.resource))
        return self._mine[patient_id]

    def stamp(self, resource: Resource, current: StoredResource | None) -> Resource:
        earlier = ((current.resource or {}).get("meta") or {}).get("source") if current else None
        source = earlier or self.plan_author
        if source is None:
            return resource
        return {**resource, "meta": {**(resource.get("meta") or {}), "source": source}}

    def record(self, tx: ResourceTransaction, record: AuditRecord) -> None:
        tx.audit(audit_event_for(record, self.agent, self.observer, self.clock, self.ids))

    def record_alone(self, record: AuditRecord) -> None:
        with self.store.writing() as tx:
            self.record(tx, record)


def _audited_patients(event: Resource) -> list[str]:
    found = []
    for entity in event.get("entity") or []:
        target = parse_reference((entity.get("what") or {}).get("reference"))
        if target is not None and target[0] == "Patient":
            found.append(target[1])
    return found
