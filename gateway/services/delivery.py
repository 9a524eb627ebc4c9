"""Delivery wiring and the message use cases shared by the API and the CLI (show, list, replay, retry-dead).

`build_worker` assembles the worker from settings: the SQL outbox, one `httpx.AsyncClient` (built here and only
here), the retry and acknowledgement-timeout policies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Connection, Engine

from gateway.clock import Clock, IdSource, system_random
from gateway.config import Settings
from gateway.datafiles import ReloadingFile
from gateway.delivery.directory import RecipientDirectory
from gateway.delivery.outbox import Attempt, Claim, NoticeDetail, NoticeRecord, NoticeState
from gateway.delivery.outbox_sql import AttemptHook, SqlOutbox
from gateway.delivery.outcome import OutcomeKind
from gateway.delivery.policy import AckTimeoutPolicy, RetryPolicy
from gateway.delivery.sender import HttpxSender
from gateway.delivery.worker import Worker, WorkerSettings
from gateway.services.withdrawals import Withdrawals, every_notice
from gateway.store.sql import SqlResourceStore, SqlResourceTransaction
from mappings.audit import AuditAgent, audit_event
from mappings.issues import IssueError


def http_client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=httpx.Timeout(settings.delivery_timeout_seconds), follow_redirects=False)


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.delivery_max_attempts,
        base_delay=timedelta(seconds=settings.delivery_base_delay_seconds),
        cap=timedelta(seconds=settings.delivery_max_delay_seconds),
    )


def ack_policy(settings: Settings) -> AckTimeoutPolicy:
    return AckTimeoutPolicy(
        timeout=timedelta(seconds=settings.ack_timeout_seconds), max_resends=settings.ack_max_resends
    )


def build_worker(
    outbox: SqlOutbox, client: httpx.AsyncClient, settings: Settings, clock: Clock, ids: IdSource
) -> Worker:
    return Worker(
        outbox,
        HttpxSender(client),
        clock=clock,
        ids=ids,
        rng=system_random(),
        policy=retry_policy(settings),
        ack_policy=ack_policy(settings),
        settings=WorkerSettings(lease=timedelta(seconds=settings.delivery_lease_seconds), idle_seconds=0.2),
    )


def delivery_audit(clock: Clock, ids: IdSource) -> AttemptHook:
    """Every delivery attempt leaves an AuditEvent (BALP export/transmit), in the attempt's own transaction."""

    def write(connection: Connection, claim: Claim, attempt: Attempt) -> None:
        notice = claim.notice
        event = audit_event(
            action="E",
            subtype="deliver",
            outcome="0" if attempt.outcome is OutcomeKind.DELIVERED else "4",
            recorded=attempt.finished_at,
            agent=AuditAgent("careplan-gateway-delivery", organisation_name="delivery worker"),
            observer="careplan-gateway delivery worker",
            reason=(
                f"{notice.kind} (MessageHeader {notice.message_header_id}, Bundle {attempt.bundle_id}) to "
                f"{notice.recipient}: {attempt.outcome.value}"
                + (f" HTTP {attempt.status}" if attempt.status else "")
                + (f" {attempt.failure}" if attempt.failure else "")
            ),
            event_id=ids.new_id(),
        )
        SqlResourceTransaction(connection, clock).create(event, resource_id=event["id"])

    return write


class MessageService:
    """What operators ask about messages: where is it, what happened, send it again."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.outbox = SqlOutbox(engine)
        self.clock = clock
        self.withdrawals = Withdrawals(self.outbox, SqlResourceStore(engine, clock), clock)

    async def show(self, inbound_message_id: str) -> dict[str, Any]:
        inbound = await self.outbox.inbound(inbound_message_id)
        if inbound is None:
            raise IssueError.single(
                "not-found", f"no inbound message {inbound_message_id}", message_id="messages.unknown", status=404
            )
        notices = []
        for record in await self.outbox.for_inbound(inbound_message_id):
            detail = await self.outbox.get(record.id)
            assert detail is not None
            notices.append(notice_json(detail))
        return {"inbound": inbound, "notices": notices}

    async def resolve(self, reference: str) -> str:
        """The inbound message `reference` names: an inbound message id or a notice id, whole or a unique prefix.

        A prefix that fits several inbound messages is refused with every candidate listed (like git's short ids).
        """
        matches = await self.outbox.ids_starting_with(reference, limit=10)
        exact = [match for match in matches if match.id == reference]
        meant = {match.inbound_message_id for match in exact or matches}
        if len(meant) == 1:
            return meant.pop()
        if not matches:
            raise IssueError.single(
                "not-found",
                f"No message or notice id starts with {reference!r}; `gateway messages list` shows them",
                message_id="messages.unknown",
                status=404,
            )
        candidates = ", ".join(f"{match.id} ({match.kind})" for match in matches)
        raise IssueError.single(
            "multiple-matches",
            f"{reference!r} is the start of several ids; give more of it: {candidates}",
            message_id="messages.ambiguous",
            status=409,
        )

    async def settled(self) -> bool:
        """Whether no notice is on its way any more (pending, sending, or sent and awaiting an acknowledgement)."""
        on_the_way = (NoticeState.PENDING, NoticeState.SENDING, NoticeState.SENT)
        return not any([await self.outbox.list_notices(state, limit=1) for state in on_the_way])

    async def list_notices(
        self, state: NoticeState | None = None, *, limit: int = 50, offset: int = 0
    ) -> list[NoticeRecord]:
        return await self.outbox.list_notices(state, limit=limit, offset=offset)

    async def replay(self, notice_ids: Sequence[str]) -> list[NoticeRecord]:
        """Send notices again: same `MessageHeader.id`, a new `Bundle.id` at send time (MedCom resend rules).
        Consent is decided again: a notice carrying plan content its consent no longer permits is refused (422)."""
        refusals = [await self._refusal(notice_id) for notice_id in notice_ids]
        if reasons := [reason for reason in refusals if reason]:
            raise IssueError.single("business-rule", "; ".join(reasons), message_id="messages.consent-withdrawn")
        return [await self.outbox.resend(notice_id, self.clock.now()) for notice_id in notice_ids]

    async def _refusal(self, notice_id: str) -> str | None:
        detail = await self.outbox.get(notice_id)
        return None if detail is None else await self.withdrawals.refusal(detail.notice)

    async def replay_inbound(self, inbound_message_id: str) -> list[NoticeRecord]:
        notices = await self.outbox.for_inbound(inbound_message_id)
        if not notices:
            raise IssueError.single(
                "not-found", f"no notices for message {inbound_message_id}", message_id="messages.unknown", status=404
            )
        resendable = [n.id for n in notices if n.state not in (NoticeState.PENDING, NoticeState.SENDING)]
        return await self.replay([notice_id for notice_id in resendable if not await self._refusal(notice_id)])

    async def retry_dead(self, notice_ids: Sequence[str] | None = None) -> list[NoticeRecord]:
        """Dead notices back to pending, except those carrying plan content their consent no longer permits."""
        if notice_ids is None:
            notice_ids = [notice.id for notice in await every_notice(self.outbox, NoticeState.DEAD)]
        allowed = [notice_id for notice_id in notice_ids if not await self._refusal(notice_id)]
        return await self.outbox.retry_dead(self.clock.now(), allowed)


def notice_summary(record: NoticeRecord) -> dict[str, Any]:
    """A notice as `GET /messages` and `gateway messages list --json` show it."""
    return {
        "id": record.id,
        "inboundMessageId": record.inbound_message_id,
        "kind": record.kind,
        "recipient": record.recipient,
        "state": record.state.value,
        "messageHeaderId": record.message_header_id,
        "attemptsSinceQueued": record.attempts,
        "resends": record.resends,
        "lastError": record.last_error,
        "createdAt": record.created_at.isoformat(),
    }


def notice_json(detail: NoticeDetail) -> dict[str, Any]:
    notice = detail.notice
    return {
        "id": notice.id,
        "kind": notice.kind,
        "recipient": notice.recipient,
        "endpoint": notice.endpoint,
        "messageHeaderId": notice.message_header_id,
        "state": notice.state.value,
        "createdAt": notice.created_at.isoformat(),
        "sentAt": notice.sent_at.isoformat() if notice.sent_at else None,
        "attemptsSinceQueued": notice.attempts,
        "resends": notice.resends,
        "lastError": notice.last_error,
        "ack": None
        if notice.ack is None
        else {
            "code": notice.ack.code,
            "messageHeaderId": notice.ack.message_header_id,
            "receivedAt": notice.ack.received_at.isoformat(),
            "reason": notice.ack.reason,
        },
        "attempts": [
            {
                "number": record.number,
                "bundleId": record.attempt.bundle_id,
                "startedAt": record.attempt.started_at.isoformat(),
                "finishedAt": record.attempt.finished_at.isoformat(),
                "outcome": record.attempt.outcome.value,
                "failure": None if record.attempt.failure is None else str(record.attempt.failure),
                "status": record.attempt.status,
                "detail": record.attempt.detail,
            }
            for record in detail.attempts
        ],
        "message": notice.message,
    }


def directory_file(path: Path | None) -> Callable[[], RecipientDirectory]:
    """The recipient directory from its file, re-read when the file changes (operators edit it live)."""

    def missing() -> RecipientDirectory:
        raise IssueError.single(
            "business-rule",
            "No recipient directory is configured (GATEWAY_DIRECTORY_FILE, or directory.yaml in the data folder)"
            if path is None
            else f"The recipient directory {path} does not exist",
            message_id="delivery.no-directory",
            status=422,
        )

    return ReloadingFile(path, RecipientDirectory.from_file, missing) if path is not None else missing
