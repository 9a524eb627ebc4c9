"""Intake: an inbound message (OIOXML, HL7 v2 or FHIR) in, its validated notices in the outbox, in one transaction.

    bytes ─ parse (gateway.inbound) ─ route + build (services.notices, mappings.notices)
          ─ validate every notice (a notice that would be invalid is never stored: the input is rejected)
          ─ enqueue inbound record + notices together (SqlOutbox.enqueue: one database transaction)

The inbound message id is a UUID v5 of the input's own identity (sender GLN + letter id, MSH-3/4/10, or the
source MessageHeader.id), so posting the same message twice finds the first intake and creates nothing new.
An XDIS91 that references XBIN01 binaries waits for them in the holding area (`gateway.services.attachments`).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from gateway.clock import Clock, IdSource
from gateway.delivery.correction import SENDER, parties
from gateway.delivery.outbox import NewNotice
from gateway.delivery.outbox_sql import InboundRecord, SqlOutbox
from gateway.fhir.access import OPEN, Access, AuditRecord, Denied, sending_as
from gateway.inbound import Limits
from gateway.services.acknowledgements import take_acknowledgement
from gateway.services.attachments import Assembly
from gateway.services.notices import NoticePlanner, facility_code
from gateway.services.offline import OfflineDirectory
from gateway.services.parsing import Parsing, ThreadParsing, parse_input
from gateway.services.planning import Directory, PlannedNotice, Planning, PlanSource
from gateway.services.results import Document, IntakeResult, Preview, inbound_id
from gateway.store.sql import SqlResourceTransaction
from mappings.context import PUBLIC_NOTICE_NAMESPACE, ExplainCollector, MappingContext
from mappings.documents.discharge import (
    AdtEvent,
    BinaryLetter,
    BinaryObject,
    CareCommunicationMessage,
    Correspondence,
    DischargeLetter,
    PriorNotice,
)
from mappings.issues import Issue, IssueError
from mappings.notices.acknowledgement import Ack
from mappings.notices.hospital_notification import prior_notices_from_bundle
from mappings.plan.codes import SOR_SYSTEM
from mappings.uuids import uuid5_text

#: A profile check for one notice Bundle: the issues found (errors reject the input).
NoticeCheck = Callable[[dict[str, Any]], Sequence[Issue]]

HL7_TYPES = ("x-application/hl7-v2+er7", "application/hl7-v2", "application/hl7-v2+er7")
XML_TYPES = ("application/xml", "text/xml")
FHIR_TYPES = ("application/fhir+json", "application/fhir+xml", "application/json")


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
        plans: PlanSource,
        outbox: SqlOutbox | None,
        directory: Callable[[], Directory],
        clock: Clock,
        ids: IdSource,
        *,
        limits: Limits,
        check: NoticeCheck | None = None,
        citizen_namespace: uuid.UUID,
        assembly: Assembly | None = None,
        preview_only: bool = False,
        parsing: Parsing | None = None,
        header_namespace: uuid.UUID = PUBLIC_NOTICE_NAMESPACE,
    ) -> None:
        self.plans = plans
        self.outbox = outbox
        self.directory = directory
        self.clock = clock
        self.ids = ids
        self.limits = limits
        self.check = check
        self.citizen_namespace = citizen_namespace
        self.assembly = assembly
        #: `gateway convert`: the outbox is read for a stay's history, never written.
        self.preview_only = preview_only
        #: Parsing and profile checks run off the event loop (services/parsing.py): no input stalls the server.
        self.parsing = parsing or ThreadParsing(budget_seconds=60)
        #: The notices' derived MessageHeader ids (`MappingContext.header_namespace`, `Settings.header_namespace`).
        self.header_namespace = header_namespace

    def now(self) -> datetime:
        return self.clock.now()

    async def enqueue_letter(
        self,
        letter: Correspondence,
        body: bytes,
        content_type: str,
        access: Access,
        binaries: tuple[BinaryObject, ...],
        also: Callable[[Connection], None],
    ) -> IntakeResult:
        """An XDIS91 whose binaries are all here, enqueued with them (`also` marks the held rows completed)."""
        return await self.enqueue(letter, "oioxml", body, content_type, access, binaries=binaries, also=also)

    def citizen_key(self, cpr: str) -> str:
        """The outbox's pseudonymous citizen key: no CPR number in the ordering key or the operator's lists."""
        return uuid5_text(self.citizen_namespace, f"citizen|{cpr}")

    def parse(self, body: bytes, content_type: str) -> tuple[str, Document]:
        kind = input_kind(content_type, body)
        document = parse_input(kind, body, content_type, self.limits)
        if isinstance(document, Ack):
            raise IssueError.single(
                "not-supported",
                "an acknowledgement makes no notices: post it to /messages, where it completes the notice it answers",
                expression="Bundle.entry[0].resource.eventCoding",
                message_id="intake.ack-no-notices",
            )
        return kind, document

    async def accept(
        self, body: bytes, content_type: str, access: Access = OPEN, *, first_of_stay: bool = False
    ) -> IntakeResult:
        kind = input_kind(content_type, body)
        document = await self.parsing.parse(kind, body, content_type, self.limits)
        if isinstance(document, Ack):  # a receiver's acknowledgement of a notice we sent, not a new input
            return await take_acknowledgement(self._required_outbox(), document, access, self.clock)
        await self._require_own_sender(document, access)
        if isinstance(document, BinaryLetter):
            return await self._required_assembly().accept_binary(self, document, body, content_type, access)
        outbox = self._required_outbox()
        message_id = inbound_id(document)
        existing = await outbox.repeat_of(message_id, access.author)
        if existing is not None and existing.notices:
            return IntakeResult(
                message_id, False, kind, existing.notices, ("already accepted; nothing new",), _adt(document)
            )
        if isinstance(document, Correspondence) and document.references:
            return await self._required_assembly().accept_letter(self, document, body, content_type, access)
        return await self.enqueue(document, kind, body, content_type, access, first_of_stay=first_of_stay)

    async def enqueue(
        self,
        document: Document,
        kind: str,
        body: bytes,
        content_type: str,
        access: Access,
        *,
        first_of_stay: bool = False,
        binaries: tuple[BinaryObject, ...] = (),
        also: Callable[[Connection], None] | None = None,
    ) -> IntakeResult:
        """Plan, validate and store the notices of one complete input (`also` writes more in the same transaction)."""
        outbox = self._required_outbox()
        message_id = inbound_id(document)
        now = self.clock.now()
        ctx = MappingContext(now=now, new_uuid=self.ids.new_id, header_namespace=self.header_namespace)
        planning = await run_in_threadpool(self._plan, document, ctx, access, first_of_stay, binaries)
        await run_in_threadpool(self._validate, planning.notices)
        notices = [self._new_notice(p, document) for p in planning.notices]
        notes = (*planning.notes, *(w.note() for w in planning.withheld))
        summary = {
            "input": kind,
            "source": document.source_key,
            "notices": [
                {
                    "kind": p.kind,
                    "recipient": p.recipient.name,
                    "disclosure": p.disclosure,
                    **({"plan": p.carries[0], "data": p.carries[1]} if p.carries else {}),
                }
                for p in planning.notices
            ],
            "withheld": [w.to_json() for w in planning.withheld],
            "notes": list(planning.notes),
            "firstOfStay": first_of_stay,
        }
        inbound = InboundRecord(content_type, summary, base64.b64encode(body).decode("ascii"), poster=access.author)
        audit = self._audit(access, kind, message_id, planning) if access.audits else None
        writes = [work for work in (audit, also) if work is not None]

        def together(connection: Connection) -> None:
            for work in writes:
                work(connection)

        result = await outbox.enqueue(message_id, notices, now, inbound=inbound, also=together if writes else None)
        said = tuple(f"{p.kind} → {p.recipient.name}: {p.disclosure}" for p in planning.notices if p.disclosure)
        return IntakeResult(
            message_id,
            result.created,
            kind,
            result.notices,
            (*said, *notes),
            _adt(document),
            tuple(planning.withheld),
        )

    def preview(
        self,
        body: bytes,
        content_type: str,
        *,
        explain: bool = False,
        binaries: tuple[BinaryObject, ...] = (),
        first_of_stay: bool = False,
    ) -> Preview:
        """What `accept` would enqueue, without storing anything (`gateway convert`); synchronous. Profile issues
        are returned with each notice (not raised): an offline preview expects some (`offline.split_offline_gaps`)."""
        _kind, document = self.parse(body, content_type)
        if isinstance(document, BinaryLetter):
            keys = ", ".join(o.object_identifier for o in document.objects)
            return Preview((), (), (f"XBIN01 with {len(document.objects)} object(s) ({keys}): attachments for an "
                                    "XDIS91, no notice of its own; convert it together with its letter",))  # fmt: skip
        offline = isinstance(self.directory(), OfflineDirectory)
        collector = ExplainCollector() if explain or offline else None
        ctx = MappingContext(
            now=self.clock.now(),
            new_uuid=self.ids.new_id,
            explain=collector,
            require_identifiers=not offline,
            header_namespace=self.header_namespace,
        )
        planning = self._plan(document, ctx, OPEN, first_of_stay, binaries)
        issues = tuple(tuple(self.check(n.message)) if self.check else () for n in planning.notices)
        notes = (*planning.notes, *(w.note() for w in planning.withheld))
        return Preview(tuple(planning.notices), tuple(planning.withheld), notes, issues, offline)

    async def _require_own_sender(self, document: Document, access: Access) -> None:
        """Notices go out in the name of the sender a message names: refused (403, audited) unless the caller may
        send as it. Decided first, before the message's id or its citizen is looked up, so a refusal tells nothing
        of what the gateway holds (the id of another sender's message, whether a citizen has a plan)."""
        sor, where = self._named_sender(document)
        try:
            access.require_sender(sor, where)
        except Denied as denied:
            await run_in_threadpool(access.record_alone, denied.record)
            raise

    def _named_sender(self, document: Document) -> tuple[str, str]:
        """The SOR code of the organisation a message's notices will name as their sender, and where it says so."""
        if isinstance(document, CareCommunicationMessage) and document.sender_codes:
            return self._relayed_sender(document.sender_codes)
        code, where = named_sender(document)
        try:
            return self.directory().sender(code).sor, where  # resolved as `NoticePlanner` resolves it
        except IssueError:
            return code, where  # unknown to the directory: refused as such once the caller may send as it

    def _relayed_sender(self, codes: Sequence[tuple[str, str]]) -> tuple[str, str]:
        """The one sender of the directory that every code of a relayed Bundle names (`sender_codes`): the Bundle
        goes out as it came, so an identifier or a Provenance agent naming anyone else is refused (422)."""
        directory = self.directory()
        first: tuple[str, str, str] | None = None  # SOR code, name, where
        for code, where in codes:
            try:
                sender = directory.sender(code)
            except IssueError as error:
                issue = error.issues[0]
                raise IssueError((replace(issue, expression=where),), status=422) from None
            if first is None:
                first = (sender.sor, sender.name, where)
            elif sender.sor != first[0]:
                raise IssueError.single(
                    "business-rule",
                    f"{where} names {sender.name} ({code}), {first[2]} names {first[1]}: a message has one sender",
                    expression=where,
                    message_id="intake.senders-disagree",
                    status=422,
                )
        assert first is not None
        return first[0], first[2]

    def _audit(self, access: Access, kind: str, message_id: str, planning: Planning) -> Callable[[Connection], None]:
        """AuditEvents for the intake and for each disclosure it decided (made or withheld), with the outbox rows."""

        def write(connection: Connection) -> None:
            tx = SqlResourceTransaction(connection, self.clock)
            access.record(tx, AuditRecord("C", "create", detail=f"intake of {kind} message {message_id}"))
            for notice in planning.notices:
                detail = f"{notice.kind} to {notice.recipient.name}: {notice.disclosure or 'no plan content'}"
                access.record(tx, AuditRecord("E", "disclose", detail=detail))
            for withheld in planning.withheld:
                access.record(tx, AuditRecord("E", "disclose", outcome="4", detail=withheld.note()))

        return write

    def _plan(
        self,
        document: Document,
        ctx: MappingContext,
        access: Access,
        first_of_stay: bool,
        binaries: tuple[BinaryObject, ...],
    ) -> Planning:
        if access is not OPEN:  # the plan as the sender sees it (`require_sender` let the caller send as it)
            access = sending_as(access, self._named_sender(document)[0])
        planner = NoticePlanner(self.directory(), self.plans, access)
        if isinstance(document, AdtEvent):
            return planner.from_adt(document, ctx, self._history, first_of_stay=first_of_stay)
        if isinstance(document, DischargeLetter):
            return planner.from_discharge_letter(document, ctx)
        if isinstance(document, Correspondence):
            return planner.from_correspondence(document, ctx, binaries)
        assert isinstance(document, CareCommunicationMessage)
        return planner.from_fhir_message(document, ctx)

    def _history(self, cpr: str, recipient: str, episode: str, own_header: str, sender: str) -> tuple[PriorNotice, ...]:
        """The stay's earlier HospitalNotifications from `sender` (its SOR code) to `recipient`: the newest one sent
        for this episode before the input's own notice. Another sender's notices are never a stay's history, even
        with the same episode id (a hex visit number is the episode id whoever sends it): else one hospital's ADT
        would continue, or cancel, another's stay. An input taken in before (converted again, or posted again)
        finds its own notice in the outbox; that notice and any sent after it are not its history, else its
        Provenance would repeat."""
        if self.outbox is None:
            return ()
        records = self.outbox.recent_for_key(self.citizen_key(cpr), recipient, "hospital-notification")
        own = next((index for index, record in enumerate(records) if record.message_header_id == own_header), None)
        for record in records if own is None else records[own + 1 :]:
            message = self.outbox.stored_message(record.id)
            if message is None:
                continue
            if (SOR_SYSTEM, sender) in parties(message)[SENDER] and episode in _episode_identifiers(message):
                return prior_notices_from_bundle(message)
        return ()

    def _validate(self, planned: Sequence[PlannedNotice]) -> None:
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

    def _new_notice(self, planned: PlannedNotice, document: Document) -> NewNotice:
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

    def _required_outbox(self) -> SqlOutbox:
        if self.outbox is None or self.preview_only:
            raise IssueError.single("not-supported", "this intake only previews", message_id="intake.preview-only")
        return self.outbox

    def _required_assembly(self) -> Assembly:
        if self.assembly is None:
            raise IssueError.single(
                "not-supported",
                "this intake keeps no holding area for XDIS91 letters and their XBIN01 binaries",
                message_id="intake.no-holding-area",
            )
        return self.assembly


def named_sender(document: Document) -> tuple[str, str]:
    """The code (SOR or GLN) by which a message names its sender, and where: what `NoticePlanner` resolves."""
    if isinstance(document, AdtEvent):
        return facility_code(document.sending_facility), "MSH-4"
    if isinstance(document, CareCommunicationMessage):
        return document.sender.sor or document.sender.gln or "", "MessageHeader.sender"
    element = "DischargeLetter" if isinstance(document, DischargeLetter) else "ClinicalEmail"
    if isinstance(document, BinaryLetter):
        element = "BinaryLetter"
    return document.sender.gln or document.sender.sor or "", f"/Emessage/{element}/Sender/EANIdentifier"


def _cpr(document: Document) -> str:
    patient = document.patient
    return str(patient.cpr) if patient is not None else ""


def _adt(document: Document) -> AdtEvent | None:
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
