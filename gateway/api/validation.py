"""`POST /fhir/$validate` and `POST /fhir/{type}/$validate` (FHIR R4 operation `$validate`).

Validation costs CPU, so it is not for any registered client: validating a resource of type T needs a scope that
lets the caller create or update T (`system/T.c` or `system/T.u`; `$validate`'s modes are create and update, FHIR R4
resource-operation-validate), and a message Bundle needs `system/Messages.c`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from gateway.api.render import fhir_json
from gateway.api.security import RequestAccess
from gateway.fhir.access import Access, Denied
from gateway.fhir.parsing import parse_json
from gateway.security.scopes import MESSAGES
from gateway.services.validation import unwrap_parameters, validate_resource

router = APIRouter(prefix="/fhir", tags=["FHIR R4"])
RESPONSES: dict[int | str, dict[str, str]] = {
    200: {"description": "OperationOutcome: one issue per problem (FHIRPath location, profile, constraint key)"},
    400: {"description": "OperationOutcome: the body is not a resource or Parameters"},
    403: {"description": "OperationOutcome: no create or update scope for the resource's type"},
}


def _require_write_scope(access: Access, data: Any, resource_type: str | None) -> None:
    resource, _profile = unwrap_parameters(data, None)
    kind = resource_type or str(resource.get("resourceType"))
    wanted = [(MESSAGES, "c"), ("*", "c")] if kind == "Bundle" else [(kind, "c"), (kind, "u")]
    refused: Denied | None = None
    for scope_type, interaction in wanted:
        try:
            access.require(scope_type, interaction)  # type: ignore[arg-type]
            return
        except Denied as denied:
            refused = refused or denied
    assert refused is not None
    access.record_alone(refused.record)
    raise refused


async def _validate(request: Request, access: Access, resource_type: str | None, profile: str | None) -> Response:
    data = parse_json(await request.body())
    _require_write_scope(access, data, resource_type)
    result = await run_in_threadpool(validate_resource, data, resource_type=resource_type, profile=profile)
    return fhir_json(result.operation_outcome())


@router.post("/$validate", summary="Validate a resource against its meta.profile or `profile`", responses=RESPONSES)
async def validate_any(request: Request, access: RequestAccess, profile: str | None = None) -> Response:
    return await _validate(request, access, None, profile)


@router.post("/{resource_type}/$validate", summary="Validate a resource of this type", responses=RESPONSES)
async def validate_type(
    resource_type: str, request: Request, access: RequestAccess, profile: str | None = None
) -> Response:
    return await _validate(request, access, resource_type, profile)
