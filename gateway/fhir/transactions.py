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
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson

from gateway.fhir import bundles
from gateway.fhir.access import OPEN, Access, Denied
from gateway.fhir.interactions import FhirResponse, FhirService, PatchFunction, require_type, version_number
from gateway.fhir.parsing import check_resource
from gateway.fhir.patch import JSON_PATCH, apply_fhirpath_patch, apply_json_patch
from gateway.fhir.write_validation import pending_writes
from gateway.store.ports import ResourceTransaction, iterate_references
from gateway.store.search_params import SUPPORTED_TYPES
from mappings.issues import Issue, IssueError, operation_outcome

Resource = dict[str, Any]
_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
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
        """Every entry inside the caller's unit of work `tx` (which a failing entry must roll back)."""
        results: dict[int, Resource] = {}
        assigned = self._resolve_ids(tx, entries)
        with pending_writes(_written(entries, assigned)):  # references among the entries resolve here
            for entry in sorted(entries, key=lambda e: (_ORDER[e.method], e.index)):
                try:
                    results[entry.index] = response_entry(base, self._execute(tx, base, entry, assigned))
                except IssueError as error:
                    raise _located(error, entry) from None
        return FhirResponse(
            200,
            _response_bundle("transaction-response", self.service.ids.new_id(), [results[e.index] for e in entries]),
        )

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

    def _resolve_ids(self, tx: ResourceTransaction, entries: list[Entry]) -> dict[str, str]:
        """Assign ids to urn:uuid fullUrls and rewrite references to them (before any write).

        Returns fullUrl -> assigned id."""
        mapping: dict[str, str] = {}
        for entry in entries:
            if not entry.full_url or not entry.full_url.startswith("urn:uuid:") or entry.resource is None:
                continue
            resource_type, resource_id, query = entry.type_and_rest
            try:
                if entry.method == "POST":
                    existing = (
                        self.service.conditional_match(
                            tx, resource_type, entry.if_none_exist, "ifNoneExist", self.access
                        )
                        if entry.if_none_exist
                        else None
                    )
                    resource_id = existing.id if existing else self.service.ids.new_id()
                elif entry.method == "PUT" and query:
                    existing = self.service.conditional_match(
                        tx, resource_type, query, "conditional update", self.access
                    )
                    chosen = existing.id if existing else None
                    if chosen is None:
                        chosen = self.service.client_id(entry.resource, self.access, plan_write=self.plan_write)
                    resource_id = chosen or self.service.ids.new_id()
                    entry.resource["id"] = resource_id
            except IssueError as error:
                raise _located(error, entry) from None
            if resource_id:
                mapping[entry.full_url] = f"{resource_type}/{resource_id}"
        for entry in entries:
            if entry.resource is not None:
                for reference in iterate_references(entry.resource):
                    target = mapping.get(reference["reference"])
                    if target:
                        reference["reference"] = target
        return {full_url: target.split("/", 1)[1] for full_url, target in mapping.items()}

    def _execute(self, tx: ResourceTransaction, base: str, entry: Entry, assigned: dict[str, str]) -> FhirResponse:
        resource_type, rest, query = entry.type_and_rest
        service, access = self.service, self.access
        if entry.method == "POST":
            assert entry.resource is not None
            return service.create_in(
                tx,
                base,
                entry.resource,
                if_none_exist=entry.if_none_exist,
                resource_id=assigned.get(entry.full_url or ""),
                access=access,
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
                    assigned_id=assigned.get(entry.full_url or ""),
                )
            return service.update_in(
                tx, base, entry.resource, rest, if_match=entry.if_match, access=access, plan_write=self.plan_write
            )
        if entry.method == "DELETE":
            return service.delete_in(tx, resource_type, rest, access)
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
                return service.vread_in(tx, base, resource_type, resource_id, version_number(version), access)
            case [resource_id]:
                return service.read_in(tx, base, resource_type, resource_id, access)
            case []:
                pass
            case _:
                raise IssueError.single(
                    "not-found",
                    f"GET {entry.url[:200]!r} is not an interaction of this server",
                    message_id="http.404",
                    status=404,
                )
        search = service.parse_query(resource_type, pairs)
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
    if not isinstance(request, dict) or not isinstance(request.get("method"), str) or not request.get("url"):
        raise IssueError.single(
            "required",
            f"{path}.request needs a method and a url",
            expression=f"{path}.request",
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
    patch = None
    if method == "PATCH":
        patch, resource = _patch_of(resource, f"{path}.resource"), None
    return Entry(
        index,
        method,
        url,
        resource,
        raw.get("fullUrl"),
        request.get("ifNoneExist"),
        request.get("ifMatch"),
        patch=patch,
    )


def _patch_of(carrier: Any, path: str) -> PatchFunction:
    """A PATCH entry's patch (FHIR R4 http.html#transaction): a `Parameters` resource is a FHIRPath Patch; a
    `Binary` of `application/json-patch+json` carries a JSON Patch in its base64 `data`."""
    kind = carrier.get("resourceType") if isinstance(carrier, dict) else None
    if kind == "Parameters":
        return lambda resource: apply_fhirpath_patch(resource, carrier)
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
        return lambda resource: apply_json_patch(resource, document)
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


def _written(entries: list[Entry], assigned: dict[str, str]) -> set[str]:
    """`Type/id` of every resource a transaction writes."""
    return {
        f"{e.type_and_rest[0]}/{e.resource.get('id') or assigned.get(e.full_url or '') or e.type_and_rest[1]}"
        for e in entries
        if e.resource is not None
    }


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
