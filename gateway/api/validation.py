"""`POST /fhir/$validate` and `POST /fhir/{type}/$validate` (FHIR R4 operation `$validate`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from gateway.api.render import fhir_json
from gateway.api.security import RequestAccess
from gateway.fhir.parsing import parse_json
from gateway.services.validation import validate_resource

router = APIRouter(prefix="/fhir", tags=["FHIR R4"])
RESPONSES: dict[int | str, dict[str, str]] = {
    200: {"description": "OperationOutcome: one issue per problem (FHIRPath location, profile, constraint key)"},
    400: {"description": "OperationOutcome: the body is not a resource or Parameters"},
}


async def _validate(request: Request, resource_type: str | None, profile: str | None) -> Response:
    data = parse_json(await request.body())
    result = await run_in_threadpool(validate_resource, data, resource_type=resource_type, profile=profile)
    return fhir_json(result.operation_outcome())


@router.post("/$validate", summary="Validate a resource against its meta.profile or `profile`", responses=RESPONSES)
async def validate_any(request: Request, _access: RequestAccess, profile: str | None = None) -> Response:
    return await _validate(request, None, profile)


@router.post("/{resource_type}/$validate", summary="Validate a resource of this type", responses=RESPONSES)
async def validate_type(
    resource_type: str, request: Request, _access: RequestAccess, profile: str | None = None
) -> Response:
    return await _validate(request, resource_type, profile)
