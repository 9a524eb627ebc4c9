"""Access control seam of the FHIR layer: what one request may do, see and must leave a trace of.

`FhirService` asks an `Access` before and during every interaction (HAPI FHIR's consent service shape: one choke
point). What a caller may *see* is the store's one SQL rule (`gateway.store.visibility`), applied for the `viewer`
the access names; what it may *do* is its scopes (`require`) and authorship (`author`, `require_source`). `OPEN`
allows everything and records nothing: it serves internal callers and a gateway started explicitly without
authentication. The authenticated implementation lives in `gateway.security.guard`; this module only defines the
seam so that `gateway.fhir` does not depend on `gateway.security`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from gateway.store.ports import Resource, ResourceTransaction, StoredResource, Viewer
from mappings.issues import Issue, IssueError

#: SMART v2 interaction letters: create, read, update, delete, search.
Interaction = Literal["c", "r", "u", "d", "s"]
#: AuditEvent.action (R4 audit-event-action): Create, Read, Update, Delete, Execute.
AuditAction = Literal["C", "R", "U", "D", "E"]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One auditable operation, rendered to a FHIR AuditEvent by the access implementation."""

    action: AuditAction
    subtype: str  # FHIR restful-interaction code (read, vread, search-type, create, ...) or our own (disclose, ...)
    resources: Sequence[StoredResource | Resource] = ()
    query: str | None = None
    outcome: Literal["0", "4", "8", "12"] = "0"
    detail: str | None = None


class Access(Protocol):
    @property
    def audits(self) -> bool:
        """True when operations must be recorded (reads then run in a write transaction, with their AuditEvent)."""
        ...

    @property
    def viewer(self) -> Viewer | None:
        """Who is looking, for the store's access rule; None sees everything (no caller)."""
        ...

    @property
    def author(self) -> str | None:
        """The SOR code recorded as the author of what this caller creates; None without a caller."""
        ...

    def require(self, resource_type: str, interaction: Interaction) -> None:
        """Raise IssueError 403 when the caller's scopes do not allow `interaction` on `resource_type`."""
        ...

    def require_source(self, system: str, *, owned: bool) -> None:
        """Raise 403 when the caller may not use the plan source system `system`: with `owned`, unless its
        organisation owns it (`/plans`); without, when another organisation owns it (a CarePlan via `/fhir`)."""
        ...

    def require_sender(self, sor: str, where: str) -> None:
        """Raise 403 (`Denied`) unless the caller may post a message that names the organisation with SOR code
        `sor` as its sender (at `where` in the message): its notices go out in that organisation's name."""
        ...

    def record(self, tx: ResourceTransaction, record: AuditRecord) -> None:
        """Write the AuditEvent for an operation inside the operation's own transaction."""
        ...

    def record_alone(self, record: AuditRecord) -> None:
        """Write an AuditEvent in a transaction of its own: for a refused operation (which rolled back) and for
        operations outside the FHIR store (the outbox's `/messages`)."""
        ...


class OpenAccess:
    audits = False
    viewer: Viewer | None = None
    author: str | None = None

    def require(self, resource_type: str, interaction: Interaction) -> None:
        return None

    def require_source(self, system: str, *, owned: bool) -> None:
        return None

    def require_sender(self, sor: str, where: str) -> None:
        return None

    def record(self, tx: ResourceTransaction, record: AuditRecord) -> None:
        return None

    def record_alone(self, record: AuditRecord) -> None:
        return None


OPEN: Access = OpenAccess()


class SendingAs:
    """`access` deciding a message's notices as the sender the message names, which the caller may send for
    (`require_sender` allowed it: an integration engine posting for a hospital department): the citizen's plan is
    looked up with the sender's sight (`viewer`, `author`); scopes and the audit trail stay the caller's."""

    def __init__(self, access: Access, sor: str) -> None:
        self.access = access
        self.sor = sor

    @property
    def audits(self) -> bool:
        return self.access.audits

    @property
    def viewer(self) -> Viewer | None:
        viewer = self.access.viewer
        return None if viewer is None else replace(viewer, sor=self.sor)

    @property
    def author(self) -> str | None:
        return self.sor

    def require(self, resource_type: str, interaction: Interaction) -> None:
        self.access.require(resource_type, interaction)

    def require_source(self, system: str, *, owned: bool) -> None:
        self.access.require_source(system, owned=owned)

    def require_sender(self, sor: str, where: str) -> None:
        self.access.require_sender(sor, where)

    def record(self, tx: ResourceTransaction, record: AuditRecord) -> None:
        self.access.record(tx, record)

    def record_alone(self, record: AuditRecord) -> None:
        self.access.record_alone(record)


def sending_as(access: Access, sor: str) -> Access:
    """`access` as the sender `sor` (`SendingAs`) when the caller is another organisation; else `access` itself."""
    return access if access.author in (None, sor) else SendingAs(access, sor)


class Denied(IssueError):
    """A refused operation (scope, consent or authorship). Raised inside the operation's transaction, which then
    rolls back; the outermost caller records `record` in a transaction of its own (`Access.record_alone`)."""

    record: AuditRecord

    @classmethod
    def of(cls, issue: Issue, status: int, record: AuditRecord, headers: dict[str, str] | None = None) -> Denied:
        error = cls((issue,), status=status, headers=headers or {})
        error.record = record
        return error
