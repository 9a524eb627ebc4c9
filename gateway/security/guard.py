"""`RequestGuard`: the `gateway.fhir.access.Access` of one authenticated request.

Scopes (SMART v2) decide what the caller may do, the access rule (`consent.py`, applied by the store for the
guard's `viewer`) what it may see, authorship whose plans it may write, and every operation leaves an IHE BALP
AuditEvent written in the operation's own transaction (a refused one in a transaction of its own, since the
operation rolled back).
"""

from __future__ import annotations

from typing import cast

from gateway.clock import Clock, IdSource
from gateway.fhir.access import AuditRecord, Denied, Interaction
from gateway.security.auth import Caller, require
from gateway.security.consent import SourceOwners, patient_of, require_sender, require_source, viewer_of
from gateway.store.ports import Resource, ResourceStore, ResourceTransaction, StoredResource, Viewer
from mappings.audit import AuditAgent, Subtype, audit_event
from mappings.issues import IssueError

_ACTION_OF = {"c": "C", "r": "R", "u": "U", "d": "D", "s": "E"}
_SUBTYPE_OF = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search-type"}


class RequestGuard:
    audits = True

    def __init__(
        self,
        caller: Caller,
        store: ResourceStore,
        clock: Clock,
        ids: IdSource,
        observer: str,
        owners: SourceOwners = lambda _system: frozenset(),
    ) -> None:
        self.caller = caller
        self.store = store
        self.clock = clock
        self.ids = ids
        self.observer = observer
        self.owners = owners
        self.agent = AuditAgent(caller.client_id, caller.identifiers, caller.organisation.name)
        self._viewer = viewer_of(caller, clock.now())

    @property
    def viewer(self) -> Viewer:
        return self._viewer

    @property
    def author(self) -> str:
        return self.caller.organisation.sor

    def require(self, resource_type: str, interaction: Interaction) -> None:
        try:
            require(self.caller, resource_type, interaction)
        except IssueError as error:
            record = AuditRecord(
                _ACTION_OF[interaction],  # type: ignore[arg-type]
                _SUBTYPE_OF[interaction],
                outcome="4",
                detail=f"scope: {error.issues[0].diagnostics}",
            )
            raise Denied.of(error.issues[0], 403, record, error.headers) from None

    def require_source(self, system: str, *, owned: bool) -> None:
        require_source(self.caller, self.owners, system, owned=owned)

    def require_sender(self, sor: str, where: str) -> None:
        require_sender(self.caller, sor, where)

    def record(self, tx: ResourceTransaction, record: AuditRecord) -> None:
        tx.audit(audit_event_for(record, self.agent, self.observer, self.clock, self.ids, tx))

    def record_alone(self, record: AuditRecord) -> None:
        with self.store.writing() as tx:
            self.record(tx, record)

    def event(self, record: AuditRecord) -> Resource:
        return audit_event_for(record, self.agent, self.observer, self.clock, self.ids)


def audit_event_for(
    record: AuditRecord,
    agent: AuditAgent,
    observer: str,
    clock: Clock,
    ids: IdSource,
    tx: ResourceTransaction | None = None,
) -> Resource:
    """The AuditEvent of one operation by `agent`: every `Access` renders its records with this one function.

    A resource named only by type and id (a read refused as missing: the refusal could not show whether it exists)
    is looked up here, in the audit's own transaction, for the citizen it is about, so that "who tried to look at my
    plan" lists it; missing or hidden, the same lookup runs."""
    what: list[str] = []
    patient: str | None = None
    for item in record.resources:
        resource = item.resource if isinstance(item, StoredResource) else item
        if tx is not None and isinstance(item, dict) and set(item) == {"resourceType", "id"}:
            found = tx.read_current(str(item["resourceType"]), str(item["id"]))
            resource = found.resource if found is not None and found.resource is not None else item
        resource_type = item.resource_type if isinstance(item, StoredResource) else item.get("resourceType")
        resource_id = item.id if isinstance(item, StoredResource) else item.get("id")
        what.append(f"{resource_type}/{resource_id}")
        if resource is not None:
            if resource_type == "Patient":
                patient = patient or str(resource_id)
            patient = patient or patient_of(resource)
    return audit_event(
        action=record.action,
        subtype=cast(Subtype, record.subtype),
        outcome=record.outcome,
        recorded=clock.now(),
        agent=agent,
        observer=observer,
        what=what[:50],
        patient=f"Patient/{patient}" if patient else None,
        query=record.query,
        reason=record.detail,
        event_id=ids.new_id(),
    )
