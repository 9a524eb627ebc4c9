"""The FHIR RESTful interactions (FHIR R4 http.html) on top of a `ResourceStore`.

Routes and the transaction processor call these; each returns a `FhirResponse` (status, body, headers) and
raises `IssueError` for failures. The `*_in` functions work inside a unit of work the caller owns, which is how
a `transaction` Bundle runs all its entries in one database transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

from gateway.clock import Clock, IdSource
from gateway.fhir import bundles
from gateway.store.dates import date_range
from gateway.store.ports import ResourceStore, ResourceTransaction, StoredResource
from gateway.store.search_params import SEARCH_PARAMS, SUPPORTED_TYPES
from gateway.store.search_query import SearchQuery, parse_search
from mappings.issues import IssueError

Resource = dict[str, Any]

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
    def __init__(self, store: ResourceStore, clock: Clock, ids: IdSource, paging: Paging | None = None) -> None:
        self.store = store
        self.clock = clock
        self.ids = ids
        self.paging = paging or Paging()

    # -- instance level ------------------------------------------------------------------------------------

    def read(self, base: str, resource_type: str, resource_id: str) -> FhirResponse:
        require_type(resource_type)
        with self.store.reading() as tx:
            return resource_response(base, tx.read(resource_type, resource_id), 200)

    def vread(self, base: str, resource_type: str, resource_id: str, version: str) -> FhirResponse:
        require_type(resource_type)
        if not version.isdigit():
            raise IssueError.single("invalid", f"Version id {version!r} is not a number", status=404)
        with self.store.reading() as tx:
            return resource_response(base, tx.vread(resource_type, resource_id, int(version)), 200)

    def create(self, base: str, resource: Resource, *, if_none_exist: str | None = None) -> FhirResponse:
        with self.store.writing() as tx:
            return self.create_in(tx, base, resource, if_none_exist=if_none_exist)

    def create_in(
        self,
        tx: ResourceTransaction,
        base: str,
        resource: Resource,
        *,
        if_none_exist: str | None = None,
        resource_id: str | None = None,
    ) -> FhirResponse:
        if if_none_exist:
            existing = self.conditional_match(tx, resource["resourceType"], if_none_exist, "If-None-Exist")
            if existing is not None:
                return resource_response(base, existing, 200, location=True)
        stored = tx.create(resource, resource_id=resource_id or self.ids.new_id())
        return resource_response(base, stored, 201, location=True)

    def update(self, base: str, resource: Resource, resource_id: str, *, if_match: str | None) -> FhirResponse:
        with self.store.writing() as tx:
            return self.update_in(tx, base, resource, resource_id, if_match=if_match)

    def update_in(
        self,
        tx: ResourceTransaction,
        base: str,
        resource: Resource,
        resource_id: str,
        *,
        if_match: str | None,
    ) -> FhirResponse:
        body_id = resource.get("id")
        if body_id is None:
            raise IssueError.single(
                "required",
                "An update must carry the resource id in the body (FHIR R4 http.html#update)",
                expression=f"{resource['resourceType']}.id",
                message_id="fhir.update-without-id",
                status=400,
            )
        if body_id != resource_id:
            raise IssueError.single(
                "invalid",
                f"The body's id {body_id!r} does not match the id {resource_id!r} in the URL",
                expression=f"{resource['resourceType']}.id",
                message_id="fhir.id-mismatch",
                status=400,
            )
        stored, created = tx.update(resource, resource_id=resource_id, if_match=parse_etag(if_match))
        return resource_response(base, stored, 201 if created else 200, location=created)

    def conditional_update(self, base: str, resource: Resource, criteria: str) -> FhirResponse:
        with self.store.writing() as tx:
            return self.conditional_update_in(tx, base, resource, criteria)

    def conditional_update_in(
        self, tx: ResourceTransaction, base: str, resource: Resource, criteria: str
    ) -> FhirResponse:
        resource_type = resource["resourceType"]
        existing = self.conditional_match(tx, resource_type, criteria, "conditional update")
        if existing is None:
            return self.create_in(tx, base, resource, resource_id=resource.get("id"))
        if resource.get("id") not in (None, existing.id):
            raise IssueError.single(
                "invalid",
                f"The body's id {resource['id']!r} differs from the matching {resource_type}/{existing.id}",
                expression=f"{resource_type}.id",
                message_id="fhir.id-mismatch",
                status=400,
            )
        return self.update_in(tx, base, {**resource, "id": existing.id}, existing.id, if_match=None)

    def delete(self, resource_type: str, resource_id: str) -> FhirResponse:
        require_type(resource_type)
        with self.store.writing() as tx:
            return self.delete_in(tx, resource_type, resource_id)

    def delete_in(self, tx: ResourceTransaction, resource_type: str, resource_id: str) -> FhirResponse:
        if tx.read_current(resource_type, resource_id) is None:
            raise IssueError.single(
                "not-found",
                f"{resource_type}/{resource_id} is not known",
                message_id="fhir.not-found",
                status=404,
            )
        tombstone = tx.delete(resource_type, resource_id)
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

    def search(self, base: str, resource_type: str, pairs: list[tuple[str, str]]) -> FhirResponse:
        query = self.parse_query(resource_type, pairs)
        with self.store.reading() as tx:
            page = tx.search(query)
        return FhirResponse(200, bundles.searchset(base, query, page, self.ids.new_id(), self.clock.now()))

    def history(
        self, base: str, resource_type: str | None, resource_id: str | None, pairs: list[tuple[str, str]]
    ) -> FhirResponse:
        if resource_type:
            require_type(resource_type)
        count, offset, since = self._history_params(pairs)
        with self.store.reading() as tx:
            if resource_type and resource_id and tx.read_current(resource_type, resource_id) is None:
                raise IssueError.single(
                    "not-found",
                    f"{resource_type}/{resource_id} is not known",
                    message_id="fhir.not-found",
                    status=404,
                )
            page = tx.history(resource_type, resource_id, since=since, count=count, offset=offset)
        path = "".join(f"/{part}" for part in (resource_type, resource_id) if part) + "/_history"
        body = bundles.history_bundle(
            base,
            path,
            pairs,
            page,
            count=count,
            offset=offset,
            bundle_id=self.ids.new_id(),
            now=self.clock.now(),
        )
        return FhirResponse(200, body)

    def _history_params(self, pairs: list[tuple[str, str]]) -> tuple[int, int, str | None]:
        count, offset, since = self.paging.default_count, 0, None
        for key, value in pairs:
            if key in ("_count", "_offset"):
                if not value.isdigit():
                    raise IssueError.single("invalid", f"{key} must be a non-negative integer", expression=key)
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
        self, tx: ResourceTransaction, resource_type: str, criteria: str, what: str
    ) -> StoredResource | None:
        pairs = parse_qsl(criteria.lstrip("?"), keep_blank_values=True)
        if not pairs:
            raise IssueError.single("invalid", f"{what} has no search criteria", message_id="fhir.no-criteria")
        page = tx.search(self.parse_query(resource_type, [*pairs, ("_count", "2")]))
        if page.total > 1:
            raise IssueError.single(
                "multiple-matches",
                f"{what} criteria {criteria!r} match {page.total} {resource_type} resources",
                message_id="fhir.multiple-matches",
                status=412,
            )
        return page.matches[0] if page.matches else None


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
