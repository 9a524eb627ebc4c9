"""`RequestGuard`: the `gateway.fhir.access.Access` of one authenticated request.

Scopes (SMART v2) decide what the caller may do, `ConsentPolicy` what it may see, and every operation leaves an
IHE BALP AuditEvent written in the operation's own transaction (a refused one in a transaction of its own, since
the operation rolled back).
"""

from __future__ import annotations

from typing import cast

from gateway.clock import Clock, IdSource
from gateway.fhir.access import AuditRecord, Denied, Interaction
from gateway.security.auth import Caller, require
from gateway.security.consent import GOVERNED, ConsentPolicy, patient_of, source_of
from gateway.store.ports import Resource, ResourceStore, ResourceTransaction, StoredResource
from mappings.audit import AuditAgent, Subtype, audit_event
from mappings.issues import IssueError

_ACTION_OF = {"c": "C", "r": "R", "u": "U", "d": "D", "s": "E"}
_SUBTYPE_OF = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search-type"}


class RequestGuard:
    audits = True
    filters = True

    def __init__(self, caller: Caller, store: ResourceStore, clock: Clock, ids: IdSource, observer: str) -> None:
        self.caller = caller
        self.store = store
        self.clock = clock
        self.ids = ids
        self.observer = observer
        self.consent = ConsentPolicy(caller, clock.now())
        self.agent = AuditAgent(caller.client_id, caller.identifiers, caller.organisation.name)

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

    def governs(self, resource_type: str) -> bool:
        return resource_type in GOVERNED

    def visible(self, tx: ResourceTransaction, stored: StoredResource) -> bool:
        return self.consent.can_see(tx, stored)

    def stamp(self, resource: Resource, current: StoredResource | None) -> Resource:
        """Mark the authoring organisation on the first write (`meta.source`); later writers keep it."""
        earlier = ((current.resource or {}).get("meta") or {}).get("source") if current else None
        meta = dict(resource.get("meta") or {})
        meta["source"] = earlier or source_of(self.caller)
        return {**resource, "meta": meta}

    def record(self, tx: ResourceTransaction, record: AuditRecord) -> None:
        tx.audit(self.event(record))

    def record_alone(self, record: AuditRecord) -> None:
        with self.store.writing() as tx:
            self.record(tx, record)

    def event(self, record: AuditRecord) -> Resource:
        return audit_event_for(record, self.agent, self.observer, self.clock, self.ids)


def audit_event_for(record: AuditRecord, agent: AuditAgent, observer: str, clock: Clock, ids: IdSource) -> Resource:
    """The AuditEvent of one operation by `agent`: every `Access` renders its records with this one function."""
    what: list[str] = []
    patient: str | None = None
    for item in record.resources:
        resource = item.resource if isinstance(item, StoredResource) else item
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
