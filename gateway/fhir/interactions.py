"""The FHIR RESTful interactions (FHIR R4 http.html) on top of a `ResourceStore`.

Routes and the transaction processor call these; each returns a `FhirResponse` (status, body, headers) and
raises `IssueError` for failures. The `*_in` functions work inside a unit of work the caller owns, which is how
a `transaction` Bundle runs all its entries in one database transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.utils import format_datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

from gateway.clock import Clock, IdSource
from gateway.errors import Gone, NotFound
from gateway.fhir import bundles
from gateway.fhir.access import OPEN, Access, AuditRecord, Denied
from gateway.fhir.write_validation import WriteValidator
from gateway.store.dates import date_range
from gateway.store.ports import HistoryPage, ResourceStore, ResourceTransaction, SearchPage, StoredResource
from gateway.store.search_params import GATEWAY_WRITTEN, SEARCH_PARAMS, SUPPORTED_TYPES
from gateway.store.search_query import MAX_PAGING_NUMBER, Criterion, SearchQuery, parse_search
from mappings.issues import Issue, IssueError

Resource = dict[str, Any]
T = TypeVar("T")

PARAM_TYPES: dict[str, dict[str, str]] = {
    resource_type: {name: param.type for name, param in params.items()}
    for resource_type, params in SEARCH_PARAMS.items()
}
_ETAG = re.compile(r'^(W/)?"?(?P<version>\d+)"?$')


@dataclass
class FhirResponse:
    status: int
    body: Resource | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Paging:
    default_count: int = 20
    max_count: int = 200


class FhirService:
    """Every public method takes an `Access` (default `OPEN`): scopes, consent-filtered visibility and the audit
    trail are decided there, at this one choke point, for every route that reaches FHIR resources."""

    def __init__(
        self,
        store: ResourceStore,
        clock: Clock,
        ids: IdSource,
        paging: Paging | None = None,
        validator: WriteValidator | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.ids = ids
        self.paging = paging or Paging()
        self.validator = validator

    def checked(self, tx: ResourceTransaction, resource: Resource) -> Resource:
        """`resource` once the write validator lets it be stored (the one place every create and update passes)."""
        if self.validator is not None:
            self.validator.check(tx, resource)
        return resource

    def guarded(self, access: Access, work: Callable[[ResourceTransaction], T], *, writes: bool = False) -> T:
        """Run `work` in one unit of work: a write transaction when it writes or the access audits (the AuditEvent
        is written with the operation it records); a refused operation rolls back and its denial is recorded after."""
        try:
            with self.store.writing() if writes or access.audits else self.store.reading() as tx:
                return work(tx)
        except Denied as denied:
            access.record_alone(denied.record)
            raise

    # -- instance level ------------------------------------------------------------------------------------

    def read(self, base: str, resource_type: str, resource_id: str, access: Access = OPEN) -> FhirResponse:
        require_type(resource_type)
        return self.guarded(access, lambda tx: self.read_in(tx, base, resource_type, resource_id, access))

    def read_in(
        self, tx: ResourceTransaction, base: str, resource_type: str, resource_id: str, access: Access = OPEN
    ) -> FhirResponse:
        access.require(resource_type, "r")
        current = tx.read_current(resource_type, resource_id)
        if current is not None:
            self.check_visible(tx, access, current, "read")  # a deleted one too: 410 would reveal it existed
        stored = tx.read(resource_type, resource_id)
        access.record(tx, AuditRecord("R", "read", [stored]))
        return resource_response(base, stored, 200)

    def vread(
        self, base: str, resource_type: str, resource_id: str, version: str, access: Access = OPEN
    ) -> FhirResponse:
        require_type(resource_type)
        if not version.isdigit() or int(version) > MAX_PAGING_NUMBER:
            raise IssueError.single("not-found", f"There is no version {version[:40]!r}", status=404)
        return self.guarded(
            access, lambda tx: self.vread_in(tx, base, resource_type, resource_id, int(version), access)
        )

    def vread_in(
        self,
        tx: ResourceTransaction,
        base: str,
        resource_type: str,
        resource_id: str,
        version: int,
        access: Access = OPEN,
    ) -> FhirResponse:
        access.require(resource_type, "r")
        current = tx.read_current(resource_type, resource_id)
        if current is not None and 1 <= version <= current.version_id:
            # Each version is judged on its own content (a later author or consent does not open older ones).
            self.check_visible(tx, access, last_live(tx, resource_type, resource_id, version), "vread")
        stored = tx.vread(resource_type, resource_id, version)
        access.record(tx, AuditRecord("R", "vread", [stored]))
        return resource_response(base, stored, 200)

    def check_visible(
        self, tx: ResourceTransaction, access: Access, stored: StoredResource, subtype: str
    ) -> StoredResource:
        """`stored`, or a 404 (existence hidden) when the caller may not see it; the denial is audited.
        A deletion is judged by the version it deleted."""
        judged = last_live(tx, stored.resource_type, stored.id, stored.version_id) if stored.deleted else stored
        if not access.governs(stored.resource_type) or access.visible(tx, judged):
            return stored
        issue = Issue(
            "error",
            "not-found",
            f"{stored.resource_type}/{stored.id} is not known (or not disclosed to you)",
            message_id="fhir.not-found",
        )
        record = AuditRecord("R", subtype, [stored], outcome="4", detail="not disclosed: no consent for this caller")
        raise Denied.of(issue, 404, record)

    def create(
        self, base: str, resource: Resource, *, if_none_exist: str | None = None, access: Access = OPEN
    ) -> FhirResponse:
        return self.guarded(
            access,
            lambda tx: self.create_in(tx, base, resource, if_none_exist=if_none_exist, access=access),
            writes=True,
        )

    def create_in(
        self,
        tx: ResourceTransaction,
        base: str,
        resource: Resource,
        *,
        if_none_exist: str | None = None,
        resource_id: str | None = None,
        access: Access = OPEN,
    ) -> FhirResponse:
        resource_type = resource["resourceType"]
        _writable(resource_type)
        access.require(resource_type, "c")
        if if_none_exist:
            existing = self.conditional_match(tx, resource_type, if_none_exist, "If-None-Exist", access)
            if existing is not None:
                return resource_response(base, existing, 200, location=True)
        stored = tx.create(access.stamp(self.checked(tx, resource), None), resource_id=resource_id or self.ids.new_id())
        access.record(tx, AuditRecord("C", "create", [stored]))
        return resource_response(base, stored, 201, location=True)

    def update(
        self, base: str, resource: Resource, resource_id: str, *, if_match: str | None, access: Access = OPEN
    ) -> FhirResponse:
        return self.guarded(
            access,
            lambda tx: self.update_in(tx, base, resource, resource_id, if_match=if_match, access=access),
            writes=True,
        )

    def update_in(
        self,
        tx: ResourceTransaction,
        base: str,
        resource: Resource,
        resource_id: str,
        *,
        if_match: str | None,
        access: Access = OPEN,
    ) -> FhirResponse:
        resource_type = resource["resourceType"]
        _writable(resource_type)
        body_id = resource.get("id")
        if body_id is None:
            raise IssueError.single(
                "required",
                "An update must carry the resource id in the body (FHIR R4 http.html#update)",
                expression=f"{resource_type}.id",
                message_id="fhir.update-without-id",
                status=400,
            )
        if body_id != resource_id:
            raise IssueError.single(
                "invalid",
                f"The body's id {body_id!r} does not match the id {resource_id!r} in the URL",
                expression=f"{resource_type}.id",
                message_id="fhir.id-mismatch",
                status=400,
            )
        current = tx.read_current(resource_type, resource_id)
        access.require(resource_type, "u" if current is not None else "c")
        author = None
        if current is not None:
            # Re-creating a deleted resource is an update of what was deleted: same visibility, same author.
            self.check_visible(tx, access, current, "update")
            author = last_live(tx, resource_type, resource_id, current.version_id)
        stored, created = tx.update(
            access.stamp(self.checked(tx, resource), author), resource_id=resource_id, if_match=parse_etag(if_match)
        )
        access.record(tx, AuditRecord("C" if created else "U", "create" if created else "update", [stored]))
        return resource_response(base, stored, 201 if created else 200, location=created)

    def conditional_update(self, base: str, resource: Resource, criteria: str, access: Access = OPEN) -> FhirResponse:
        return self.guarded(
            access, lambda tx: self.conditional_update_in(tx, base, resource, criteria, access), writes=True
        )

    def conditional_update_in(
        self, tx: ResourceTransaction, base: str, resource: Resource, criteria: str, access: Access = OPEN
    ) -> FhirResponse:
        resource_type = resource["resourceType"]
        existing = self.conditional_match(tx, resource_type, criteria, "conditional update", access)
        if existing is None:
            return self.create_in(tx, base, resource, resource_id=resource.get("id"), access=access)
        if resource.get("id") not in (None, existing.id):
            raise IssueError.single(
                "invalid",
                f"The body's id {resource['id']!r} differs from the matching {resource_type}/{existing.id}",
                expression=f"{resource_type}.id",
                message_id="fhir.id-mismatch",
                status=400,
            )
        return self.update_in(tx, base, {**resource, "id": existing.id}, existing.id, if_match=None, access=access)

    def delete(self, resource_type: str, resource_id: str, access: Access = OPEN) -> FhirResponse:
        require_type(resource_type)
        return self.guarded(access, lambda tx: self.delete_in(tx, resource_type, resource_id, access), writes=True)

    def delete_in(
        self, tx: ResourceTransaction, resource_type: str, resource_id: str, access: Access = OPEN
    ) -> FhirResponse:
        _writable(resource_type)
        access.require(resource_type, "d")
        current = _current_or_404(tx, resource_type, resource_id)
        self.check_visible(tx, access, current, "delete")
        tombstone = tx.delete(resource_type, resource_id)
        access.record(tx, AuditRecord("D", "delete", [tombstone or current]))
        headers = {"ETag": tombstone.etag} if tombstone else {}
        return FhirResponse(204, None, headers)

    # -- type and system level -----------------------------------------------------------------------------

    def parse_query(self, resource_type: str, pairs: list[tuple[str, str]]) -> SearchQuery:
        require_type(resource_type)
        return parse_search(
            resource_type,
            pairs,
            param_types=PARAM_TYPES,
            default_count=self.paging.default_count,
            max_count=self.paging.max_count,
        )

    def search(
        self, base: str, resource_type: str, pairs: list[tuple[str, str]], access: Access = OPEN
    ) -> FhirResponse:
        query = self.parse_query(resource_type, pairs)

        def work(tx: ResourceTransaction) -> FhirResponse:
            page = self.search_in(tx, query, access)
            return FhirResponse(200, bundles.searchset(base, query, page, self.ids.new_id(), self.clock.now()))

        return self.guarded(access, work)

    def search_in(self, tx: ResourceTransaction, query: SearchQuery, access: Access = OPEN) -> SearchPage:
        """A search page with everything the caller may not see silently left out (matches and includes alike)."""
        access.require(query.resource_type, "s")
        if not access.filters or (not access.governs(query.resource_type) and not query.includes):
            page = tx.search(query)
        else:
            visible = list(self._visible_matches(tx, query, access))
            chosen = visible[query.offset : query.offset + query.count]
            included: list[StoredResource] = []
            if chosen and query.includes:
                ids = Criterion("_id", "token", "", tuple(m.id for m in chosen))
                with_includes = tx.search(
                    SearchQuery(query.resource_type, (ids,), count=len(chosen), includes=query.includes)
                )
                included = [i for i in with_includes.included if _readable(access, i) and access.visible(tx, i)]
            page = SearchPage([] if query.summary_count else chosen, included, len(visible))
        access.record(tx, AuditRecord("E", "search-type", [*page.matches, *page.included], query=urlencode(query.raw)))
        return page

    def history(
        self,
        base: str,
        resource_type: str | None,
        resource_id: str | None,
        pairs: list[tuple[str, str]],
        access: Access = OPEN,
    ) -> FhirResponse:
        if resource_type:
            require_type(resource_type)
        count, offset, since = self._history_params(pairs)

        def work(tx: ResourceTransaction) -> FhirResponse:
            access.require(resource_type or "*", "r")
            if resource_type and resource_id:
                current = _current_or_404(tx, resource_type, resource_id)
                self.check_visible(tx, access, current, "history-instance")
            unfiltered = not access.filters or (resource_type is not None and not access.governs(resource_type))
            if unfiltered and resource_type is not None:
                page = tx.history(resource_type, resource_id, since=since, count=count, offset=offset)
            else:
                shown = [
                    version
                    for version in self._all_versions(tx, resource_type, resource_id, since)
                    if _readable(access, version) and self._shown(tx, access, version)
                ]
                page = HistoryPage(shown[offset : offset + count], len(shown))
            subtype = "history-instance" if resource_id else "history-type" if resource_type else "history-system"
            access.record(tx, AuditRecord("R", subtype, list(page.versions)))
            path = "".join(f"/{part}" for part in (resource_type, resource_id) if part) + "/_history"
            body = bundles.history_bundle(
                base, path, pairs, page, count=count, offset=offset, bundle_id=self.ids.new_id(), now=self.clock.now()
            )
            return FhirResponse(200, body)

        return self.guarded(access, work)

    @staticmethod
    def _all_versions(
        tx: ResourceTransaction, resource_type: str | None, resource_id: str | None, since: str | None
    ) -> Iterator[StoredResource]:
        offset = 0
        while True:
            page = tx.history(resource_type, resource_id, since=since, count=FILTER_CHUNK, offset=offset)
            yield from page.versions
            offset += len(page.versions)
            if not page.versions or offset >= page.total:
                return

    @staticmethod
    def _shown(tx: ResourceTransaction, access: Access, version: StoredResource) -> bool:
        """Each history entry is judged on its own version (a deletion on the version it deleted)."""
        if not access.governs(version.resource_type):
            return True
        judged = last_live(tx, version.resource_type, version.id, version.version_id) if version.deleted else version
        return access.visible(tx, judged)

    def _history_params(self, pairs: list[tuple[str, str]]) -> tuple[int, int, str | None]:
        count, offset, since = self.paging.default_count, 0, None
        for key, value in pairs:
            if key in ("_count", "_offset"):
                if not value.isdigit() or int(value) > MAX_PAGING_NUMBER:
                    raise IssueError.single(
                        "invalid", f"{key} must be an integer from 0 to {MAX_PAGING_NUMBER}", expression=key
                    )
                if key == "_count":
                    count = min(int(value), self.paging.max_count)
                else:
                    offset = int(value)
            elif key == "_since":
                try:
                    since = date_range(value)[0]
                except ValueError as error:
                    raise IssueError.single(
                        "invalid", f"_since {value!r} is not a FHIR instant", expression="_since"
                    ) from error
            elif key not in ("_format", "_pretty"):
                raise IssueError.single(
                    "not-supported", f"History does not support the parameter {key!r}", expression=key
                )
        return count, offset, since

    def conditional_match(
        self, tx: ResourceTransaction, resource_type: str, criteria: str, what: str, access: Access = OPEN
    ) -> StoredResource | None:
        """The one match of conditional criteria among what the caller may see (so a match it may not see can
        neither be revealed nor changed by a conditional create or update); 412 for several."""
        pairs = parse_qsl(criteria.lstrip("?"), keep_blank_values=True)
        if not pairs:
            raise IssueError.single("invalid", f"{what} has no search criteria", message_id="fhir.no-criteria")
        query = self.parse_query(resource_type, pairs)
        matches = list(self._visible_matches(tx, query, access, limit=2))
        if len(matches) > 1:
            raise IssueError.single(
                "multiple-matches",
                f"{what} criteria {criteria!r} match several {resource_type} resources",
                message_id="fhir.multiple-matches",
                status=412,
            )
        return matches[0] if matches else None

    def _visible_matches(
        self, tx: ResourceTransaction, query: SearchQuery, access: Access, limit: int | None = None
    ) -> Iterator[StoredResource]:
        """Every match of `query` the caller may see, in order, read in chunks (no window to fall out of)."""
        if not access.governs(query.resource_type):
            chunk_query = replace(query, count=limit or FILTER_CHUNK, offset=0, includes=(), summary_count=False)
            page = tx.search(chunk_query)
            yield from page.matches
            offset = len(page.matches)
            while limit is None and offset < page.total:
                page = tx.search(replace(chunk_query, offset=offset))
                if not page.matches:
                    return
                yield from page.matches
                offset += len(page.matches)
            return
        offset, found = 0, 0
        while True:
            page = tx.search(replace(query, count=FILTER_CHUNK, offset=offset, includes=(), summary_count=False))
            for match in page.matches:
                if access.visible(tx, match):
                    yield match
                    found += 1
                    if limit is not None and found >= limit:
                        return
            offset += len(page.matches)
            if not page.matches or offset >= page.total:
                return


#: Filtered searches and histories read matches in chunks of this size (consent is decided per resource).
FILTER_CHUNK = 500


def _current_or_404(tx: ResourceTransaction, resource_type: str, resource_id: str) -> StoredResource:
    """The current version, tombstones included; 404 when the id was never used."""
    current = tx.read_current(resource_type, resource_id)
    if current is None:
        raise NotFound.of(resource_type, resource_id)
    return current


def last_live(tx: ResourceTransaction, resource_type: str, resource_id: str, version_id: int) -> StoredResource:
    """Version `version_id`, or the live version a tombstone deleted (a tombstone always follows a live one)."""
    version = version_id
    while version >= 1:
        try:
            return tx.vread(resource_type, resource_id, version)
        except Gone:
            version -= 1
    raise IssueError.single(
        "not-found", f"{resource_type}/{resource_id} has no live version", message_id="fhir.not-found", status=404
    )


def _readable(access: Access, stored: StoredResource) -> bool:
    """Included or historical resources of a type the caller has no read scope for are left out silently."""
    try:
        access.require(stored.resource_type, "r")
    except Denied:
        return False
    return True


def _writable(resource_type: str) -> None:
    if resource_type in GATEWAY_WRITTEN:
        raise IssueError.single(
            "forbidden",
            f"{resource_type} resources are written by the gateway only",
            message_id="fhir.read-only-type",
            status=403,
        )


def require_type(resource_type: str) -> None:
    if resource_type not in SUPPORTED_TYPES:
        raise IssueError.single(
            "not-supported",
            f"Resource type {resource_type!r} is not supported; supported: {', '.join(SUPPORTED_TYPES)}",
            message_id="fhir.unsupported-type",
            status=404,
        )


def parse_etag(value: str | None) -> int | None:
    if value is None:
        return None
    match = _ETAG.match(value.strip())
    if not match:
        raise IssueError.single(
            "invalid",
            f'If-Match {value!r} is not an ETag of the form W/"<version>"',
            expression="If-Match",
            message_id="fhir.invalid-etag",
            status=400,
        )
    return int(match["version"])


def resource_response(base: str, stored: StoredResource, status: int, *, location: bool = False) -> FhirResponse:
    headers = {"ETag": stored.etag, "Last-Modified": _http_date(bundles.last_modified(stored))}
    if location:
        headers["Location"] = bundles.version_url(base, stored)
    return FhirResponse(status, stored.resource, headers)


def _http_date(instant: str) -> str:
    return format_datetime(datetime.fromisoformat(instant.replace("Z", "+00:00")), usegmt=True)
