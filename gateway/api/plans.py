"""`/plans`: the shared citizen plan as a plan document (JSON), stored as FHIR."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from gateway.api.deps import fhir_base, from_state
from gateway.api.security import RequestAccess
from gateway.fhir.parsing import parse_json
from gateway.fhir.rules import require_id
from gateway.services.delivery import MessageService
from gateway.services.plans import PlanReceipt, PlanService
from mappings.documents.plan import plan_document_json_schema

router = APIRouter(prefix="/plans", tags=["Shared citizen plans"])
Base = Annotated[str, Depends(fhir_base)]
PLAN_BODY: Any = Body(
    ...,
    description="A plan document (see `GET /plans/schema` and the README)",
    json_schema_extra=plan_document_json_schema(),
)
ERRORS: dict[int | str, dict[str, str]] = {
    400: {"description": "OperationOutcome: malformed document; every offending field named by JSON pointer"},
    403: {"description": "OperationOutcome: the source system is not your organisation's (`plan.source-not-yours`)"},
    409: {
        "description": "OperationOutcome: the document's consent says something else than the stored one and is "
        "not a newer decision (`plan.consent-outdated`): send the consent as GET /plans/{id} reads it, or a newer "
        "decision"
    },
    422: {"description": "OperationOutcome: business rules (e.g. unknown team member as coordinator)"},
}


Service = Annotated[PlanService, Depends(from_state("plans", PlanService))]
Messages = Annotated[MessageService, Depends(from_state("messages", MessageService))]


async def _after_write(messages: MessageService, receipt: PlanReceipt) -> None:
    """A withdrawal or expiry also stops the plan content still queued for organisations no longer granted."""
    await messages.withdrawals.stop_queued_plan_content(receipt.plan_id)


@router.get("/schema", summary="JSON Schema of the plan document")
async def schema() -> dict[str, Any]:
    return plan_document_json_schema()


@router.post(
    "",
    status_code=201,
    summary="Store a plan document (one FHIR transaction)",
    responses=ERRORS,
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": plan_document_json_schema()}}}},
)
async def create_plan(
    request: Request, service: Service, messages: Messages, base: Base, access: RequestAccess
) -> Response:
    data = parse_json(await request.body())
    receipt = await run_in_threadpool(partial(service.accept, base, data, access=access))
    await _after_write(messages, receipt)
    return JSONResponse(
        receipt.to_json(),
        status_code=201 if receipt.created else 200,
        headers={"Location": f"{request.base_url}plans/{receipt.plan_id}"},
    )


@router.put("/{plan_id}", summary="New version of a plan after a coordination meeting", responses=ERRORS)
async def update_plan(
    plan_id: str, request: Request, service: Service, messages: Messages, base: Base, access: RequestAccess
) -> Response:
    require_id(plan_id, "planId")
    data = parse_json(await request.body())
    receipt = await run_in_threadpool(partial(service.accept, base, data, expected_plan_id=plan_id, access=access))
    await _after_write(messages, receipt)
    return JSONResponse(receipt.to_json(), status_code=201 if receipt.created else 200)


@router.get("/{plan_id}", summary="The plan document rebuilt from the stored FHIR resources")
async def read_plan(
    plan_id: str,
    service: Service,
    access: RequestAccess,
    version: Annotated[int | None, Query(ge=1, le=1_000_000_000)] = None,
) -> Response:
    require_id(plan_id, "planId")
    document = await run_in_threadpool(service.read, plan_id, version, access)
    return Response(document.model_dump_json(exclude_none=True), media_type="application/json")
