"""Intake: an inbound message (OIOXML, HL7 v2 or FHIR) in, its validated notices in the outbox, in one transaction.

    bytes ─ parse (gateway.inbound) ─ route + build (services.notices, mappings.notices)
          ─ validate every notice (a notice that would be invalid is never stored: the input is rejected)
          ─ enqueue inbound record + notices together (SqlOutbox.enqueue: one database transaction)

The inbound message id is a UUID v5 of the input's own identity (sender GLN + letter id, MSH-3/4/10, or the
source MessageHeader.id), so posting the same message twice finds the first intake and creates nothing new.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from gateway.clock import Clock, IdSource
from gateway.delivery.directory import RecipientDirectory
from gateway.delivery.outbox import NewNotice, NoticeRecord
from gateway.delivery.outbox_sql import InboundRecord, SqlOutbox
from gateway.fhir.access import OPEN, Access, AuditRecord
from gateway.inbound import Limits, parse_fhir_message, parse_hl7v2, parse_oioxml
from gateway.services.notices import NoticePlanner, PlannedNotice
from gateway.services.plans import PlanService
from gateway.store.sql import SqlResourceTransaction
from mappings.context import ExplainCollector, MappingContext
from mappings.documents.discharge import (
    AdtEvent,
    CareCommunicationMessage,
    Correspondence,
    DischargeLetter,
    LetterHeader,
)
from mappings.issues import Issue, IssueError
from mappings.notices.hospital_notification import prior_notices_from_bundle

#: A profile check for one notice Bundle: the issues found (errors reject the input).
NoticeCheck = Callable[[dict[str, Any]], Sequence[Issue]]
INBOUND_NAMESPACE = uuid.UUID("8f4f3c1e-2b0a-5d59-9a3e-6c1b8e2d4f70")

HL7_TYPES = ("x-application/hl7-v2+er7", "application/hl7-v2", "application/hl7-v2+er7")
XML_TYPES = ("application/xml", "text/xml")
FHIR_TYPES = ("application/fhir+json", "application/fhir+xml", "application/json")


@dataclass(frozen=True)
class Preview:
    notices: tuple[PlannedNotice, ...]
    explained: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class IntakeResult:
    message_id: str
    created: bool
    input_kind: str
    notices: tuple[NoticeRecord, ...]
    notes: tuple[str, ...] = ()
    adt: AdtEvent | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "created": self.created,
            "input": self.input_kind,
            "notices": [
                {
                    "id": n.id,
                    "kind": n.kind,
                    "recipient": n.recipient,
                    "endpoint": n.endpoint,
                    "messageHeaderId": n.message_header_id,
                    "state": n.state.value,
                }
                for n in self.notices
            ],
            "notes": list(self.notes),
        }


def input_kind(content_type: str, body: bytes) -> str:
    """`hl7v2`, `oioxml` or `fhir` from the media type (text/plain counts as HL7 v2 when it starts with MSH)."""
    media = content_type.split(";")[0].strip().lower()
    if media in HL7_TYPES or (media == "text/plain" and body.lstrip()[:3] == b"MSH"):
        return "hl7v2"
    if media in XML_TYPES:
        return "oioxml"
    if media in FHIR_TYPES:
        return "fhir"
    raise IssueError.single(
        "not-supported",
        f"Content-Type {media!r} is not an accepted input; send application/xml (MedCom OIOXML), "
        "x-application/hl7-v2+er7 or text/plain (HL7 v2), or application/fhir+json|xml (MedCom FHIR message)",
        message_id="intake.unsupported-media-type",
        status=415,
    )


class IntakeService:
    def __init__(
        self,
        plans: PlanService,
        outbox: SqlOutbox,
        directory: Callable[[], RecipientDirectory],
        clock: Clock,
        ids: IdSource,
        *,
        limits: Limits,
        check: NoticeCheck | None = None,
        citizen_namespace: uuid.UUID,
    ) -> None:
        self.plans = plans
        self.outbox = outbox
        self.directory = directory
        self.clock = clock
        self.ids = ids
        self.limits = limits
        self.check = check
        self.citizen_namespace = citizen_namespace

    def citizen_key(self, cpr: str) -> str:
        """The outbox's pseudonymous citizen key: no CPR number in the ordering key or the operator's lists."""
        return str(uuid.uuid5(self.citizen_namespace, f"citizen|{cpr}"))

    def parse(self, body: bytes, content_type: str) -> tuple[str, Any]:
        kind = input_kind(content_type, body)
        if kind == "hl7v2":
            return kind, parse_hl7v2(body, limits=self.limits)
        if kind == "oioxml":
            return kind, parse_oioxml(body, limits=self.limits)
        return kind, parse_fhir_message(body, content_type, limits=self.limits)

    async def accept(self, body: bytes, content_type: str, access: Access = OPEN) -> IntakeResult:
        kind, document = self.parse(body, content_type)
        message_id = str(uuid.uuid5(INBOUND_NAMESPACE, _source_key(document)))
        existing = await self.outbox.for_inbound(message_id)
        if existing:
            return IntakeResult(
                message_id, False, kind, tuple(existing), ("already accepted; nothing new",), _adt(document)
            )
        now = self.clock.now()
        ctx = MappingContext(now=now, new_uuid=self.ids.new_id)
        planned = await run_in_threadpool(self._plan, document, ctx, access)
        self._validate(planned)
        notices = [self._new_notice(p, document) for p in planned]
        summary = {
            "input": kind,
            "source": _source_key(document),
            "notices": [
                {"kind": p.kind, "recipient": p.recipient.name, "disclosure": p.disclosure, "plan": p.plan_id}
                for p in planned
            ],
        }
        inbound = InboundRecord(content_type, summary, base64.b64encode(body).decode("ascii"))
        also = self._audit(access, kind, message_id, planned) if access.audits else None
        result = await self.outbox.enqueue(message_id, notices, now, inbound=inbound, also=also)
        notes = tuple(f"{p.kind} → {p.recipient.name}: {p.disclosure}" for p in planned if p.disclosure)
        return IntakeResult(message_id, result.created, kind, result.notices, notes, _adt(document))

    def preview(self, body: bytes, content_type: str, *, explain: bool = False) -> Preview:
        """What `accept` would enqueue, without storing anything (`gateway convert`); synchronous."""
        _kind, document = self.parse(body, content_type)
        collector = ExplainCollector() if explain else None
        ctx = MappingContext(now=self.clock.now(), new_uuid=self.ids.new_id, explain=collector)
        planned = self._plan(document, ctx)
        self._validate(planned)
        return Preview(tuple(planned), tuple(collector.pairs) if collector else ())

    def _audit(
        self, access: Access, kind: str, message_id: str, planned: list[PlannedNotice]
    ) -> Callable[[Connection], None]:
        """AuditEvents for the intake and for each disclosure it decided, written with the outbox rows."""

        def write(connection: Connection) -> None:
            tx = SqlResourceTransaction(connection, self.clock)
            access.record(tx, AuditRecord("C", "create", detail=f"intake of {kind} message {message_id}"))
            for notice in planned:
                detail = f"{notice.kind} to {notice.recipient.name}: {notice.disclosure or 'no plan content'}"
                access.record(tx, AuditRecord("E", "disclose", detail=detail))

        return write

    def _plan(self, document: Any, ctx: MappingContext, access: Access = OPEN) -> list[PlannedNotice]:
        planner = NoticePlanner(self.directory(), self.plans, access)
        if isinstance(document, AdtEvent):
            return planner.from_adt(document, ctx, self._history)
        if isinstance(document, DischargeLetter):
            return planner.from_discharge_letter(document, ctx)
        if isinstance(document, Correspondence):
            return planner.from_correspondence(document, ctx)
        assert isinstance(document, CareCommunicationMessage)
        return planner.from_fhir_message(document)

    def _history(self, cpr: str, recipient: str, episode: str) -> tuple[Any, ...]:
        """The stay's earlier HospitalNotifications to `recipient`, from the newest one sent for this episode."""
        for record in self.outbox.recent_for_key(self.citizen_key(cpr), recipient, "hospital-notification"):
            if episode in _episode_identifiers(record.message):
                return prior_notices_from_bundle(record.message)
        return ()

    def _validate(self, planned: list[PlannedNotice]) -> None:
        if self.check is None:
            return
        problems: list[Issue] = []
        for index, notice in enumerate(planned):
            for issue in self.check(notice.message):
                if issue.severity in ("error", "fatal"):
                    problems.append(
                        Issue(
                            issue.severity,
                            issue.code,
                            f"notice {index} ({notice.kind} to {notice.recipient.name}) would break its profile: "
                            f"{issue.diagnostics}",
                            f"notice[{index}].{issue.expression}" if issue.expression else f"notice[{index}]",
                            issue.message_id or "intake.notice-invalid",
                        )
                    )
        if problems:
            raise IssueError(tuple(problems), status=422)

    def _new_notice(self, planned: PlannedNotice, document: Any) -> NewNotice:
        message = planned.message
        header = message["entry"][0]["resource"]
        return NewNotice(
            id=self.ids.new_id(),
            message_header_id=header["id"],
            citizen=self.citizen_key(_cpr(document)),
            recipient=planned.recipient.key,
            endpoint=planned.recipient.endpoint,
            message=message,
            kind=planned.kind,
        )


def _source_key(document: AdtEvent | LetterHeader | CareCommunicationMessage) -> str:
    """The input's own identity; each document type defines it once (`source_key`)."""
    return document.source_key


def _cpr(document: Any) -> str:
    return str(document.patient.cpr)


def _adt(document: Any) -> AdtEvent | None:
    return document if isinstance(document, AdtEvent) else None


def _episode_identifiers(bundle: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for entry in bundle.get("entry", []):
        resource = entry.get("resource", {})
        if resource.get("resourceType") == "Encounter":
            for episode in resource.get("episodeOfCare", []):
                value = (episode.get("identifier") or {}).get("value")
                if value:
                    found.add(value)
    return found
