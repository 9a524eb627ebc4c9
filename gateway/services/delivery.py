"""Delivery wiring and the message use cases shared by the API and the CLI (show, list, replay, retry-dead).

`build_worker` assembles the worker from settings: the SQL outbox, one `httpx.AsyncClient` (built here and only
here), the retry and acknowledgement-timeout policies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Connection, Engine

from gateway.clock import Clock, IdSource, system_random
from gateway.config import Settings
from gateway.datafiles import ReloadingFile
from gateway.delivery.correction import corrected_message, require_same_parties
from gateway.delivery.directory import RecipientDirectory
from gateway.delivery.outbox import Attempt, Claim, NoticeDetail, NoticeRecord, NoticeState, require_resendable
from gateway.delivery.outbox_reads import unknown_notice
from gateway.delivery.outbox_sql import AttemptHook, AuditHook, SqlOutbox
from gateway.delivery.outcome import OutcomeKind
from gateway.delivery.policy import AckTimeoutPolicy, RetryPolicy
from gateway.delivery.sender import HttpxSender
from gateway.delivery.worker import Observer, Worker, WorkerSettings
from gateway.fhir.access import OPEN, Access, AuditRecord
from gateway.services.withdrawals import Withdrawals, every_notice
from gateway.store import audit_log
from gateway.store.sql import SqlResourceStore, SqlResourceTransaction
from mappings.audit import AuditAgent, audit_event
from mappings.issues import Issue, IssueError
from mappings.json_shape import items

#: A profile check for one notice Bundle: the issues found (errors refuse it).
NoticeCheck = Callable[[dict[str, Any]], Sequence[Issue]]


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
    outbox: SqlOutbox,
    client: httpx.AsyncClient,
    settings: Settings,
    clock: Clock,
    ids: IdSource,
    *,
    observe: Observer | None = None,
    wake: asyncio.Event | None = None,
) -> Worker:
    return Worker(
        outbox,
        HttpxSender(client, deadline_seconds=settings.delivery_timeout_seconds),
        clock=clock,
        ids=ids,
        rng=system_random(),
        policy=retry_policy(settings),
        ack_policy=ack_policy(settings),
        settings=WorkerSettings(
            lease=timedelta(seconds=settings.delivery_lease_seconds),
            idle_seconds=0.2,
            ack_check_every=timedelta(seconds=settings.delivery_ack_check_seconds),
            concurrency=settings.delivery_concurrency,
        ),
        observe=observe,
        wake=wake,
        gate=Withdrawals(
            outbox, SqlResourceStore(outbox.engine, clock), clock, kept=settings.delivery_kept_consent_decisions
        ).refusal,
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
        audit_log.append(connection, event)

    return write


class MessageService:
    """What operators ask about messages: where is it, what happened, send it again, skip it, correct it.

    Every operation records its AuditEvent (through `access`) in the operation's own database transaction.

    A caller sees and acts on the messages its organisation posted, and no others: for another organisation's
    message or notice every operation answers as for one that does not exist (a security review found any client
    with `system/Messages.r` reading and changing every organisation's messages). Without a caller (the local CLI,
    `OPEN`) every message is shown."""

    def __init__(self, engine: Engine, clock: Clock, ids: IdSource, check: NoticeCheck | None = None) -> None:
        self.outbox = SqlOutbox(engine)
        self.clock = clock
        self.ids = ids
        self.check = check
        self.withdrawals = Withdrawals(self.outbox, SqlResourceStore(engine, clock), clock)

    def _audit(self, access: Access, record: Callable[[Sequence[NoticeRecord]], AuditRecord]) -> AuditHook | None:
        if not access.audits:
            return None

        def write(connection: Connection, notices: Sequence[NoticeRecord]) -> None:
            access.record(SqlResourceTransaction(connection, self.clock), record(notices))

        return write

    async def show(self, inbound_message_id: str, access: Access = OPEN) -> dict[str, Any]:
        audit = self._audit(
            access, lambda _: AuditRecord("R", "read", detail=f"inbound message {inbound_message_id} with its notices")
        )
        found = await self.outbox.inbound(inbound_message_id, audit=audit, poster=access.author)
        if found is None:
            raise IssueError.single(
                "not-found", f"no inbound message {inbound_message_id}", message_id="messages.unknown", status=404
            )
        inbound, details = found
        return {"inbound": inbound, "notices": [notice_json(detail) for detail in details]}

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
        self, state: NoticeState | None = None, *, limit: int = 50, offset: int = 0, access: Access = OPEN
    ) -> list[NoticeRecord]:
        audit = self._audit(
            access,
            lambda listed: AuditRecord("E", "search-type", detail=f"list of {len(listed)} notices (state {state})"),
        )
        return await self.outbox.list_notices(state, limit=limit, offset=offset, audit=audit, poster=access.author)

    async def replay(self, notice_ids: Sequence[str], access: Access = OPEN) -> list[NoticeRecord]:
        """Send notices again: same `MessageHeader.id`, a new `Bundle.id` at send time (MedCom resend rules).
        Consent is decided again: a notice carrying plan content its consent no longer permits is refused (422)."""
        for notice_id in notice_ids:
            await self._require_posted(notice_id, access)
        refusals = [await self._refusal(notice_id) for notice_id in notice_ids]
        if reasons := [reason for reason in refusals if reason]:
            raise IssueError.single("business-rule", "; ".join(reasons), message_id="messages.consent-withdrawn")
        for notice_id in notice_ids:  # all of them checked before any is resent: never half a replay
            detail = await self.outbox.get(notice_id)
            if detail is not None:
                require_resendable(detail.notice)
        replayed = []
        for notice_id in notice_ids:
            audit = self._audit(access, _constant(AuditRecord("U", "update", detail=f"replay of notice {notice_id}")))
            replayed.append(await self.outbox.resend(notice_id, self.clock.now(), audit=audit))
        return replayed

    async def _posted(self, inbound_message_id: str, access: Access) -> bool:
        """Whether the caller's organisation posted the inbound message (always, without a caller)."""
        return access.author is None or await self.outbox.poster_of(inbound_message_id) == access.author

    async def _notice_posted(self, notice_id: str, access: Access) -> bool:
        if access.author is None:
            return True
        detail = await self.outbox.get(notice_id)
        return detail is not None and await self._posted(detail.notice.inbound_message_id, access)

    async def _require_posted(self, notice_id: str, access: Access) -> None:
        if not await self._notice_posted(notice_id, access):
            raise unknown_notice(notice_id)

    async def _refusal(self, notice_id: str) -> str | None:
        detail = await self.outbox.get(notice_id)
        return None if detail is None else await self.withdrawals.refusal(detail.notice)

    async def replay_inbound(self, inbound_message_id: str, access: Access = OPEN) -> list[NoticeRecord]:
        """Send an inbound message's notices again (`replay`); notices still on their way, those their receiver
        refused (corrected or skipped instead), and those whose consent no longer permits what they carry, are
        left alone."""
        notices = (
            await self.outbox.for_inbound(inbound_message_id) if await self._posted(inbound_message_id, access) else []
        )
        if not notices:
            raise IssueError.single(
                "not-found", f"no notices for message {inbound_message_id}", message_id="messages.unknown", status=404
            )
        resendable = [
            n.id for n in notices if n.state not in (NoticeState.PENDING, NoticeState.SENDING) and not n.refused
        ]
        return await self.replay([i for i in resendable if not await self._refusal(i)], access)

    async def retry_dead(self, notice_ids: Sequence[str] | None = None, access: Access = OPEN) -> list[NoticeRecord]:
        """Dead notices back to pending, except those carrying plan content their consent no longer permits (and,
        when none are named, those refused with fatal-error: they are corrected or skipped, not retried)."""
        if notice_ids is None:
            notice_ids = [n.id for n in await every_notice(self.outbox, NoticeState.DEAD) if not n.refused]
        notice_ids = [notice_id for notice_id in notice_ids if await self._notice_posted(notice_id, access)]
        allowed = [notice_id for notice_id in notice_ids if not await self._refusal(notice_id)]
        audit = self._audit(
            access, lambda revived: AuditRecord("U", "update", detail=f"retry-dead: {[n.id for n in revived]}")
        )
        return await self.outbox.retry_dead(self.clock.now(), allowed, audit=audit)

    async def skip(self, notice_id: str, reason: str, access: Access = OPEN) -> NoticeRecord:
        """Give up on a dead notice for good, with the operator's reason (the notices held behind it go on)."""
        if not reason.strip():
            raise IssueError.single(
                "required", "a skip needs a reason", expression="reason", message_id="messages.skip-reason", status=422
            )
        await self._require_posted(notice_id, access)
        audit = self._audit(
            access, lambda _: AuditRecord("U", "update", detail=f"skip of notice {notice_id}: {reason}")
        )
        return await self.outbox.skip(notice_id, reason, self.clock.now(), audit=audit)

    async def correct(
        self, notice_id: str, corrected: dict[str, Any] | None = None, access: Access = OPEN
    ) -> NoticeRecord:
        """A dead (refused) notice sent as a new message in its place: `corrected` (the operator's corrected
        Bundle) or the refused message itself, under a new `MessageHeader.id` (see `delivery/correction.py`),
        validated against its profiles before it may enter the outbox."""
        detail = await self.outbox.get(notice_id)
        if detail is None or not await self._posted(detail.notice.inbound_message_id, access):
            raise unknown_notice(notice_id)
        refused_id = detail.notice.message_header_id
        if corrected is not None:
            require_same_parties(detail.notice.message, corrected)
        message = corrected_message(corrected or detail.notice.message, self.ids.new_id(), self.ids.new_id())
        # The refused id is what the new message revises, also when the operator's Bundle kept its old header id.
        _point_at(message, refused_id)
        if self.check is not None:
            errors = [i for i in self.check(message) if i.severity in ("error", "fatal")]
            if errors:
                raise IssueError(tuple(errors), status=422)
        audit = self._audit(
            access,
            lambda changed: AuditRecord(
                "U",
                "update",
                detail=f"correction of notice {notice_id}: {refused_id} -> {changed[0].message_header_id}",
            ),
        )
        return await self.outbox.correct(notice_id, message, self.clock.now(), audit=audit)


def _constant(record: AuditRecord) -> Callable[[Sequence[NoticeRecord]], AuditRecord]:
    return lambda _notices: record


def _point_at(message: dict[str, Any], refused_id: str) -> None:
    """Make the correction's revision entity name `refused_id` (the operator's Bundle may carry another id)."""
    header_id = message["entry"][0]["resource"]["id"]  # `corrected_message` made sure of these
    for entry in message["entry"]:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != "Provenance":
            continue
        if {"reference": f"MessageHeader/{header_id}"} in items(resource.get("target")):
            for entity in items(resource.get("entity")):
                if isinstance(entity, dict) and entity.get("role") == "revision":
                    entity["what"] = {"reference": f"MessageHeader/{refused_id}"}


def notice_summary(record: NoticeRecord) -> dict[str, Any]:
    """A notice as `GET /messages` and `gateway messages list --json` show it."""
    return {
        "id": record.id,
        "inboundMessageId": record.inbound_message_id,
        "kind": record.kind,
        "recipient": record.recipient,
        "state": record.state.value,
        "heldBehind": record.held_behind,
        "messageHeaderId": record.message_header_id,
        "corrects": record.corrects,
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
        "heldBehind": notice.held_behind,
        "corrects": notice.corrects,
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
