"""The plan shared after every coordination meeting (issue 12), and the narratives of every plan write.

`PlanWriteHooks` is the `PlanHooks` of `PlanService`: before a plan is stored it writes a generated narrative into
each resource; after the plan's transaction committed it checks whether the plan now records a coordination meeting
other than its first (`PlanHistory`: an earlier version has another meeting date) and, if so, sends the plan to each
team organisation that

1. has an endpoint in the recipient directory (looked up by SOR, GLN or provider number: the organisation itself,
   never "some organisation in the same municipality"), is not the plan's own author, and
2. may receive `careplan` data under the plan's consent (`mappings.plan.may_disclose`, as every disclosure),

as a MedCom CareCommunication with the plan as PDF (`mappings.notices.plan_shared`), validated against its profile,
through the outbox (delivery, retries, acknowledgements) with an AuditEvent per disclosure in the same transaction.
Who got nothing and why is stored with the outbox's inbound record and shown on the team's page.

The outbox rows are written right after the plan's transaction, not inside it (the FHIR transaction owns its
database transaction). The inbound id is a UUID v5 of (plan, meeting date): a client repeating a PUT after a crash
between the two, or any later write of the same meeting's plan, finds the meeting already shared or shares it
then; a meeting is never shared twice.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from gateway.clock import Clock, IdSource
from gateway.delivery.directory import Recipient, RecipientDirectory, SenderOrganisation
from gateway.delivery.outbox import NewNotice
from gateway.delivery.outbox_sql import InboundRecord, SqlOutbox
from gateway.fhir.access import Access, AuditRecord
from gateway.services.plan_history import PlanHistory
from gateway.services.planning import party_of
from gateway.services.plans import PlanReceipt
from gateway.store.database import IMMEDIATE
from gateway.store.sql import SqlResourceTransaction
from mappings.context import PUBLIC_NOTICE_NAMESPACE, MappingContext
from mappings.documents.discharge import Author
from mappings.documents.plan import Organisation, PlanDocument
from mappings.issues import Issue, IssueError
from mappings.notices.plan_shared import SharedPlan, care_communication_from_shared_plan
from mappings.plan import PlanContext, may_disclose
from mappings.plan import Recipient as DisclosureRecipient
from mappings.plan.consent import consent_from_plan
from mappings.uuids import uuid5_text

log = logging.getLogger("gateway.services.plan_sharing")
Resource = dict[str, Any]
SHARED_NAMESPACE = uuid.UUID("0c6d1b7e-5a0f-5f43-8c8e-1d3f2b9a7e64")
KIND = "care-communication-plan"
SOR_ENDPOINT = "https://sor2.sum.dsdn.dk/#id="
#: The plan rendered as PDF: (document, plan id, version) -> bytes.
PdfRenderer = Callable[[PlanDocument, str, int], bytes]
Narrator = Callable[[Resource, PlanDocument, PlanContext], Resource]
NoticeCheck = Callable[[Resource], Sequence[Issue]]


def shared_inbound_id(plan_id: str, document: PlanDocument) -> str:
    """The outbox's inbound id of one meeting's sharing (what the team's page looks up)."""
    return uuid5_text(SHARED_NAMESPACE, f"{plan_id}|{document.coordination.meeting_date.isoformat()}")


@dataclass(frozen=True)
class Addressee:
    recipient: Recipient
    reason: str


class PlanWriteHooks:
    def __init__(
        self,
        history: PlanHistory,
        outbox: SqlOutbox,
        directory: Callable[[], RecipientDirectory],
        clock: Clock,
        ids: IdSource,
        *,
        narrate: Narrator,
        render_pdf: PdfRenderer,
        citizen_key: Callable[[str], str],
        check: NoticeCheck | None = None,
        header_namespace: uuid.UUID = PUBLIC_NOTICE_NAMESPACE,
    ) -> None:
        self.history = history
        self.outbox = outbox
        self.directory = directory
        self.clock = clock
        self.ids = ids
        self._narrate = narrate
        self.render_pdf = render_pdf
        self.citizen_key = citizen_key
        self.check = check
        #: The shared plans' derived MessageHeader ids (`MappingContext.header_namespace`).
        self.header_namespace = header_namespace

    @property
    def context(self) -> PlanContext:
        return self.history.context

    def narrate(self, bundle: Resource, document: PlanDocument, context: PlanContext) -> Resource:
        return self._narrate(bundle, document, context)

    def stored(self, receipt: PlanReceipt, document: PlanDocument, access: Access) -> None:
        """Share the plan if it records a new meeting. The plan is already stored: a refusal here (no directory
        entry, a store conflict) is logged and the write still succeeds; repeating the write shares it then."""
        try:
            self.share(receipt, document, access)
        except IssueError as error:
            issue = error.issues[0]
            log.warning("plan %s: not shared (%s at %s)", receipt.plan_id, issue.message_id, issue.expression)

    def share(self, receipt: PlanReceipt, document: PlanDocument, access: Access) -> None:
        versions = self.history.with_previous_meeting(receipt.plan_id)  # the gateway's own look, not the caller's
        if versions.previous is None:
            return  # the plan's first meeting: its participants wrote it
        try:
            directory = self.directory()
        except IssueError:
            log.info("plan %s: no recipient directory configured; the plan is not shared", receipt.plan_id)
            return
        sender = _sender(directory, versions.author)
        if sender is None or sender.signatory is None:
            log.warning("plan %s: its author is not a sender with a signatory in the directory", receipt.plan_id)
            return
        signatory = sender.signatory
        author = Author(signatory.family, signatory.given, signatory.phone, signatory.role_code)
        addressees, notes = self.addressees(document, directory, sender)
        inbound_id = shared_inbound_id(receipt.plan_id, document)
        if addressees and self._already_shared(inbound_id, addressees[0], document):
            return  # a later write of the same meeting's plan (the PDF is not rendered again)
        now = self.clock.now()
        ctx = MappingContext(now=now, new_uuid=self.ids.new_id, header_namespace=self.header_namespace)
        pdf = base64.b64encode(self.render_pdf(document, receipt.plan_id, int(receipt.version_id))).decode("ascii")
        notices: list[NewNotice] = []
        for addressee in addressees:
            shared = SharedPlan(
                receipt.plan_id,
                document,
                party_of(sender, "the plan's author"),
                party_of(addressee.recipient, "a team organisation"),
                author,
                pdf,
            )
            message = care_communication_from_shared_plan(shared, ctx)
            problems = [i for i in (self.check(message) if self.check else ()) if i.severity in ("error", "fatal")]
            if problems:
                log.error(
                    "plan %s: the message to %s breaks its profile (%s at %s); not sent",
                    receipt.plan_id,
                    addressee.recipient.name,
                    problems[0].message_id,
                    problems[0].expression,
                )
                notes.append(f"{addressee.recipient.name}: ikke sendt (beskeden var ikke gyldig)")
                continue
            notices.append(self._notice(addressee.recipient, message, document))
        summary = {
            "input": "plan-shared",
            "source": f"CarePlan/{receipt.plan_id} koordinationsmøde {document.coordination.meeting_date}",
            "notices": [
                # the plan's content (`careplan`): `gateway.services.withdrawals` decides again while it is queued
                {
                    "kind": KIND,
                    "recipient": a.recipient.name,
                    "disclosure": a.reason,
                    "plan": receipt.plan_id,
                    "data": "careplan",
                }
                for a in addressees
            ],
            "notes": notes,
        }
        self._enqueue(inbound_id, notices, now, summary, access)

    def addressees(
        self, document: PlanDocument, directory: RecipientDirectory, sender: SenderOrganisation
    ) -> tuple[list[Addressee], list[str]]:
        """Who gets the plan, and a note for each team organisation that does not (and why)."""
        consent = consent_from_plan(document, self.context)  # organisations are named by SOR code in it
        now = self.clock.now()
        chosen: dict[str, Addressee] = {}
        notes: list[str] = []
        for organisation in _team_organisations(document):
            try:
                recipient = directory.find(
                    sor=organisation.sor, gln=organisation.gln, provider_number=organisation.provider_number
                )
            except IssueError:
                notes.append(f"{organisation.name}: ikke sendt (ingen adresse i modtagerkataloget)")
                continue
            if recipient.sor == sender.sor or recipient.key in chosen:
                continue
            decision = may_disclose(consent, DisclosureRecipient(sor=recipient.sor), "careplan", now)
            if not decision.permit:
                notes.append(f"{organisation.name}: ikke sendt (intet samtykke: {decision.code})")
                continue
            chosen[recipient.key] = Addressee(recipient, f"{decision.code}: {decision.reason}")
        return list(chosen.values()), notes

    def _already_shared(self, inbound_id: str, addressee: Addressee, document: PlanDocument) -> bool:
        citizen = self.citizen_key(document.citizen.cpr)
        recent = self.outbox.recent_for_key(citizen, addressee.recipient.key, KIND, limit=20)
        return any(notice.inbound_message_id == inbound_id for notice in recent)

    def _notice(self, recipient: Recipient, message: Resource, document: PlanDocument) -> NewNotice:
        return NewNotice(
            id=self.ids.new_id(),
            message_header_id=message["entry"][0]["resource"]["id"],
            citizen=self.citizen_key(document.citizen.cpr),
            recipient=recipient.key,
            endpoint=recipient.endpoint,
            message=message,
            kind=KIND,
        )

    def _enqueue(
        self, inbound_id: str, notices: list[NewNotice], now: datetime, summary: dict[str, Any], access: Access
    ) -> None:
        def audit(connection: Connection) -> None:
            tx = SqlResourceTransaction(connection, self.clock)
            for notice in notices:
                detail = f"{KIND} to {notice.recipient} after a coordination meeting ({inbound_id})"
                access.record(tx, AuditRecord("E", "disclose", detail=detail))

        record = InboundRecord("application/fhir+json", summary)
        with self.outbox.engine.connect() as connection:
            connection = connection.execution_options(**{IMMEDIATE: True})
            with connection.begin():
                self.outbox.enqueue_in(connection, inbound_id, notices, now, inbound=record, also=audit)


def _sender(directory: RecipientDirectory, author: str | None) -> SenderOrganisation | None:
    if not author or not author.startswith(SOR_ENDPOINT):
        return None
    try:
        return directory.sender(author.removeprefix(SOR_ENDPOINT))
    except IssueError:
        return None


def _team_organisations(document: PlanDocument) -> list[Organisation]:
    seen: set[tuple[str, str]] = set()
    found = []
    for member in document.team:
        if member.organisation is not None and member.organisation.primary_identifier() not in seen:
            seen.add(member.organisation.primary_identifier())
            found.append(member.organisation)
    return found
