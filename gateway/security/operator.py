"""`OperatorAccess`: the `Access` of an operator at the gateway's own console (`gateway messages ...`).

The command line is not an API client (no token, no scopes: whoever can run it can read the database anyway), but
what an operator does to the outbox is recorded like any client's action: an IHE BALP AuditEvent whose requesting
agent is the operating-system user, written in the transaction of the change.
"""

from __future__ import annotations

from gateway.clock import Clock, IdSource
from gateway.fhir.access import AuditRecord, OpenAccess
from gateway.store.ports import ResourceStore, ResourceTransaction
from mappings.audit import AuditAgent, audit_event


class OperatorAccess(OpenAccess):
    """Allows and shows everything, as `OPEN` does; unlike it, records every operation."""

    audits = True

    def __init__(self, user: str, store: ResourceStore, clock: Clock, ids: IdSource) -> None:
        self.agent = AuditAgent(f"operator:{user}", organisation_name="gateway operator (command line)")
        self.store = store
        self.clock = clock
        self.ids = ids

    def record(self, tx: ResourceTransaction, record: AuditRecord) -> None:
        tx.audit(
            audit_event(
                action=record.action,
                subtype=record.subtype,  # type: ignore[arg-type]
                outcome=record.outcome,
                recorded=self.clock.now(),
                agent=self.agent,
                observer="careplan-gateway command line",
                query=record.query,
                reason=record.detail,
                event_id=self.ids.new_id(),
            )
        )

    def record_alone(self, record: AuditRecord) -> None:
        with self.store.writing() as tx:
            self.record(tx, record)
