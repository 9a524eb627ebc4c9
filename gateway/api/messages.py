"""`/messages`: where every message is (inbound, notices, attempts, acknowledgements), replay and retry."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

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


@router.get(
    "",
    summary="Notices in the outbox, oldest first; without `state`, also the letters held for their XBIN01 binaries "
    "(state `held`, or `refused` with the reason once their time ran out)",
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
    listed = [notice_summary(record) for record in await service.list_notices(state, limit=limit, offset=offset)]
    if state is None and offset == 0:
        now = service.clock.now()
        listed += [held.to_json(now, holding.expired_reason(held)) for held in await holding.holding.listing(limit)]
    access.record_alone(AuditRecord("E", "search-type", detail=f"list of {len(listed)} notices (state {state})"))
    return listed


@router.post("/retry-dead", summary="Dead-lettered notices (all, or those named) back to pending")
async def retry_dead(
    service: Service, access: RequestAccess, notice: Annotated[list[str] | None, Query()] = None
) -> list[dict[str, Any]]:
    require(access, MESSAGES, "u")
    revived = [notice_summary(record) for record in await service.retry_dead(notice)]
    access.record_alone(AuditRecord("U", "update", detail=f"retry-dead: {[n['id'] for n in revived]}"))
    return revived


@router.get(
    "/{message_id}",
    summary="An inbound message, its notices, every delivery attempt and acknowledgement (or, for a letter still held "
    "for its XBIN01 binaries, what it waits for)",
)
async def show(message_id: str, service: Service, holding: Holding, access: RequestAccess) -> dict[str, Any]:
    require(access, MESSAGES, "r")
    held = await holding.holding.get(message_id)
    if held is not None and held.state != "completed":
        access.record_alone(AuditRecord("R", "read", detail=f"held inbound message {message_id}"))
        return {"held": held.to_json(service.clock.now(), holding.expired_reason(held)), "notices": []}
    shown = await service.show(message_id)
    access.record_alone(AuditRecord("R", "read", detail=f"inbound message {message_id} with its notices"))
    return shown


@router.post("/{message_id}/replay", summary="Send the message's notices again (same MessageHeader.id, new Bundle.id)")
async def replay(message_id: str, service: Service, access: RequestAccess) -> list[dict[str, Any]]:
    require(access, MESSAGES, "u")
    replayed = [notice_summary(record) for record in await service.replay_inbound(message_id)]
    access.record_alone(AuditRecord("U", "update", detail=f"replay of {message_id}: {len(replayed)} notices"))
    return replayed
