"""`/messages`: where every message is (inbound, notices, attempts, acknowledgements); replay, retry, skip, correct.

A caller sees and acts on what its organisation posted (`MessageService`; held letters likewise).

Each route's AuditEvent is written in the database transaction of what it reads or changes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, Field

from gateway.api.deps import from_state
from gateway.api.security import RequestAccess, require
from gateway.delivery.outbox import NoticeState
from gateway.fhir.access import AuditRecord
from gateway.security.scopes import MESSAGES
from gateway.services.attachments import Assembly
from gateway.services.delivery import MessageService, notice_summary

router = APIRouter(prefix="/messages", tags=["Messages and delivery"])


Service = Annotated[MessageService, Depends(from_state("messages", MessageService))]
Holding = Annotated[Assembly, Depends(from_state("assembly", Assembly))]


class SkipRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="Why the notice is given up (audited)")


@router.get(
    "",
    summary="Notices in the outbox, oldest first (a pending one held behind a dead notice names it); without "
    "`state`, also the letters held for their XBIN01 binaries (state `held`, or `refused` with the reason once "
    "their time ran out)",
)
async def list_notices(
    service: Service,
    holding: Holding,
    access: RequestAccess,
    state: NoticeState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> list[dict[str, Any]]:
    require(access, MESSAGES, "r")
    listed = [
        notice_summary(record)
        for record in await service.list_notices(state, limit=limit, offset=offset, access=access)
    ]
    if state is None and offset == 0:
        now = service.clock.now()
        held_ones = await holding.holding.listing(limit, poster=access.author)
        listed += [held.to_json(now, holding.expired_reason(held)) for held in held_ones]
    return listed


@router.post("/retry-dead", summary="Dead-lettered notices (all, or those named) back to pending")
async def retry_dead(
    service: Service, access: RequestAccess, notice: Annotated[list[str] | None, Query()] = None
) -> list[dict[str, Any]]:
    require(access, MESSAGES, "u")
    return [notice_summary(record) for record in await service.retry_dead(notice, access=access)]


@router.post(
    "/notices/{notice_id}/skip",
    summary="Give up a dead notice for good; the notices held behind it go on",
    responses={409: {"description": "OperationOutcome: the notice is not dead"}},
)
async def skip(
    notice_id: str, request: Annotated[SkipRequest, Body()], service: Service, access: RequestAccess
) -> dict[str, Any]:
    require(access, MESSAGES, "u")
    return notice_summary(await service.skip(notice_id, request.reason, access=access))


@router.post(
    "/notices/{notice_id}/correct",
    summary="Send a dead (refused) notice as a new message in its place: new MessageHeader.id, Provenance revision",
    responses={
        409: {"description": "OperationOutcome: the notice is not dead"},
        422: {"description": "OperationOutcome: the corrected message breaks its profile"},
    },
)
async def correct(
    notice_id: str,
    service: Service,
    access: RequestAccess,
    corrected: Annotated[
        dict[str, Any] | None, Body(description="The corrected message Bundle (default: as refused)")
    ] = None,
) -> dict[str, Any]:
    require(access, MESSAGES, "u")
    return notice_summary(await service.correct(notice_id, corrected, access=access))


@router.get(
    "/{message_id}",
    summary="An inbound message, its notices, every delivery attempt and acknowledgement (or, for a letter still held "
    "for its XBIN01 binaries, what it waits for)",
)
async def show(message_id: str, service: Service, holding: Holding, access: RequestAccess) -> dict[str, Any]:
    require(access, MESSAGES, "r")
    held = await holding.holding.get(message_id, poster=access.author)
    if held is not None and held.state != "completed":
        access.record_alone(AuditRecord("R", "read", detail=f"held inbound message {message_id}"))
        return {"held": held.to_json(service.clock.now(), holding.expired_reason(held)), "notices": []}
    return await service.show(message_id, access=access)


@router.post("/{message_id}/replay", summary="Send the message's notices again (same MessageHeader.id, new Bundle.id)")
async def replay(message_id: str, service: Service, access: RequestAccess) -> list[dict[str, Any]]:
    require(access, MESSAGES, "u")
    return [notice_summary(record) for record in await service.replay_inbound(message_id, access=access)]
