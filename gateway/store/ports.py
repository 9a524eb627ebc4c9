"""The storage seam: what the FHIR layer needs from a resource store.

`ResourceStore` hands out units of work; everything done inside one `writing()` block is one database
transaction (all or nothing), which is what FHIR `transaction` Bundles and the outbox rely on.
`SqlResourceStore` (SQLite by default, PostgreSQL in production) is the implementation; tests that want no
file use it on an in-memory SQLite database.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from gateway.store.search_query import SearchQuery

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

    @property
    def deleted(self) -> bool:
        return self.resource is None

    @property
    def etag(self) -> str:
        return f'W/"{self.version_id}"'


@dataclass(frozen=True, slots=True)
class SearchPage:
    matches: Sequence[StoredResource]
    included: Sequence[StoredResource]
    total: int


@dataclass(frozen=True, slots=True)
class HistoryPage:
    versions: Sequence[StoredResource]
    total: int


class ResourceTransaction(Protocol):
    """Operations inside one unit of work. Errors are `IssueError`s (NotFound, Gone, VersionConflict...)."""

    def create(self, resource: Resource, *, resource_id: str) -> StoredResource: ...

    def read(self, resource_type: str, resource_id: str) -> StoredResource:
        """The current version; raises for unknown (404) and deleted (410) resources."""
        ...

    def read_current(self, resource_type: str, resource_id: str) -> StoredResource | None:
        """The current version including tombstones; None when the id was never used."""
        ...

    def vread(self, resource_type: str, resource_id: str, version_id: int) -> StoredResource: ...

    def update(
        self, resource: Resource, *, resource_id: str, if_match: int | None = None
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
    ) -> HistoryPage: ...

    def search(self, query: SearchQuery) -> SearchPage: ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested unit of work that can fail alone (FHIR `batch` entries)."""
        ...

    def audit(self, event: Resource, *, once: bool = False) -> bool:
        """Append an AuditEvent (with its `id`) to the audit trail, in this unit of work. `once`: an event whose id
        is stored already is left alone (returns False)."""
        ...


class ResourceStore(Protocol):
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
