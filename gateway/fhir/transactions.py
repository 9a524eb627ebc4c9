"""`transaction` and `batch` Bundles posted to the FHIR base (FHIR R4 http.html#transaction).

A transaction runs in one database transaction: any failing entry rolls everything back and the client gets
that entry's OperationOutcome, with locations prefixed `Bundle.entry[i]`. Entries are processed in the order
the spec prescribes (DELETE, POST, PUT and PATCH, GET); the response lists them in request order. Before anything is
written, every `urn:uuid:` fullUrl gets its resource id (an existing match for a conditional create/update, else a
new id) and every reference to it is rewritten. A batch runs each entry in its own savepoint: one failing entry
does not stop the others.
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson

from gateway.fhir import bundles
from gateway.fhir.access import OPEN, Access, Denied
from gateway.fhir.interactions import (
    FhirResponse,
    FhirService,
    PatchFunction,
    http_date,
    id_mismatch,
    not_modified,
    require_type,
    version_number,
)
from gateway.fhir.parsing import check_resource
from gateway.fhir.patch import JSON_PATCH, apply_fhirpath_patch, apply_json_patch
from gateway.fhir.write_validation import pending_writes
from gateway.store.ports import ResourceTransaction, iterate_references
from gateway.store.search_params import SUPPORTED_TYPES
from gateway.store.search_query import parse_paging
from mappings.issues import Issue, IssueError, operation_outcome

Resource = dict[str, Any]
_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
#: `Bundle.entry.request`'s string elements besides method and url.
_REQUEST_STRINGS = ("ifNoneMatch", "ifModifiedSince", "ifMatch", "ifNoneExist")
_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    304: "Not Modified",
    400: "Bad Request",
    404: "Not Found",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    422: "Unprocessable Entity",
}


@dataclass
class Entry:
    index: int
    method: str
    url: str
    resource: Resource | None
    full_url: str | None
    if_none_exist: str | None
    if_match: str | None
    #: Why a batch entry cannot be processed (it then fails alone).
    error: IssueError | None = None
    #: A PATCH entry's patch document, bound to its format (its `resource` is the Binary or Parameters that
    #: carries it, not a resource to write: `resource` stays None).
    patch: PatchFunction | None = None
    #: That document as read (the Parameters, or the JSON Patch operations), whose references a transaction
    #: rewrites with the resources' (`BundleProcessor._resolve_ids`) before the patch applies.
    patch_document: Any = None
    #: A GET entry's conditional read (`request.ifNoneMatch`, `request.ifModifiedSince`: an instant).
    if_none_match: str | None = None
    if_modified_since: str | None = None

    @property
    def path(self) -> str:
        return f"Bundle.entry[{self.index}]"

    @property
    def type_and_rest(self) -> tuple[str, str, str]:
        """(resource type, id or '', query or '') of the entry's request URL."""
        path, _, query = self.url.partition("?")
        parts = [part for part in path.split("/") if part]
        return (parts[0] if parts else ""), ("/".join(parts[1:])), query


class BundleProcessor:
    """`plan_write`: the gateway's own plan writer (`PlanService`), which may assign the ids it derives and write
    the resources of a shared plan (see `FhirService`)."""

    def __init__(self, service: FhirService, access: Access = OPEN, *, plan_write: bool = False) -> None:
        self.service = service
        self.access = access
        self.plan_write = plan_write

    def process(self, base: str, bundle: Any) -> FhirResponse:
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise IssueError.single(
                "structure",
                "POST to the FHIR base takes a Bundle of type transaction or batch",
                expression="Bundle.resourceType",
                message_id="fhir.not-a-bundle",
                status=400,
            )
        kind = bundle.get("type")
        if kind not in ("transaction", "batch"):
            raise IssueError.single(
                "invalid",
                f"Bundle.type must be transaction or batch, not {kind!r}",
                expression="Bundle.type",
                message_id="fhir.bundle-type",
                status=400,
            )
        entries = parse_entries(base, bundle, alone=kind == "batch")
        if kind == "transaction":
            return self._transaction(base, entries)
        return self._batch(base, entries)

    def _transaction(self, base: str, entries: list[Entry]) -> FhirResponse:
        try:
            with self.service.store.writing() as tx:
                return self.transaction_in(tx, base, entries)
        except Denied as denied:
            self.access.record_alone(denied.record)
            raise

    def transaction_in(self, tx: ResourceTransaction, base: str, entries: list[Entry]) -> FhirResponse:
        """Every entry inside the caller's unit of work `tx` (which a failing entry must roll back).

        The DELETEs run first (http.html#trules orders them before the POSTs and PUTs), so a conditional create or
        update resolves against what is left; then every written resource gets its id and the references to it are
        rewritten, and two writes to one resource fail the whole transaction."""
        _refuse_repeated_full_urls(entries)
        results: dict[int, Resource] = {}
        ordered = sorted(entries, key=lambda e: (_ORDER[e.method], e.index))
        for entry in (e for e in ordered if e.method == "DELETE"):
            results[entry.index] = self._located_response(tx, base, entry, {})
        assigned = self._resolve_ids(tx, base, entries)
        _refuse_overlaps(entries, assigned)
        with pending_writes(_written(entries, assigned)):  # references among the entries resolve here
            for entry in (e for e in ordered if e.method != "DELETE"):
                results[entry.index] = self._located_response(tx, base, entry, assigned)
        return FhirResponse(
            200,
            _response_bundle("transaction-response", self.service.ids.new_id(), [results[e.index] for e in entries]),
        )

    def _located_response(self, tx: ResourceTransaction, base: str, entry: Entry, assigned: dict[int, str]) -> Resource:
        try:
            return response_entry(base, self._execute(tx, base, entry, assigned))
        except IssueError as error:
            raise _located(error, entry) from None

    def _batch(self, base: str, entries: list[Entry]) -> FhirResponse:
        results: dict[int, Resource] = {}
        with self.service.store.writing() as tx:
            for entry in sorted(entries, key=lambda e: (_ORDER.get(e.method, 0), e.index)):
                try:
                    if entry.error is not None:
                        raise entry.error  # a batch entry that cannot be read fails alone
                    with tx.savepoint():
                        results[entry.index] = response_entry(base, self._execute(tx, base, entry, {}))
                except IssueError as error:
                    if isinstance(error, Denied):
                        self.access.record(tx, error.record)  # the batch goes on: record it in its transaction
                    located = _located(error, entry)
                    status = located.status or 400
                    results[entry.index] = {
                        "response": {
                            "status": f"{status} {_REASONS.get(status, '')}".strip(),
                            "outcome": operation_outcome(located.issues),
                        }
                    }
        return FhirResponse(
            200,
            _response_bundle("batch-response", self.service.ids.new_id(), [results[e.index] for e in entries]),
        )

    def _resolve_ids(self, tx: ResourceTransaction, base: str, entries: list[Entry]) -> dict[int, str]:
        """The id each POST and conditional PUT entry writes (an existing match for a conditional create or
        update, else a new id; a POST's own id is ignored, as the REST create ignores it), with every reference to
        an entry's fullUrl rewritten to `Type/id` before anything is written (http.html#transaction: "the server
        SHALL update references"). A POST's fullUrl on this server's base also stands for its relative form,
        as a relative reference resolves against the base of its entry's fullUrl (bundle.html#references).

        Returns entry index -> id."""
        service = self.service
        mapping: dict[str, str] = {}
        ids: dict[int, str] = {}
        for entry in entries:
            if entry.resource is None or entry.method not in ("POST", "PUT"):
                continue
            resource_type, resource_id, query = entry.type_and_rest
            try:
                if entry.method == "POST":
                    existing = (
                        service.conditional_match(tx, resource_type, entry.if_none_exist, "ifNoneExist", self.access)
                        if entry.if_none_exist
                        else None
                    )
                    resource_id = ids[entry.index] = existing.id if existing else service.ids.new_id()
                elif query:
                    existing = service.conditional_match(tx, resource_type, query, "conditional update", self.access)
                    body_id = entry.resource.get("id")
                    # A plan write's ids are the ones its mapping derives for what does not exist yet: its Patient
                    # matches the author's own record of the citizen (written to /fhir first, say) under that one's id
                    if existing is not None and body_id not in (None, existing.id) and not self.plan_write:
                        raise id_mismatch(resource_type, str(body_id), existing.id)
                    chosen = existing.id if existing else None
                    if chosen is None:
                        chosen = service.client_id(entry.resource, self.access, plan_write=self.plan_write)
                    resource_id = ids[entry.index] = chosen or service.ids.new_id()
                    entry.resource["id"] = resource_id
            except IssueError as error:
                raise _located(error, entry) from None
            if entry.full_url and resource_id:
                mapping[entry.full_url] = f"{resource_type}/{resource_id}"
                if entry.method == "POST" and entry.full_url.startswith(base + "/"):
                    mapping[entry.full_url.removeprefix(base + "/")] = f"{resource_type}/{resource_id}"
        for entry in entries:
            for reference in iterate_references([entry.resource, entry.patch_document]):
                target = mapping.get(reference["reference"]) or self._conditional_target(
                    tx, entry, reference["reference"]
                )
                if target:
                    reference["reference"] = target
        return ids

    def _conditional_target(self, tx: ResourceTransaction, entry: Entry, reference: str) -> str | None:
        """`Type/id` of a conditional reference (`Patient?identifier=…`), resolved by a search as the caller sees
        it (http.html#trules, "Conditional References": no match or several fail the transaction); None for a
        reference of another form."""
        resource_type, question, criteria = reference.partition("?")
        if not question or "/" in resource_type or ":" in resource_type or resource_type not in SUPPORTED_TYPES:
            return None
        try:
            self.access.require(resource_type, "s")
            what = f"The conditional reference {reference[:200]!r}"
            matches = self.service.criteria_matches(tx, resource_type, criteria, what, self.access.viewer, limit=2)
        except IssueError as error:
            raise _located(error, entry) from None
        if len(matches) != 1:
            raise IssueError.single(
                "not-found" if not matches else "multiple-matches",
                f"{entry.path}: the conditional reference {reference[:200]!r} matches "
                f"{'nothing' if not matches else 'more than one ' + resource_type}",
                expression=entry.path,
                message_id="fhir.conditional-reference",
                status=404 if not matches else 412,
            )
        return f"{resource_type}/{matches[0].id}"

    def _execute(self, tx: ResourceTransaction, base: str, entry: Entry, assigned: dict[int, str]) -> FhirResponse:
        """One entry; `assigned`: the ids `_resolve_ids` gave (a batch has none: each entry resolves its own)."""
        resource_type, rest, query = entry.type_and_rest
        service, access = self.service, self.access
        if entry.method == "POST":
            assert entry.resource is not None
            return service.create_in(
                tx,
                base,
                entry.resource,
                if_none_exist=entry.if_none_exist,
                resource_id=assigned.get(entry.index),
                access=access,
                plan_write=self.plan_write,
            )
        if entry.method == "PUT":
            assert entry.resource is not None
            if query:
                return service.conditional_update_in(
                    tx,
                    base,
                    entry.resource,
                    query,
                    access,
                    plan_write=self.plan_write,
                    assigned_id=assigned.get(entry.index),
                    if_match=entry.if_match,
                )
            return service.update_in(
                tx, base, entry.resource, rest, if_match=entry.if_match, access=access, plan_write=self.plan_write
            )
        if entry.method == "DELETE":
            if query and not rest:
                return service.conditional_delete_in(tx, resource_type, query, access)
            return service.delete_in(tx, resource_type, rest, access, if_match=entry.if_match)
        if entry.method == "PATCH":
            assert entry.patch is not None
            if query:
                return service.conditional_patch_in(tx, base, resource_type, query, entry.patch, access)
            return service.patch_in(tx, base, resource_type, rest, entry.patch, if_match=entry.if_match, access=access)
        return self._get(tx, base, entry)

    def _get(self, tx: ResourceTransaction, base: str, entry: Entry) -> FhirResponse:
        """The GET interactions of the REST API's routes (`gateway.api.fhir`), each on its own path shape: read,
        vread, the three histories and search. A path none of them has is 404, as it is over REST: a longer path
        read as its first id would answer something the client did not ask for."""
        resource_type, rest, query = entry.type_and_rest
        pairs = parse_qsl(query, keep_blank_values=True)
        service, access = self.service, self.access
        if resource_type == "_history" and not rest:
            return service.history_in(tx, base, None, None, pairs, access)
        require_type(resource_type)
        parts = rest.split("/") if rest else []
        match parts:
            case ["_history"]:
                return service.history_in(tx, base, resource_type, None, pairs, access)
            case [resource_id, "_history"]:
                return service.history_in(tx, base, resource_type, resource_id, pairs, access)
            case [resource_id, "_history", version]:
                read = service.vread_in(tx, base, resource_type, resource_id, version_number(version), access)
                return not_modified(read, entry.if_none_match, _http_date(entry.if_modified_since))
            case [resource_id]:
                read = service.read_in(tx, base, resource_type, resource_id, access)
                return not_modified(read, entry.if_none_match, _http_date(entry.if_modified_since))
            case []:
                pass
            case _:
                raise IssueError.single(
                    "not-found",
                    f"GET {entry.url[:200]!r} is not an interaction of this server",
                    message_id="http.404",
                    status=404,
                )
        paging = parse_paging(pairs)
        if paging is None:
            search = service.parse_query(resource_type, pairs)
        else:  # a `next` link this server gave: a page of its stored result, as over REST
            search = service.stored_query(tx, resource_type, *paging, access)
        page = service.search_in(tx, search, access)
        body = bundles.searchset(base, search, page, service.ids.new_id(), service.clock.now())
        return FhirResponse(200, body)


def parse_entries(base: str, bundle: Resource, *, alone: bool = False) -> list[Entry]:
    """The entries of a transaction or batch; `alone` (a batch): an entry whose resource cannot be read carries
    its error instead of failing the whole request (a malformed request line still fails it)."""
    raw_entries = bundle.get("entry") or []
    if not isinstance(raw_entries, list):
        raise IssueError.single("structure", "Bundle.entry must be an array", expression="Bundle.entry", status=400)
    entries: list[Entry] = []
    issues: list[Issue] = []
    for index, raw in enumerate(raw_entries):
        path = f"Bundle.entry[{index}]"
        try:
            entries.append(_parse_entry(base, index, raw, path))
        except IssueError as error:
            if alone and all((i.expression or "").startswith(f"{path}.resource") for i in error.issues):
                entries.append(Entry(index, "", "", None, None, None, None, error=error))  # its resource fails
            else:
                issues.extend(error.issues)
    if issues:
        raise IssueError(tuple(issues), status=400)
    return entries


def _parse_entry(base: str, index: int, raw: Any, path: str) -> Entry:
    request = raw.get("request") if isinstance(raw, dict) else None
    if (
        not isinstance(request, dict)
        or not isinstance(request.get("method"), str)
        or not isinstance(request.get("url"), str)
        or not request["url"]
    ):
        raise IssueError.single(
            "required",
            f"{path}.request needs a method and a url",
            expression=f"{path}.request",
            message_id="fhir.entry-request",
        )
    for where, holder, name in (
        (path, raw, "fullUrl"),
        *((f"{path}.request", request, name) for name in _REQUEST_STRINGS),
    ):
        if name in holder and not isinstance(holder[name], str):
            raise IssueError.single(
                "structure",
                f"{where}.{name} must be a string",
                expression=f"{where}.{name}",
                message_id="fhir.entry-request",
            )
    method = request["method"]
    if method not in _ORDER or method == "HEAD":
        raise IssueError.single(
            "not-supported",
            f"{path}.request.method {method!r} is not supported",
            expression=f"{path}.request.method",
            message_id="fhir.entry-method",
        )
    url = str(request["url"]).removeprefix(base).lstrip("/")
    resource = raw.get("resource")
    if method in ("POST", "PUT"):
        if resource is None:
            raise IssueError.single(
                "required",
                f"{path}: {method} needs a resource",
                expression=f"{path}.resource",
                message_id="fhir.entry-resource",
            )
        resource = check_resource(
            copy.deepcopy(resource),
            expected_type=url.split("/")[0].split("?")[0],
            supported=SUPPORTED_TYPES,
            path=f"{path}.resource",
        )
        if method == "POST":
            resource.pop("id", None)  # FHIR R4 http.html#create: the server ignores a client id
    patch, document = None, None
    if method == "PATCH":
        (patch, document), resource = _patch_of(copy.deepcopy(resource), f"{path}.resource"), None
    return Entry(
        index,
        method,
        url,
        resource,
        raw.get("fullUrl"),
        request.get("ifNoneExist"),
        request.get("ifMatch"),
        patch=patch,
        patch_document=document,
        if_none_match=request.get("ifNoneMatch"),
        if_modified_since=request.get("ifModifiedSince"),
    )


def _patch_of(carrier: Any, path: str) -> tuple[PatchFunction, Any]:
    """A PATCH entry's patch (FHIR R4 http.html#transaction) and its document: a `Parameters` resource is a
    FHIRPath Patch; a `Binary` of `application/json-patch+json` carries a JSON Patch in its base64 `data`."""
    kind = carrier.get("resourceType") if isinstance(carrier, dict) else None
    if kind == "Parameters":
        return (lambda resource: apply_fhirpath_patch(resource, carrier)), carrier
    if kind == "Binary" and str(carrier.get("contentType", "")).split(";")[0].strip() == JSON_PATCH:
        try:
            document = orjson.loads(base64.b64decode(str(carrier.get("data", "")), validate=True))
        except (binascii.Error, ValueError):
            raise IssueError.single(
                "invalid",
                f"{path}.data is not base64 of a JSON Patch document",
                expression=f"{path}.data",
                message_id="fhir.patch.invalid",
            ) from None
        return (lambda resource: apply_json_patch(resource, document)), document
    raise IssueError.single(
        "required",
        f"{path}: a PATCH entry carries a Parameters (FHIRPath Patch) or a Binary of {JSON_PATCH}",
        expression=path,
        message_id="fhir.entry-resource",
    )


def response_entry(base: str, response: FhirResponse) -> Resource:
    reply: Resource = {"status": f"{response.status} {_REASONS.get(response.status, '')}".strip()}
    if "Location" in response.headers:
        reply["location"] = response.headers["Location"]
    if "ETag" in response.headers:
        reply["etag"] = response.headers["ETag"]
    body = response.body
    if body is not None and isinstance(body.get("meta"), dict) and "lastUpdated" in body["meta"]:
        reply["lastModified"] = body["meta"]["lastUpdated"]
    entry: Resource = {}
    if body is not None:
        if body.get("resourceType") != "Bundle" and "id" in body:
            entry["fullUrl"] = f"{base}/{body['resourceType']}/{body['id']}"
        entry["resource"] = body
    entry["response"] = reply
    return entry


def _target(entry: Entry, assigned: dict[int, str]) -> str | None:
    """`Type/id` an entry writes, where that is known before it runs: the id `_resolve_ids` gave a POST or a
    conditional PUT, the URL's id for the rest (None for a conditional DELETE or PATCH, and for a GET)."""
    resource_type, rest, _query = entry.type_and_rest
    resource_id = assigned.get(entry.index) or (rest if "/" not in rest else None)
    if entry.method == "GET" or not resource_id:
        return None
    return f"{resource_type}/{resource_id}"


def _written(entries: list[Entry], assigned: dict[int, str]) -> set[str]:
    """`Type/id` of every resource a transaction writes (what references among the entries may name)."""
    return {target for e in entries if e.resource is not None and (target := _target(e, assigned)) is not None}


def _refuse_overlaps(entries: list[Entry], assigned: dict[int, str]) -> None:
    """http.html#trules: a transaction that writes one resource twice (ids resolved from conditional creates and
    updates included) SHALL fail. A conditional create writes a new id, or matches and writes nothing: it cannot
    overlap another write."""
    repeated = _first_repeat(
        entries, lambda e: None if e.method == "POST" and e.if_none_exist else _target(e, assigned)
    )
    if repeated is not None:
        first, entry, target = repeated
        raise IssueError.single(
            "invalid",
            f"{entry.path} writes {target}, which {first.path} writes too: a transaction writes each "
            "resource once (FHIR R4 http.html#trules)",
            expression=entry.path,
            message_id="fhir.transaction-overlap",
            status=400,
        )


def _refuse_repeated_full_urls(entries: list[Entry]) -> None:
    """A fullUrl names one entry (bdl-7), and references among the entries are resolved by it."""
    repeated = _first_repeat(entries, lambda e: e.full_url)
    if repeated is not None:
        first, entry, full_url = repeated
        raise IssueError.single(
            "invalid",
            f"{entry.path}.fullUrl {full_url[:200]!r} is also {first.path}'s: a fullUrl names one entry",
            expression=f"{entry.path}.fullUrl",
            message_id="fhir.transaction-full-url",
            status=400,
        )


def _first_repeat(entries: list[Entry], key: Callable[[Entry], str | None]) -> tuple[Entry, Entry, str] | None:
    """(the first entry, the later one, their key) of the first key two entries share; None keys count for none."""
    seen: dict[str, Entry] = {}
    for entry in entries:
        value = key(entry)
        if value is not None and (first := seen.setdefault(value, entry)) is not entry:
            return first, entry, value
    return None


def _http_date(instant: str | None) -> str | None:
    """`Bundle.entry.request.ifModifiedSince` (a FHIR instant) as the HTTP date `not_modified` compares; one that
    does not parse is ignored, as an HTTP server ignores an invalid If-Modified-Since (RFC 9110 §13.1.3)."""
    try:
        return None if instant is None else http_date(instant)
    except ValueError:
        return None


def _response_bundle(kind: str, bundle_id: str, entries: list[Resource]) -> Resource:
    return {"resourceType": "Bundle", "id": bundle_id, "type": kind, "entry": entries}


def _located(error: IssueError, entry: Entry) -> IssueError:
    located = _located_issues(error, entry)
    if isinstance(error, Denied):
        denied = Denied(located.issues, status=located.status, headers=located.headers)
        denied.record = error.record
        return denied
    return located


def _located_issues(error: IssueError, entry: Entry) -> IssueError:
    issues = tuple(
        Issue(
            i.severity,
            i.code,
            f"{entry.path}: {i.diagnostics}" if not i.diagnostics.startswith("Bundle.") else i.diagnostics,
            _prefix(entry, i.expression),
            i.message_id,
        )
        for i in error.issues
    )
    return IssueError(issues, status=error.status, headers=error.headers)


def _prefix(entry: Entry, expression: str | None) -> str:
    if expression is None:
        return entry.path
    if expression.startswith("Bundle."):
        return expression
    resource_type = entry.type_and_rest[0]
    if resource_type and expression.startswith(resource_type):
        return f"{entry.path}.resource{expression[len(resource_type) :]}"
    return f"{entry.path}.{expression}" if not expression.startswith("If-") else entry.path
