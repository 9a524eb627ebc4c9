"""The FHIR RESTful interactions (FHIR R4 http.html) on top of a `ResourceStore`.

Routes and the transaction processor call these; each returns a `FhirResponse` (status, body, headers) and
raises `IssueError` for failures. The `*_in` functions work inside a unit of work the caller owns, which is how
a `transaction` Bundle runs all its entries in one database transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, urlencode

from gateway.clock import Clock, IdSource
from gateway.errors import Gone, VersionConflict
from gateway.fhir import bundles
from gateway.fhir.access import OPEN, Access, AuditRecord, Denied
from gateway.fhir.parsing import check_resource
from gateway.fhir.rules import (
    SERVER_ASSIGNED_TYPES,
    care_plan_sources,
    check_body_id,
    check_write,
    missing,
    parse_etag,
    require_id,
    stamped,
    writable,
)
from gateway.fhir.write_validation import WriteValidator
from gateway.store.ports import (
    FirstPass,
    MustStore,
    ResourceStore,
    ResourceTransaction,
    SearchPage,
    StoredResource,
    Viewer,
)
from gateway.store.search_params import SEARCH_PARAMS, SUPPORTED_TYPES
from gateway.store.search_query import (
    MAX_PAGING_NUMBER,
    SearchQuery,
    expired_search,
    parse_history,
    parse_paging,
    parse_search,
)
from mappings.issues import IssueError

Resource = dict[str, Any]
T = TypeVar("T")
#: A patch document bound to its format: the current resource in, the patched resource out (gateway.fhir.patch).
PatchFunction = Callable[[Resource], Resource]

PARAM_TYPES: dict[str, dict[str, str]] = {
    resource_type: {name: param.type for name, param in params.items()}
    for resource_type, params in SEARCH_PARAMS.items()
}
#: The target types of each reference parameter (chains without `:Type` need exactly one).
PARAM_TARGETS: dict[str, dict[str, tuple[str, ...]]] = {
    resource_type: {name: param.targets for name, param in params.items() if param.type == "reference"}
    for resource_type, params in SEARCH_PARAMS.items()
}


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
    """Every public method takes an `Access` (default `OPEN`): scopes, the access rule's viewer, authorship and the
    audit trail are decided there, at this one choke point, for every route that reaches FHIR resources.

    `plan_write` marks the gateway's own plan writer (`/plans`, a "system request" in HAPI's terms): it may assign
    the ids it derives and write the resources of a shared plan, which `/fhir` clients may not."""

    def __init__(
        self,
        store: ResourceStore,
        clock: Clock,
        ids: IdSource,
        paging: Paging | None = None,
        validator: WriteValidator | None = None,
        *,
        multiple_delete: bool = False,
    ) -> None:
        self.store = store
        self.multiple_delete = multiple_delete
        self.clock = clock
        self.ids = ids
        self.paging = paging or Paging()
        self.validator = validator

    def checked(
        self, tx: ResourceTransaction, resource: Resource, access: Access, *, plan_write: bool = False
    ) -> Resource:
        """`resource` once the write validator lets it be stored (the one place every create and update passes);
        its references must resolve among what the caller may see (the gateway's own plan writer: all)."""
        if self.validator is not None:
            self.validator.check(tx, resource, None if plan_write else access.viewer)
        return resource

    def guarded(self, access: Access, work: Callable[[ResourceTransaction], T], *, writes: bool = False) -> T:
        """Run `work` in one unit of work: a write transaction when it writes (an audited write's AuditEvent is
        written with the operation it records; a refused operation is undone to a savepoint and its denial's
        AuditEvent committed in the same transaction: it writes nothing but its audit), a read transaction when it
        only reads (an audited read's AuditEvents follow in a short write transaction: `_read_audited`)."""
        if not writes:
            return self._read_audited(access, work)
        if not access.audits:
            with self.store.writing() as tx:
                return work(tx)
        refused: Denied | None = None
        with self.store.writing() as tx:
            try:
                with tx.savepoint():
                    return work(tx)
            except Denied as denied:
                access.record(tx, denied.record)
                refused = denied
        raise refused

    def _read_audited(self, access: Access, work: Callable[[ResourceTransaction], T]) -> T:
        """A read: `work` runs in a read transaction and what it leaves to write — its AuditEvents (a refusal's
        too) and a search's first stored pass — is written after it, in a write transaction holding nothing but
        them, before anything is answered (issue 18: a read in a write transaction took SQLite's one write lock for
        its whole length, so reads queued behind each other and behind every writer). The events are the same; an
        audit or a pass that cannot be written fails the read.

        On a database whose writers take row locks only (PostgreSQL), the read and what it writes share one
        transaction: a pooled connection, a BEGIN and a COMMIT fewer per read (issue 18: authenticated reads)."""
        refused: Denied | None = None
        if not self.store.single_writer:
            with self.store.writing() as tx:
                try:
                    return work(tx)
                except Denied as denied:
                    access.record(tx, denied.record)
                    refused = denied
            raise refused
        deferred = _AuditsAfter(self.store)
        with self.store.reading() as tx:
            deferred.tx = tx
            try:
                result = work(cast(ResourceTransaction, deferred))
            except Denied as denied:
                access.record(cast(ResourceTransaction, deferred), denied.record)
                refused = denied
        deferred.write()
        if refused is not None:
            raise refused
        return result

    # -- instance level ------------------------------------------------------------------------------------

    def read(self, base: str, resource_type: str, resource_id: str, access: Access = OPEN) -> FhirResponse:
        require_type(resource_type)
        return self.guarded(access, lambda tx: self.read_in(tx, base, resource_type, resource_id, access))

    def read_in(
        self, tx: ResourceTransaction, base: str, resource_type: str, resource_id: str, access: Access = OPEN
    ) -> FhirResponse:
        require_id(resource_id)
        access.require(resource_type, "r")
        current = tx.read_current(resource_type, resource_id, access.viewer)
        if current is None:
            raise missing(access, "R", "read", resource_type, resource_id)
        if current.deleted:
            raise Gone.of(resource_type, resource_id, current.version_id)
        access.record(tx, AuditRecord("R", "read", [current]))
        return resource_response(base, current, 200)

    def vread(
        self, base: str, resource_type: str, resource_id: str, version: str, access: Access = OPEN
    ) -> FhirResponse:
        require_type(resource_type)
        number = version_number(version)
        return self.guarded(access, lambda tx: self.vread_in(tx, base, resource_type, resource_id, number, access))

    def vread_in(
        self,
        tx: ResourceTransaction,
        base: str,
        resource_type: str,
        resource_id: str,
        version: int,
        access: Access = OPEN,
    ) -> FhirResponse:
        require_id(resource_id)
        access.require(resource_type, "r")
        if tx.read_current(resource_type, resource_id, access.viewer) is None:
            raise missing(access, "R", "vread", resource_type, resource_id, version)  # any version: no count
        stored = tx.vread(resource_type, resource_id, version)
        access.record(tx, AuditRecord("R", "vread", [stored]))
        return resource_response(base, stored, 200)

    def check_visible(
        self, tx: ResourceTransaction, access: Access, stored: StoredResource, subtype: str = "read"
    ) -> StoredResource:
        """`stored` (any version of it), or what a missing resource raises when the caller may not see it: the one
        rule decides per resource (authorship and plan membership belong to the resource, not to a version)."""
        if access.viewer is not None and tx.read_current(stored.resource_type, stored.id, access.viewer) is None:
            raise missing(access, "R", subtype, stored.resource_type, stored.id)
        return stored

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
        plan_write: bool = False,
    ) -> FhirResponse:
        """Create; `resource_id` is the id a transaction or conditional update resolved (never a client's choice
        for a server-assigned type: those callers refuse it first)."""
        resource_type = resource["resourceType"]
        writable(resource_type)
        access.require(resource_type, "c")
        self.check_sources(resource, access)
        if if_none_exist:
            self.lock_criteria(tx, resource_type, if_none_exist, access)
            existing = self.conditional_match(tx, resource_type, if_none_exist, "If-None-Exist", access)
            if existing is not None:
                return resource_response(base, existing, 200, location=True)
        stored = tx.create(
            stamped(self.checked(tx, resource, access, plan_write=plan_write), access.author),
            resource_id=resource_id or self.ids.new_id(),
            author=access.author,
        )
        access.record(tx, AuditRecord("C", "create", [stored]))
        return resource_response(base, stored, 201, location=True)

    def check_sources(self, resource: Resource, access: Access) -> None:
        """A CarePlan's identifier may not use a plan source system another organisation owns."""
        for system in care_plan_sources(resource):
            access.require_source(system, owned=False)

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
        plan_write: bool = False,
    ) -> FhirResponse:
        resource_type = resource["resourceType"]
        writable(resource_type)
        require_id(resource_id)
        check_body_id(resource, resource_id)
        expected_version = parse_etag(if_match)
        current = tx.read_current(resource_type, resource_id, access.viewer)
        access.require(resource_type, "u" if current is not None else "c")
        if current is None:
            if resource_type in SERVER_ASSIGNED_TYPES and not plan_write:
                raise missing(access, "U", "update", resource_type, resource_id, creating=True)
        else:
            check_write(tx, access, current, "U", plan_write=plan_write)
        self.check_sources(resource, access)
        author = current.author if current is not None else access.author
        stored, created = tx.update(
            stamped(self.checked(tx, resource, access, plan_write=plan_write), author),
            resource_id=resource_id,
            if_match=expected_version,
            author=author,
        )
        access.record(tx, AuditRecord("C" if created else "U", "create" if created else "update", [stored]))
        return resource_response(base, stored, 201 if created else 200, location=created)

    def conditional_update(
        self, base: str, resource: Resource, criteria: str, access: Access = OPEN, *, if_match: str | None = None
    ) -> FhirResponse:
        return self.guarded(
            access,
            lambda tx: self.conditional_update_in(tx, base, resource, criteria, access, if_match=if_match),
            writes=True,
        )

    def conditional_update_in(
        self,
        tx: ResourceTransaction,
        base: str,
        resource: Resource,
        criteria: str,
        access: Access = OPEN,
        *,
        plan_write: bool = False,
        assigned_id: str | None = None,
        if_match: str | None = None,
    ) -> FhirResponse:
        """`assigned_id`: the id a transaction resolved for this entry's fullUrl (the body's id is then ours).
        `if_match` holds for the matching resource as for an update; with nothing matching there is no version to
        hold it to, so it fails as an update's does for a resource that does not exist (412)."""
        resource_type = resource["resourceType"]
        expected_version = parse_etag(if_match)
        self.lock_criteria(tx, resource_type, criteria, access)
        existing = self.conditional_match(tx, resource_type, criteria, "conditional update", access)
        if existing is None:
            if expected_version is not None:
                raise VersionConflict.of(resource_type, f"?{criteria[:200]}", expected_version, 0)
            body_id = assigned_id or self.client_id(resource, access, plan_write=plan_write)
            return self.create_in(tx, base, resource, resource_id=body_id, access=access, plan_write=plan_write)
        if resource.get("id") not in (None, existing.id):
            raise id_mismatch(resource_type, str(resource["id"]), existing.id)
        return self.update_in(
            tx,
            base,
            {**resource, "id": existing.id},
            existing.id,
            if_match=if_match,
            access=access,
            plan_write=plan_write,
        )

    def client_id(self, resource: Resource, access: Access, *, plan_write: bool) -> str | None:
        """The body's id for a create that matched nothing: refused for server-assigned types (as a missing id
        is), except for the gateway's own plan writer."""
        body_id = resource.get("id")
        if body_id is None:
            return None
        resource_type = resource["resourceType"]
        require_id(str(body_id), f"{resource_type}.id")
        if resource_type in SERVER_ASSIGNED_TYPES and not plan_write:
            access.require(resource_type, "c")
            raise missing(access, "U", "update", resource_type, str(body_id), creating=True)
        return str(body_id)

    def delete(
        self, resource_type: str, resource_id: str, access: Access = OPEN, *, if_match: str | None = None
    ) -> FhirResponse:
        require_type(resource_type)
        return self.guarded(
            access, lambda tx: self.delete_in(tx, resource_type, resource_id, access, if_match=if_match), writes=True
        )

    def delete_in(
        self,
        tx: ResourceTransaction,
        resource_type: str,
        resource_id: str,
        access: Access = OPEN,
        *,
        if_match: str | None = None,
    ) -> FhirResponse:
        """FHIR R4 http.html#delete; `if_match` (http.html#concurrency): only the version it names is deleted."""
        writable(resource_type)
        require_id(resource_id)
        expected_version = parse_etag(if_match)
        access.require(resource_type, "d")
        current = tx.read_current(resource_type, resource_id, access.viewer)
        if current is None:
            raise missing(access, "D", "delete", resource_type, resource_id)
        check_write(tx, access, current, "D", plan_write=False)
        if expected_version is not None and expected_version != current.version_id:
            raise VersionConflict.of(resource_type, resource_id, expected_version, current.version_id)
        tombstone = tx.delete(resource_type, resource_id)
        access.record(tx, AuditRecord("D", "delete", [tombstone or current]))
        headers = {"ETag": tombstone.etag} if tombstone else {}
        return FhirResponse(204, None, headers)

    def patch(
        self,
        base: str,
        resource_type: str,
        resource_id: str,
        apply: PatchFunction,
        *,
        if_match: str | None,
        access: Access = OPEN,
    ) -> FhirResponse:
        require_type(resource_type)
        return self.guarded(
            access,
            lambda tx: self.patch_in(tx, base, resource_type, resource_id, apply, if_match=if_match, access=access),
            writes=True,
        )

    def patch_in(
        self,
        tx: ResourceTransaction,
        base: str,
        resource_type: str,
        resource_id: str,
        apply: PatchFunction,
        *,
        if_match: str | None,
        access: Access = OPEN,
    ) -> FhirResponse:
        """FHIR R4 http.html#patch: the patched resource is stored as an update would store it (same scope, same
        authorship rule, same validation), so a caller who may not update a resource cannot patch it either and
        gets the update's answer. The patch applies to the version read here; the update is conditional on it
        (a concurrent write in between is a 412, not a lost update)."""
        writable(resource_type)
        require_id(resource_id)
        expected_version = parse_etag(if_match)
        access.require(resource_type, "u")
        current = tx.read_current(resource_type, resource_id, access.viewer)
        if current is None:
            raise missing(access, "U", "patch", resource_type, resource_id)
        check_write(tx, access, current, "U", plan_write=False)
        if current.resource is None:
            raise Gone.of(resource_type, resource_id, current.version_id)
        if expected_version is not None and expected_version != current.version_id:
            raise VersionConflict.of(resource_type, resource_id, expected_version, current.version_id)
        patched = apply(current.resource)
        if patched.get("resourceType") != resource_type or patched.get("id") != resource_id:
            raise IssueError.single(
                "processing",
                f"A patch may not change the resource's type or id ({resource_type}/{resource_id})",
                expression=f"{resource_type}.id",
                message_id="fhir.patch.identity",
                status=422,
            )
        patched = check_resource(patched, expected_type=resource_type, supported=SUPPORTED_TYPES)
        return self.update_in(tx, base, patched, resource_id, if_match=current.etag, access=access)

    def conditional_patch(
        self, base: str, resource_type: str, criteria: str, apply: PatchFunction, access: Access = OPEN
    ) -> FhirResponse:
        require_type(resource_type)
        return self.guarded(
            access,
            lambda tx: self.conditional_patch_in(tx, base, resource_type, criteria, apply, access),
            writes=True,
        )

    def conditional_patch_in(
        self,
        tx: ResourceTransaction,
        base: str,
        resource_type: str,
        criteria: str,
        apply: PatchFunction,
        access: Access = OPEN,
    ) -> FhirResponse:
        """FHIR R4 http.html#patch (conditional patch): no match 404, one match patched, several 412; matches among
        the caller's own resources, as for a conditional update."""
        require_type(resource_type)
        access.require(resource_type, "u")
        existing = self.conditional_match(tx, resource_type, criteria, "conditional patch", access)
        if existing is None:
            raise IssueError.single(
                "not-found",
                f"No {resource_type} matches the conditional patch criteria {criteria[:200]!r}",
                message_id="fhir.not-found",
                status=404,
            )
        return self.patch_in(tx, base, resource_type, existing.id, apply, if_match=None, access=access)

    # -- type and system level -----------------------------------------------------------------------------

    def parse_query(self, resource_type: str, pairs: list[tuple[str, str]], *, lenient: bool = False) -> SearchQuery:
        require_type(resource_type)
        return parse_search(
            resource_type,
            pairs,
            param_types=PARAM_TYPES,
            default_count=self.paging.default_count,
            max_count=self.paging.max_count,
            lenient=lenient,
            targets=PARAM_TARGETS,
        )

    def search(
        self,
        base: str,
        resource_type: str,
        pairs: list[tuple[str, str]],
        access: Access = OPEN,
        *,
        lenient: bool = False,
    ) -> FhirResponse:
        """`lenient`: the client's `Prefer: handling=lenient` (unknown parameters ignored, see `search_query`).

        Stable paging as HAPI FHIR pages (search.html#paging leaves the means to the server): a search with more than
        one page stores the ordered ids of its matches under the first page's Bundle id, in passes (the store's
        `_fill`), and its `next` links (`_getpages=<id>&_getpagesoffset=<n>`) page through that list for an hour,
        each page read and checked against the access rule when it is asked for. Writes in between neither skip nor
        repeat a match.

        A search runs in a read transaction (issue 18: on SQLite every search queued behind every writer). A first
        page of several keeps what it read as the result's first pass in the short write transaction after the read
        (with its AuditEvents); only a later page that reaches past the stored ids runs again in a write transaction
        (`MustStore`) to store the next pass."""
        require_type(resource_type)
        paging = parse_paging(pairs)
        bundle_id = self.ids.new_id()

        def work(tx: ResourceTransaction) -> FhirResponse:
            if paging is None:
                query = self.parse_query(resource_type, pairs, lenient=lenient)
                if query.offset == 0:
                    # A search asked with `_offset` pages by offset over the live data and stores nothing, as HAPI
                    # FHIR runs `_offset` searches outside its search cache (hapi-fhir issue 4190): storing the
                    # passes up to a deep offset would cost more than reading past it.
                    query = replace(query, snapshot=bundle_id)
            else:
                query = self.stored_query(tx, resource_type, *paging, access)
            page = self.search_in(tx, query, access)
            if page.first_pass is not None:
                tx.keep_result(page.first_pass)  # deferred to the write after the read (`_read_audited`)
            return FhirResponse(200, bundles.searchset(base, query, page, bundle_id, self.clock.now()))

        try:
            return self.guarded(access, work)
        except MustStore:
            return self.guarded(access, work, writes=True)

    def stored_query(
        self,
        tx: ResourceTransaction,
        resource_type: str,
        search_id: str,
        offset: int,
        count: int | None,
        access: Access,
    ) -> SearchQuery:
        """The query of a page of the stored result `search_id`: its own parameters, the link's offset and count."""
        access.require(resource_type, "s")
        stored = tx.stored_search(search_id, access.viewer)
        if stored is None or stored.resource_type != resource_type:
            raise expired_search(search_id)
        query = self.parse_query(resource_type, parse_qsl(stored.query, keep_blank_values=True))
        count = query.count if count is None else min(count, self.paging.max_count)
        return replace(query, page_of=search_id, offset=offset, count=count)

    def search_in(self, tx: ResourceTransaction, query: SearchQuery, access: Access = OPEN) -> SearchPage:
        """A search page of what the caller may see (the store applies the access rule in SQL, so pages are
        full and `total` counts only those); included types without a read scope are left out silently."""
        access.require(query.resource_type, "s")
        page = tx.search(query, access.viewer)
        included = [resource for resource in page.included if _readable(access, resource.resource_type)]
        access.record(tx, AuditRecord("E", "search-type", [*page.matches, *included], query=urlencode(query.raw)))
        return replace(page, included=included)

    def history(
        self,
        base: str,
        resource_type: str | None,
        resource_id: str | None,
        pairs: list[tuple[str, str]],
        access: Access = OPEN,
    ) -> FhirResponse:
        return self.guarded(access, lambda tx: self.history_in(tx, base, resource_type, resource_id, pairs, access))

    def history_in(
        self,
        tx: ResourceTransaction,
        base: str,
        resource_type: str | None,
        resource_id: str | None,
        pairs: list[tuple[str, str]],
        access: Access = OPEN,
    ) -> FhirResponse:
        """System, type or instance history (FHIR R4 http.html#history) in `tx`: also a batch's GET entry."""
        if resource_type:
            require_type(resource_type)
        count, offset, since = parse_history(
            pairs, default_count=self.paging.default_count, max_count=self.paging.max_count
        )
        access.require(resource_type or "*", "r")
        if resource_type and resource_id:
            require_id(resource_id)
            if tx.read_current(resource_type, resource_id, access.viewer) is None:
                raise missing(access, "R", "history-instance", resource_type, resource_id)
        types = None if resource_type else [name for name in SUPPORTED_TYPES if _readable(access, name)]
        page = tx.history(
            resource_type, resource_id, since=since, count=count, offset=offset, viewer=access.viewer, types=types
        )
        subtype = "history-instance" if resource_id else "history-type" if resource_type else "history-system"
        access.record(tx, AuditRecord("R", subtype, list(page.versions)))
        path = "".join(f"/{part}" for part in (resource_type, resource_id) if part) + "/_history"
        body = bundles.history_bundle(
            base, path, pairs, page, count=count, offset=offset, bundle_id=self.ids.new_id(), now=self.clock.now()
        )
        return FhirResponse(200, body)

    def lock_criteria(self, tx: ResourceTransaction, resource_type: str, criteria: str, access: Access) -> None:
        """Conditional writes with the same criteria by the same caller wait for each other (HAPI FHIR issue 3141:
        two concurrent conditional creates both create): the match and the create that follows it are one step.
        The key is the criteria as a set of pairs, so `a=1&b=2` and `b=2&a=1` are one key."""
        pairs = sorted(parse_qsl(criteria.lstrip("?"), keep_blank_values=True))
        tx.lock(f"conditional {resource_type} {access.author or ''} {urlencode(pairs)}")

    def conditional_match(
        self, tx: ResourceTransaction, resource_type: str, criteria: str, what: str, access: Access = OPEN
    ) -> StoredResource | None:
        """The one match of conditional criteria among the caller's own resources (so what someone else wrote
        is neither revealed, nor captured, nor able to block the write with a second match); 412 for several."""
        matches = self.own_matches(tx, resource_type, criteria, what, access, limit=2)
        if len(matches) > 1:
            raise _several(what, criteria, resource_type)
        return matches[0] if matches else None

    def own_matches(
        self, tx: ResourceTransaction, resource_type: str, criteria: str, what: str, access: Access, *, limit: int
    ) -> Sequence[StoredResource]:
        """Up to `limit` matches of conditional criteria among the caller's own resources."""
        viewer = Viewer(access.author, access.viewer.at, own_only=True) if access.viewer is not None else None
        return self.criteria_matches(tx, resource_type, criteria, what, viewer, limit=limit)

    def criteria_matches(
        self,
        tx: ResourceTransaction,
        resource_type: str,
        criteria: str,
        what: str,
        viewer: Viewer | None,
        *,
        limit: int,
    ) -> Sequence[StoredResource]:
        """Up to `limit` matches of conditional criteria (`what` names them in errors) among what `viewer` sees."""
        pairs = parse_qsl(criteria.lstrip("?"), keep_blank_values=True)
        if not pairs:
            raise IssueError.single("invalid", f"{what} has no search criteria", message_id="fhir.no-criteria")
        query = self.parse_query(resource_type, pairs)
        query = replace(query, count=limit, offset=0, includes=(), summary_count=False, counted=False)
        return tx.search(query, viewer).matches

    def conditional_delete(self, resource_type: str, criteria: str, access: Access = OPEN) -> FhirResponse:
        require_type(resource_type)
        return self.guarded(
            access, lambda tx: self.conditional_delete_in(tx, resource_type, criteria, access), writes=True
        )

    def conditional_delete_in(
        self, tx: ResourceTransaction, resource_type: str, criteria: str, access: Access = OPEN
    ) -> FhirResponse:
        """FHIR R4 http.html#cdelete: no match → 204 (nothing to do), one match → deleted, several → 412 unless
        the server allows multiple deletes (`multiple_delete`: then all of them, at most `max_count`). Matches are
        among the caller's own resources, as for conditional update: what another organisation wrote is neither
        deleted, nor counted, nor revealed."""
        if not criteria:
            raise IssueError.single("invalid", "A DELETE to a type needs search criteria, or use DELETE [type]/[id]")
        writable(resource_type)
        access.require(resource_type, "d")
        limit = self.paging.max_count + 1 if self.multiple_delete else 2
        matches = self.own_matches(tx, resource_type, criteria, "conditional delete", access, limit=limit)
        if len(matches) > 1 and not self.multiple_delete:
            raise _several("conditional delete", criteria, resource_type)
        if len(matches) > self.paging.max_count:
            raise IssueError.single(
                "too-costly",
                f"conditional delete criteria {criteria[:200]!r} match more than {self.paging.max_count} "
                f"{resource_type} resources; narrow them",
                message_id="fhir.too-many-matches",
                status=412,
            )
        responses = [self.delete_in(tx, resource_type, match.id, access) for match in matches]
        return responses[0] if len(responses) == 1 else FhirResponse(204)


def _several(what: str, criteria: str, resource_type: str) -> IssueError:
    return IssueError.single(
        "multiple-matches",
        f"{what} criteria {criteria[:200]!r} match several {resource_type} resources",
        message_id="fhir.multiple-matches",
        status=412,
    )


def _readable(access: Access, resource_type: str) -> bool:
    """Included or historical resources of a type the caller has no read scope for are left out silently."""
    try:
        access.require(resource_type, "r")
    except Denied:
        return False
    return True


def require_type(resource_type: str) -> None:
    if resource_type not in SUPPORTED_TYPES:
        raise IssueError.single(
            "not-supported",
            f"Resource type {resource_type!r} is not supported; supported: {', '.join(SUPPORTED_TYPES)}",
            message_id="fhir.unsupported-type",
            status=404,
        )


def id_mismatch(resource_type: str, body_id: str, match_id: str) -> IssueError:
    """A conditional update's body names another resource than its criteria match (FHIR R4 http.html#cond-update)."""
    return IssueError.single(
        "invalid",
        f"The body's id {body_id[:64]!r} differs from the matching {resource_type}/{match_id}",
        expression=f"{resource_type}.id",
        message_id="fhir.id-mismatch",
        status=400,
    )


def version_number(version: str) -> int:
    """A version id from a URL (`_history/{vid}`): ours are counters, so anything else names no version."""
    if not version.isdigit() or int(version) > MAX_PAGING_NUMBER:
        raise IssueError.single("not-found", f"There is no version {version[:40]!r}", status=404)
    return int(version)


def resource_response(base: str, stored: StoredResource, status: int, *, location: bool = False) -> FhirResponse:
    headers = {"ETag": stored.etag, "Last-Modified": http_date(bundles.last_modified(stored))}
    if location:
        headers["Location"] = bundles.version_url(base, stored)
    return FhirResponse(status, stored.resource, headers)


def not_modified(response: FhirResponse, if_none_match: str | None, if_modified_since: str | None) -> FhirResponse:
    """A read or vread as a conditional read (FHIR R4 http.html#cread, RFC 9110 §13.1.2 and §13.1.3): 304 Not
    Modified, with the ETag and Last-Modified and no body, when the client's copy is current. `If-None-Match`
    (weak comparison, a list or `*`) wins over `If-Modified-Since`; a date that does not parse is ignored, as
    RFC 9110 says. Only a response that was a 200 (so one the caller may see) can become a 304."""
    if response.status != 200:
        return response
    etag = response.headers.get("ETag", "")
    if if_none_match is not None:
        wanted = {_weak(tag) for tag in if_none_match.split(",")}
        return _as_304(response) if "*" in wanted or _weak(etag) in wanted else response
    if if_modified_since is None:
        return response
    try:
        since = parsedate_to_datetime(if_modified_since)
        modified = parsedate_to_datetime(response.headers["Last-Modified"])
    except (TypeError, ValueError, KeyError, IndexError):
        return response
    if since.tzinfo is None:
        return response
    return _as_304(response) if modified <= since else response


def _weak(tag: str) -> str:
    return tag.strip().removeprefix("W/").strip('"')


def _as_304(response: FhirResponse) -> FhirResponse:
    kept = {name: value for name, value in response.headers.items() if name in ("ETag", "Last-Modified")}
    return FhirResponse(304, None, kept)


def http_date(instant: str) -> str:
    """A FHIR instant as an HTTP date (RFC 9110 §5.6.7); ValueError for one that does not parse or has no zone."""
    moment = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{instant!r} has no time zone")
    return format_datetime(moment.astimezone(UTC), usegmt=True)


class _AuditsAfter:
    """A read transaction whose `audit` and `keep_result` keep the AuditEvents and a search's first stored pass
    for a write transaction after it (`_read_audited`); everything else is the read transaction's."""

    def __init__(self, store: ResourceStore) -> None:
        self.store = store
        self.tx: ResourceTransaction | None = None
        self.events: list[tuple[Resource, bool]] = []
        self.results: list[FirstPass] = []

    def audit(self, event: Resource, *, once: bool = False) -> bool:
        self.events.append((event, once))
        return True

    def keep_result(self, first: FirstPass) -> None:
        self.results.append(first)

    def write(self) -> None:
        if self.events or self.results:
            with self.store.writing() as tx:
                for first in self.results:
                    tx.keep_result(first)
                for event, once in self.events:
                    tx.audit(event, once=once)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tx, name)
