"""The storage seam: what the FHIR layer needs from a resource store.

`ResourceStore` hands out units of work; everything done inside one `writing()` block is one database
transaction (all or nothing), which is what FHIR `transaction` Bundles and the outbox rely on.
`SqlResourceStore` (SQLite by default, PostgreSQL in production) is the implementation; tests that want no
file use it on an in-memory SQLite database.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from gateway.store.search_query import SearchQuery
from mappings.plan import Grant

Resource = dict[str, Any]
Method = Literal["POST", "PUT", "DELETE"]


@dataclass(frozen=True, slots=True)
class StoredResource:
    """One version of a resource. `resource` is None for a deletion (a tombstone version)."""

    resource_type: str
    id: str
    version_id: int
    last_updated: str
    method: Method
    resource: Resource | None
    #: The SOR code of the organisation that first wrote the resource (current rows only; None: no caller, or a
    #: historical version read from the history table).
    author: str | None = None

    @property
    def deleted(self) -> bool:
        return self.resource is None

    @property
    def etag(self) -> str:
        return f'W/"{self.version_id}"'


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking, for the access rule the store applies in SQL (`gateway.store.visibility`).

    `sor` is the caller's organisation (None: it sees only the open types), `at` the request's instant as stored
    (`dates.format_instant`), against which grant periods are judged. `own_only` narrows to what `sor` authored:
    the matches of a conditional write. `cpr` makes the viewer a citizen signed in to the pages, who sees their
    own plans whole (issue 12's right of use). Store methods take `viewer=None` for "everything" (no caller)."""

    sor: str | None
    at: str
    own_only: bool = False
    cpr: str | None = None


@dataclass(frozen=True, slots=True)
class PlanRecord:
    """A shared plan written through `/plans`: its CarePlan id, citizen, author and source identifier."""

    plan_id: str
    patient_id: str
    author: str | None
    source_system: str
    source_value: str
    #: When the plan was first active (stored instant), None if never: the keeper's seniority (`citizens_plan`).
    first_active: str | None = None
    #: The day (ISO date) up to which the consent the citizen decided on their own page holds: an organisation's
    #: write replaces it only with a decision dated after it (`PlanService.accept`); None: the stored consent is
    #: an organisation's decision.
    citizen_decision: str | None = None


@dataclass(frozen=True, slots=True)
class CitizenPlan:
    """A shared plan of a citizen: its CarePlan's status now, and when it was last updated (stored form)."""

    record: PlanRecord
    status: str
    last_updated: str

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class FirstPass:
    """The first pass of a stored search result, as its first page read it: that page's ids and one more. A search
    in a read transaction hands it to its caller, who keeps it (`ResourceTransaction.keep_result`) in a short write
    transaction before answering, so the search itself never holds the database's write lock."""

    search_id: str
    resource_type: str
    owner: str
    query: str
    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SearchPage:
    matches: Sequence[StoredResource]
    included: Sequence[StoredResource]
    #: None: not counted (a stored result not yet stored to its end, and no `_total` asked for).
    total: int | None
    #: The stored result this page is read from (its `next` links page through it), how many ids it holds so far,
    #: and whether those are all its matches (else a later page stores more: `last` is not known yet).
    snapshot: str | None = None
    size: int = 0
    complete: bool = True
    #: A first pass read in a read transaction, still to be kept (None once it is, or when there is none).
    first_pass: FirstPass | None = None


class MustStore(Exception):  # noqa: N818 - a signal to run again, not an error
    """A page of a stored search result reaches past the ids stored so far: the next pass must be stored, which
    only a write transaction can do (the caller runs the page again in one)."""


@dataclass(frozen=True, slots=True)
class StoredSearch:
    """A stored search result's header: its type, the parameters used (a query string) and its size."""

    resource_type: str
    query: str
    size: int


@dataclass(frozen=True, slots=True)
class HistoryPage:
    versions: Sequence[StoredResource]
    total: int


class ResourceTransaction(Protocol):
    """Operations inside one unit of work. Errors are `IssueError`s (NotFound, Gone, VersionConflict...).

    `author` (on create, and on an update that creates) is recorded once and never changed by later writes."""

    def create(self, resource: Resource, *, resource_id: str, author: str | None = None) -> StoredResource: ...

    def read(self, resource_type: str, resource_id: str) -> StoredResource:
        """The current version; raises for unknown (404) and deleted (410) resources."""
        ...

    def read_current(self, resource_type: str, resource_id: str, viewer: Viewer | None = None) -> StoredResource | None:
        """The current version including tombstones; None when the id was never used or `viewer` may not see it
        (one query either way: a hidden resource costs what a missing one does)."""
        ...

    def read_current_many(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StoredResource]:
        """`read_current` of several (type, id) keys without an access rule, in one statement per type: the
        gateway's own reads (a plan's reference closure). A key never written is absent from the answer."""
        ...

    def vread(self, resource_type: str, resource_id: str, version_id: int) -> StoredResource: ...

    def update(
        self, resource: Resource, *, resource_id: str, if_match: int | None = None, author: str | None = None
    ) -> tuple[StoredResource, bool]:
        """Writes a new version (or the first one: update-as-create); returns it and whether it was created."""
        ...

    def delete(self, resource_type: str, resource_id: str) -> StoredResource | None:
        """Writes a tombstone; None when there was nothing to delete."""
        ...

    def history(
        self,
        resource_type: str | None,
        resource_id: str | None,
        *,
        since: str | None,
        count: int,
        offset: int,
        viewer: Viewer | None = None,
        types: Sequence[str] | None = None,
    ) -> HistoryPage:
        """Versions newest first, of what `viewer` may see, of `types` only when given (system history)."""
        ...

    def search(self, query: SearchQuery, viewer: Viewer | None = None) -> SearchPage:
        """Matches and includes `viewer` may see; `total` counts only those. A first page of more than one
        (`query.snapshot` set) carries its `first_pass` for the caller to keep when this is a read transaction; a
        later page reaching past the stored ids raises `MustStore` there."""
        ...

    def keep_result(self, first: FirstPass) -> None:
        """Store a search result's header and its first pass (`SearchPage.first_pass`), in this write transaction."""
        ...

    def stored_search(self, search_id: str, viewer: Viewer | None) -> StoredSearch | None:
        """The stored result `search_id` when it exists, has not expired, and was stored for this `viewer`."""
        ...

    def lock(self, key: str) -> None:
        """Serialise this unit of work with every other one that locks `key`, until it ends (commit or rollback):
        the check-then-create of a conditional create, which a unique index cannot guard (its criteria are any
        search). Across processes and instances, as the database holds it."""
        ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested unit of work that can fail alone (FHIR `batch` entries)."""
        ...

    def audit(self, event: Resource, *, once: bool = False) -> bool:
        """Append an AuditEvent (with its `id`) to the audit trail, in this unit of work. `once`: an event whose id
        is stored already is left alone (returns False)."""
        ...

    # -- shared plans (the access rule's data) --------------------------------------------------------------

    def plan(self, plan_id: str) -> PlanRecord | None: ...

    def plan_by_source(self, system: str, value: str) -> PlanRecord | None: ...

    def plans_of_citizen(self, cpr: str) -> list[CitizenPlan]:
        """Every shared plan about the citizen with CPR number `cpr`, whoever keeps it and whatever its status
        (deleted ones left out), without an access rule: the caller decides which one it may use and see."""
        ...

    def plan_of(self, resource_type: str, resource_id: str) -> str | None:
        """The id of a plan this resource belongs to, or None."""
        ...

    def save_plan(self, record: PlanRecord, members: Iterable[tuple[str, str, str]], grants: Iterable[Grant]) -> None:
        """Write (or rewrite) a plan's row, its members `(type, id, category)` and its grants."""
        ...

    def granted(self, plan_id: str, category: str, sor: str, at: str) -> bool:
        """Does the plan's own Consent grant `sor` the category at instant `at` (stored form)?"""
        ...

    def grant_window(self, sor: str, at: str) -> tuple[str, str]:
        """`(since, until)`, stored instants: no grant to `sor` starts or ends in `[since, until)`, which holds `at`."""
        ...

    def generation(self) -> int:
        """The store's write generation (`gateway.store.generation`): the same number, the same resources and plans."""
        ...


class ResourceStore(Protocol):
    #: Whether a write transaction holds the database's one write lock (SQLite) for as long as it lasts: then a
    #: read writes what it must (its AuditEvents, a search's stored first pass) in a short write transaction after
    #: its read transaction, not in it (`FhirService._read_audited`).
    single_writer: bool

    def reading(self) -> AbstractContextManager[ResourceTransaction]: ...

    def writing(self) -> AbstractContextManager[ResourceTransaction]: ...


def iterate_references(node: Any) -> Iterator[dict[str, Any]]:
    """Every FHIR `Reference`-shaped dict (one with a string `reference`) inside a resource, depth first."""
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield node
        for value in node.values():
            if isinstance(value, dict | list):
                yield from iterate_references(value)
    elif isinstance(node, list):
        for item in node:
            yield from iterate_references(item)
