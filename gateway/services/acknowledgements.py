"""A MedCom Acknowledgement a receiver sends as a message of its own (`POST /messages`, `$process-message`).

MedCom receivers acknowledge every message, and need not do it in the HTTP answer: the acknowledgement may come
later, as a message to the sender. Taken in here, it completes its notice as an acknowledgement in the answer
does (`Worker._next_step`): `ok` acknowledges it, `fatal-error` refuses it (dead, to be corrected or skipped),
`transient-error` sends it again (HL7 R4 response-code: "wait and try again"; a resend, so MedCom's two at most).

Only the notice's receiver may acknowledge it: with a caller, the notice must be one sent to the caller's
organisation (`sor:<code>`), or to one the caller may send messages for (`sends_as`: an integration engine
answering for its departments), else the answer is the one for a notice that does not exist. The same
acknowledgement twice (its `Bundle.id`) changes nothing; a later one counts (a positive acknowledgement that
arrives after the notice was given up for want of one acknowledges it).
"""

from __future__ import annotations

from gateway.clock import Clock
from gateway.delivery.outbox import AckRecord, NoticeState
from gateway.delivery.outbox_sql import SqlOutbox
from gateway.fhir.access import Access, AuditRecord, Denied
from gateway.services.results import IntakeResult
from mappings.issues import IssueError
from mappings.notices.acknowledgement import Ack


async def take_acknowledgement(outbox: SqlOutbox, ack: Ack, access: Access, clock: Clock) -> IntakeResult:
    now = clock.now()
    notice = await outbox.notice_for_header(ack.acknowledged_id)
    if notice is None or not _received_by(access, notice.recipient):
        raise IssueError.single(
            "not-found",
            f"no notice this gateway sent to you has MessageHeader.id {ack.acknowledged_id[:64]!r}",
            expression="Bundle.entry[0].resource.response.identifier",
            message_id="intake.ack-unknown",
            status=404,
        )
    record = AckRecord(ack.message_header_id, ack.bundle_id, ack.code, now, ack.reason())
    if notice.ack is not None and notice.ack.bundle_id == ack.bundle_id:
        pass  # this very acknowledgement again (the same Bundle.id): taken already, a transient one too
    elif ack.code != "transient-error":
        notice = await outbox.record_ack(ack.acknowledged_id, record) or notice  # found above as sent to the caller
    elif notice.state is NoticeState.SENT:  # waiting for this very acknowledgement: send it again
        notice = await outbox.resend(notice.id, now, ack=record)
    said = f"acknowledgement {ack.code} of notice {notice.id}: {notice.state.value}"
    if access.audits:
        access.record_alone(AuditRecord("U", "update", detail=said))
    return IntakeResult(ack.bundle_id, True, "fhir", (notice,), (said,), state=notice.state.value, stored=False)


def _received_by(access: Access, recipient: str) -> bool:
    """Whether the caller answers for the notice's receiver (`sor:<code>`): its own organisation, or one it may
    send for. An acknowledgement is a message in the receiver's name, so the rule of `Access.require_sender`."""
    if access.author is None:
        return True
    kind, _, code = recipient.partition(":")
    try:
        access.require_sender(code if kind == "sor" else "", "Bundle.entry[0].resource.response.identifier")
    except Denied:
        return False
    return True
