"""FHIR R4 REST routes under `/fhir`. Thin: parse the request, call `FhirService`, render the response."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Header, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from gateway import __version__
from gateway.api.deps import fhir_base, from_state
from gateway.api.render import fhir_json, render
from gateway.api.security import RequestAccess
from gateway.config import Settings
from gateway.fhir.capability import RestSecurity, ServedOperation, capability_statement
from gateway.fhir.interactions import FhirService, PatchFunction, not_modified, require_type
from gateway.fhir.parsing import parse_json, parse_resource
from gateway.fhir.patch import (
    JSON_PATCH,
    MERGE_PATCH,
    apply_fhirpath_patch,
    apply_json_patch,
    apply_merge_patch,
)
from gateway.fhir.transactions import BundleProcessor
from gateway.store.dates import fhir_instant
from gateway.store.search_params import SUPPORTED_TYPES
from gateway.store.search_query import lenient_handling
from mappings.issues import IssueError

router = APIRouter(prefix="/fhir", tags=["FHIR R4"])

Service = Annotated[FhirService, Depends(from_state("fhir", FhirService))]
Base = Annotated[str, Depends(fhir_base)]
Prefer = Annotated[str | None, Header()]
IfNoneMatch = Annotated[str | None, Header()]
IfModifiedSince = Annotated[str | None, Header()]
FHIR_RESPONSES: dict[int | str, dict[str, str]] = {
    400: {"description": "OperationOutcome: invalid content, with the element path"},
    404: {"description": "OperationOutcome: unknown resource type or id"},
    413: {"description": "OperationOutcome: body over the size limit"},
}


async def _body(request: Request) -> bytes:
    """The body as FHIR JSON: `gateway.api.formats` has read an XML body into JSON and refused other types (415)."""
    return await request.body()


def _pairs(request: Request) -> list[tuple[str, str]]:
    return list(request.query_params.multi_items())


@router.get("/metadata", summary="CapabilityStatement")
async def metadata(request: Request, service: Service, base: Base) -> Response:
    settings: Settings = request.app.state.settings
    statement = capability_statement(
        base,
        __version__,
        fhir_instant(service.clock.now()),
        multiple_delete=service.multiple_delete,
        operations=served_operations(request.app.openapi()["paths"]),
        security=RestSecurity(not settings.insecure_no_auth, settings.token_endpoint, settings.authorize_endpoint),
    )
    return fhir_json(statement)


def served_operations(paths: Iterable[str]) -> list[ServedOperation]:
    """The `$name` routes of this app, read from its OpenAPI paths (FastAPI's public view of its routing table,
    built once and cached), so the statement lists what is served."""
    found = []
    for path in paths:
        if path.startswith("/fhir/") and "$" in path:
            level = "type" if path.startswith("/fhir/{resource_type}/") else "system"
            found.append(ServedOperation(path.rsplit("$", 1)[1], level))
    return found


@router.post("", summary="Process a transaction or batch Bundle", responses=FHIR_RESPONSES)
async def transaction(request: Request, service: Service, base: Base, access: RequestAccess) -> Response:
    bundle = parse_json(await _body(request))
    return render(await run_in_threadpool(BundleProcessor(service, access).process, base, bundle))


@router.get("/_history", summary="History of all resources")
async def system_history(request: Request, service: Service, base: Base, access: RequestAccess) -> Response:
    return render(await run_in_threadpool(service.history, base, None, None, _pairs(request), access))


async def _search(
    service: FhirService,
    base: str,
    resource_type: str,
    pairs: list[tuple[str, str]],
    access: RequestAccess,
    prefer: str | None,
) -> Response:
    lenient = lenient_handling(prefer)
    return render(await run_in_threadpool(lambda: service.search(base, resource_type, pairs, access, lenient=lenient)))


@router.get("/{resource_type}", summary="Search", responses=FHIR_RESPONSES)
async def search(
    resource_type: str, request: Request, service: Service, base: Base, access: RequestAccess, prefer: Prefer = None
) -> Response:
    return await _search(service, base, resource_type, _pairs(request), access, prefer)


@router.post("/{resource_type}/_search", summary="Search with form-encoded parameters")
async def search_post(
    resource_type: str, request: Request, service: Service, base: Base, access: RequestAccess, prefer: Prefer = None
) -> Response:
    # FHIR R4 search.html#search-post: the body is application/x-www-form-urlencoded.
    form = parse_qsl((await request.body()).decode("utf-8", errors="replace"), keep_blank_values=True)
    return await _search(service, base, resource_type, _pairs(request) + form, access, prefer)


@router.post("/{resource_type}", summary="Create (conditional with If-None-Exist)", responses=FHIR_RESPONSES)
async def create(
    resource_type: str,
    request: Request,
    service: Service,
    base: Base,
    access: RequestAccess,
    if_none_exist: Annotated[str | None, Header()] = None,
    prefer: Prefer = None,
) -> Response:
    require_type(resource_type)
    if_none_exist = _creation_criteria(request, if_none_exist)
    resource = parse_resource(await _body(request), expected_type=resource_type, supported=SUPPORTED_TYPES)
    resource.pop("id", None)  # FHIR R4 http.html#create: the server ignores a client id
    response = await run_in_threadpool(service.create, base, resource, if_none_exist=if_none_exist, access=access)
    return render(response, prefer)


#: Query parameters of any interaction (R4 http.html#parameters): not search criteria on a create.
_FORMAT_PARAMS = ("_format", "_pretty", "_summary", "_elements")


def _creation_criteria(request: Request, header: str | None) -> str | None:
    """The conditional create's criteria: the `If-None-Exist` header (R4 http.html#ccreate), or search parameters on
    the POST's query string, which is where fhirpy's `conditional create` puts them. A create never ignores its query
    string: criteria there are treated as `If-None-Exist`; criteria in both places must be the same."""
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k not in _FORMAT_PARAMS]
    if not pairs:
        return header
    if header is not None and sorted(parse_qsl(header.lstrip("?"), keep_blank_values=True)) != sorted(pairs):
        raise IssueError.single(
            "invalid",
            "A create with search criteria both in If-None-Exist and on the query string needs them to be the same",
            expression="If-None-Exist",
            message_id="fhir.conflicting-criteria",
            status=400,
        )
    return header or urlencode(pairs)


@router.put("/{resource_type}", summary="Conditional update (search criteria in the query)")
async def conditional_update(
    resource_type: str,
    request: Request,
    service: Service,
    base: Base,
    access: RequestAccess,
    if_match: Annotated[str | None, Header()] = None,
    prefer: Prefer = None,
) -> Response:
    require_type(resource_type)
    resource = parse_resource(await _body(request), expected_type=resource_type, supported=SUPPORTED_TYPES)
    criteria = request.url.query
    if not criteria:
        raise IssueError.single("invalid", "A PUT to a type needs search criteria, or use PUT [type]/[id]", status=400)
    response = await run_in_threadpool(
        lambda: service.conditional_update(base, resource, criteria, access, if_match=if_match)
    )
    return render(response, prefer)


@router.delete("/{resource_type}", summary="Conditional delete (search criteria in the query)")
async def conditional_delete(resource_type: str, request: Request, service: Service, access: RequestAccess) -> Response:
    criteria = request.url.query
    return render(await run_in_threadpool(service.conditional_delete, resource_type, criteria, access))


@router.get("/{resource_type}/_history", summary="History of a resource type")
async def type_history(
    resource_type: str, request: Request, service: Service, base: Base, access: RequestAccess
) -> Response:
    return render(await run_in_threadpool(service.history, base, resource_type, None, _pairs(request), access))


@router.get(
    "/{resource_type}/{resource_id}", summary="Read (If-None-Match, If-Modified-Since: 304)", responses=FHIR_RESPONSES
)
async def read(
    resource_type: str,
    resource_id: str,
    service: Service,
    base: Base,
    access: RequestAccess,
    if_none_match: IfNoneMatch = None,
    if_modified_since: IfModifiedSince = None,
) -> Response:
    response = await run_in_threadpool(service.read, base, resource_type, resource_id, access)
    return render(not_modified(response, if_none_match, if_modified_since))


@router.put("/{resource_type}/{resource_id}", summary="Update (If-Match for version-aware updates)")
async def update(
    resource_type: str,
    resource_id: str,
    request: Request,
    service: Service,
    base: Base,
    access: RequestAccess,
    if_match: Annotated[str | None, Header()] = None,
    prefer: Prefer = None,
) -> Response:
    require_type(resource_type)
    resource = parse_resource(await _body(request), expected_type=resource_type, supported=SUPPORTED_TYPES)
    response = await run_in_threadpool(service.update, base, resource, resource_id, if_match=if_match, access=access)
    return render(response, prefer)


@router.delete("/{resource_type}/{resource_id}", summary="Delete (soft; kept in history)")
async def delete(
    resource_type: str,
    resource_id: str,
    service: Service,
    access: RequestAccess,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    return render(await run_in_threadpool(service.delete, resource_type, resource_id, access, if_match=if_match))


@router.patch("/{resource_type}", summary="Conditional patch (search criteria in the query)")
async def conditional_patch(
    resource_type: str, request: Request, service: Service, base: Base, access: RequestAccess, prefer: Prefer = None
) -> Response:
    apply = await _patch_document(request)
    criteria = request.url.query
    if not criteria:
        raise IssueError.single("invalid", "A PATCH to a type needs search criteria, or use PATCH [type]/[id]")
    response = await run_in_threadpool(service.conditional_patch, base, resource_type, criteria, apply, access)
    return render(response, prefer)


@router.patch("/{resource_type}/{resource_id}", summary="Patch: JSON Patch or FHIRPath Patch (If-Match honoured)")
async def patch(
    resource_type: str,
    resource_id: str,
    request: Request,
    service: Service,
    base: Base,
    access: RequestAccess,
    if_match: Annotated[str | None, Header()] = None,
    prefer: Prefer = None,
) -> Response:
    apply = await _patch_document(request)
    response = await run_in_threadpool(
        service.patch, base, resource_type, resource_id, apply, if_match=if_match, access=access
    )
    return render(response, prefer)


async def _patch_document(request: Request) -> PatchFunction:
    """FHIR R4 http.html#patch: `application/json-patch+json` is a JSON Patch (RFC 6902); a `Parameters` resource
    is a FHIRPath Patch (fhirpatch.html); `application/merge-patch+json`, or any other JSON object (what fhirpy's
    `patch()` sends: the changed elements, no resourceType), is a JSON Merge Patch (RFC 7386)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    document = parse_json(await _body(request))
    if content_type == JSON_PATCH:
        return lambda resource: apply_json_patch(resource, document)
    if isinstance(document, dict) and document.get("resourceType") == "Parameters" and content_type != MERGE_PATCH:
        return lambda resource: apply_fhirpath_patch(resource, document)
    return lambda resource: apply_merge_patch(resource, document)


@router.get("/{resource_type}/{resource_id}/_history", summary="History of a resource")
async def instance_history(
    resource_type: str, resource_id: str, request: Request, service: Service, base: Base, access: RequestAccess
) -> Response:
    response = await run_in_threadpool(service.history, base, resource_type, resource_id, _pairs(request), access)
    return render(response)


@router.get("/{resource_type}/{resource_id}/_history/{version_id}", summary="Read a version (vread)")
async def vread(
    resource_type: str,
    resource_id: str,
    version_id: str,
    service: Service,
    base: Base,
    access: RequestAccess,
    if_none_match: IfNoneMatch = None,
    if_modified_since: IfModifiedSince = None,
) -> Response:
    response = await run_in_threadpool(service.vread, base, resource_type, resource_id, version_id, access)
    return render(not_modified(response, if_none_match, if_modified_since))
