"""Message intake: `POST /messages` (any input by content type) and `POST /fhir/$process-message` (FHIR)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import JSONResponse, Response

from gateway.api.deps import from_state
from gateway.api.security import RequestAccess, require
from gateway.errors import http_status
from gateway.fhir.access import Access
from gateway.inbound import build_hl7_ack
from gateway.security.scopes import MESSAGES
from gateway.services.intake import IntakeService, input_kind
from gateway.services.results import IntakeResult
from mappings.issues import IssueError

router = APIRouter(tags=["Messages and delivery"])
HL7_MEDIA = "x-application/hl7-v2+er7"
INTAKE_RESPONSES: dict[int | str, dict[str, str]] = {
    202: {"description": "Accepted: the message id and the notices made (or, for HL7 v2, an HL7 ACK with AA)"},
    400: {"description": "OperationOutcome (or HL7 ACK AR): the input cannot be parsed"},
    413: {"description": "OperationOutcome: body over the size limit"},
    415: {"description": "OperationOutcome: unsupported content type"},
    422: {"description": "OperationOutcome (or HL7 ACK AE): unknown recipient, notice would be invalid, ..."},
}


Service = Annotated[IntakeService, Depends(from_state("intake", IntakeService))]
FirstOfStay = Annotated[
    bool,
    Query(
        alias="first-of-stay",
        description="The stay began before this gateway reported it: a discharge, leave or death with no earlier "
        "notice is sent as the stay's first notice (a correction as the notice it corrects; a cancellation has "
        "nothing to cancel). See the README, 'A stay this gateway did not see begin'.",
    ),
]


def _accepted(request: Request, result: IntakeResult) -> JSONResponse:
    """202 with the result; `Location` names the stored message (an acknowledgement is not one: it has none)."""
    location = {"Location": f"{request.base_url}messages/{result.message_id}"} if result.stored else {}
    return JSONResponse(result.to_json(), status_code=202, headers=location)


async def _counted(
    request: Request,
    service: IntakeService,
    body: bytes,
    content_type: str,
    access: Access,
    *,
    first_of_stay: bool = False,
) -> IntakeResult:
    """`service.accept`, counted in `gateway_intake_total` by input kind and outcome."""
    counter = request.app.state.metrics.intake
    kind = "unknown"
    try:
        kind = input_kind(content_type, body)
        result = await service.accept(body, content_type, access, first_of_stay=first_of_stay)
    except IssueError:
        counter.labels(kind, "refused").inc()
        raise
    counter.labels(kind, "accepted" if result.created else "repeat").inc()
    return result


@router.post(
    "/messages", status_code=202, summary="Accept an outgoing message; make its notices", responses=INTAKE_RESPONSES
)
async def accept_message(
    request: Request, service: Service, access: RequestAccess, first_of_stay: FirstOfStay = False
) -> Response:
    require(access, MESSAGES, "c")
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    wants_v2_ack = input_kind(content_type, body) == "hl7v2" and "json" not in request.headers.get("accept", "")
    try:
        result = await _counted(request, service, body, content_type, access, first_of_stay=first_of_stay)
    except IssueError as error:
        if not wants_v2_ack:
            raise
        status = http_status(error)
        code: Literal["AE", "AR"] = "AR" if status < 422 else "AE"
        ack = build_hl7_ack(body, code, "; ".join(i.diagnostics for i in error.issues)[:200], now=service.clock.now())
        return Response(ack, status_code=status, media_type=HL7_MEDIA)
    if wants_v2_ack:
        assert result.adt is not None
        said = f"accepted as {result.message_id}"
        if result.withheld:  # what consent kept back is in GET /messages/{id}; the ACK text has 80 characters
            said += f"; {len(result.withheld)} withheld"
        ack = build_hl7_ack(result.adt, "AA", said, now=service.clock.now())
        return Response(
            ack,
            status_code=202,
            media_type=HL7_MEDIA,
            headers={"Location": f"{request.base_url}messages/{result.message_id}"},
        )
    return _accepted(request, result)


@router.post(
    "/fhir/$process-message",
    status_code=202,
    summary="Accept a MedCom FHIR message (a CareCommunication, or an Acknowledgement of a notice sent)",
    responses=INTAKE_RESPONSES,
)
async def process_message(request: Request, service: Service, access: RequestAccess) -> Response:
    require(access, MESSAGES, "c")
    body = await request.body()
    content_type = request.headers.get("content-type", "") or "application/fhir+json"
    if input_kind(content_type, body) != "fhir":
        raise IssueError.single(
            "not-supported",
            "$process-message takes application/fhir+json or +xml",
            message_id="intake.unsupported-media-type",
            status=415,
        )
    return _accepted(request, await _counted(request, service, body, content_type, access))
