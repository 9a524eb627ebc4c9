"""An XDIS91 and the XBIN01 binaries it references, put together before the letter becomes a CareCommunication.

The two arrive as separate messages, in either order. MedCom's conversion service waits 60 minutes for the other
half (`UseCases-VANSKonverteringslosning_200126.pdf`, version 3.1.0, §4.5 "Tidsgrænser"; use cases S1.A2 "XDIS91 er
modtaget, men XBIN01 modtages ikke indenfor 60 min." and S1.A3, the other way round). The gateway does the same,
for `wait` (`GATEWAY_XBIN01_WAIT_SECONDS`, default 3600):
- a letter whose binaries are not all here is **held** (`SqlHoldingArea`, visible in `GET /messages`);
- a binary is kept until a letter from the same sender (EANIdentifier) references its objects;
- when the last half arrives, the letter is converted with its binaries and enqueued like any input, the held
  rows marked completed in the same transaction;
- past the deadline a held letter is **refused** with the reason (which objects never came). MedCom then sends the
  letter on with an empty attachment that the receiver must reject; the gateway refuses it itself instead, so the
  sender hears why, and a letter is never a notice with a hole in it.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection

from gateway.delivery.outbox import NoticeRecord
from gateway.fhir.access import Access
from gateway.inbound import DEFAULT_LIMITS, parse_oioxml
from gateway.services.results import Document, IntakeResult, inbound_id
from gateway.store.held import HeldRecord, SqlHoldingArea
from mappings.documents.discharge import BinaryLetter, BinaryObject, Correspondence, object_key
from mappings.issues import IssueError
from mappings.notices.correspondence import missing_binaries

MEDCOM_WAIT = "MedCom's conversion service waits 60 minutes (VANS conversion use cases 3.1.0, §4.5)"
Write = Callable[[Connection], None]


class Intake(Protocol):
    """What the assembly needs of intake: the time, parsing, and enqueueing a complete letter."""

    def now(self) -> datetime: ...

    def parse(self, body: bytes, content_type: str) -> tuple[str, Document]: ...

    def enqueue_letter(
        self,
        letter: Correspondence,
        body: bytes,
        content_type: str,
        access: Access,
        binaries: tuple[BinaryObject, ...],
        also: Write,
    ) -> Awaitable[IntakeResult]: ...


@dataclass(frozen=True)
class Assembly:
    holding: SqlHoldingArea
    wait: timedelta

    def expired_reason(self, record: HeldRecord) -> str:
        minutes = int(self.wait.total_seconds() // 60)
        if record.kind == "letter":
            return (
                f"refused: the XBIN01 binary objects the letter references ({', '.join(record.object_keys)}) did "
                f"not all arrive within {minutes} minutes of it ({MEDCOM_WAIT}); send the letter and its XBIN01 again"
            )
        return (
            f"refused: no XDIS91 referencing its objects ({', '.join(record.object_keys)}) arrived within {minutes} "
            f"minutes ({MEDCOM_WAIT})"
        )

    async def accept_letter(
        self, intake: Intake, letter: Correspondence, body: bytes, content_type: str, access: Access
    ) -> IntakeResult:
        now = intake.now()
        message_id = inbound_id(letter)
        held = await self.holding.get(message_id)
        if held is not None and held.state_at(now) == "refused":
            await self.holding.refuse(message_id, held.reason or self.expired_reason(held))
            raise IssueError.single(
                "business-rule",
                held.reason or self.expired_reason(held),
                expression="/Emessage/ClinicalEmail/Reference",
                message_id="intake.xbin01-timeout",
                status=422,
            )
        rows, binaries = await self._binaries_for(letter, now)
        missing = missing_binaries(letter, binaries)
        if missing:
            record = HeldRecord(
                id=message_id,
                kind="letter",
                sender=_sender_key(letter.sender.gln, letter.sender.sor),
                object_keys=tuple(object_key(ref.object_identifier) for ref in letter.references),
                content_type=content_type,
                body=base64.b64encode(body).decode("ascii"),
                received_at=now,
                expires_at=now + self.wait,
                state="held",
                reason=f"waiting for XBIN01 object(s) {', '.join(missing)}",
                poster=access.author,
            )
            created = await self.holding.hold(record)
            note = (
                f"held: the letter references XBIN01 object(s) {', '.join(missing)} not yet received; it waits "
                f"until {(held or record).expires_at.isoformat()} and then is refused"
            )
            return IntakeResult(message_id, created, "oioxml", (), (note,), state="held")
        completed = [row.id for row in rows] + ([message_id] if held is not None else [])
        return await intake.enqueue_letter(
            letter, body, content_type, access, binaries, _completing(completed, message_id)
        )

    async def accept_binary(
        self, intake: Intake, binary: BinaryLetter, body: bytes, content_type: str, access: Access
    ) -> IntakeResult:
        now = intake.now()
        message_id = inbound_id(binary)
        sender = _sender_key(binary.sender.gln, binary.sender.sor)
        record = HeldRecord(
            id=message_id,
            kind="binary",
            sender=sender,
            object_keys=tuple(item.key for item in binary.objects),
            content_type=content_type,
            body=base64.b64encode(body).decode("ascii"),
            received_at=now,
            expires_at=now + self.wait,
            state="held",
            reason="waiting for the XDIS91 that references its objects",
            poster=access.author,
        )
        if not await self.holding.hold(record):
            return IntakeResult(message_id, False, "oioxml", (), ("already received; nothing new",), state="held")
        notices: list[NoticeRecord] = []
        notes: list[str] = []
        for letter_row in await self.holding.pending(sender, "letter"):
            if not set(letter_row.object_keys) & set(record.object_keys):
                continue
            if letter_row.state_at(now) == "refused":
                await self.holding.refuse(letter_row.id, self.expired_reason(letter_row))
                notes.append(f"the letter {letter_row.id} these objects belong to was refused: its time ran out")
                continue
            _kind, letter = intake.parse(base64.b64decode(letter_row.body), letter_row.content_type)
            assert isinstance(letter, Correspondence)
            rows, binaries = await self._binaries_for(letter, now)
            missing = missing_binaries(letter, binaries)
            if missing:
                notes.append(f"the letter {letter_row.id} still waits for XBIN01 object(s) {', '.join(missing)}")
                continue
            completed = [row.id for row in rows] + [letter_row.id]
            result = await intake.enqueue_letter(
                letter,
                base64.b64decode(letter_row.body),
                letter_row.content_type,
                access,
                binaries,
                _completing(completed, letter_row.id),
            )
            notices += result.notices
            notes.append(f"completes the letter {letter_row.id}: its CareCommunication is in the outbox")
        if not notices and not notes:
            notes.append("held: waiting for the XDIS91 that references its objects")
        return IntakeResult(
            message_id, True, "oioxml", tuple(notices), tuple(notes), state="accepted" if notices else "held"
        )

    async def _binaries_for(
        self, letter: Correspondence, now: datetime
    ) -> tuple[list[HeldRecord], tuple[BinaryObject, ...]]:
        """The held binaries of the letter's sender that carry objects it references, and those objects."""
        wanted = {object_key(ref.object_identifier) for ref in letter.references}
        rows: list[HeldRecord] = []
        objects: list[BinaryObject] = []
        for row in await self.holding.pending(_sender_key(letter.sender.gln, letter.sender.sor), "binary"):
            if row.state_at(now) == "refused" or not wanted & set(row.object_keys):
                continue
            parsed = parse_oioxml(base64.b64decode(row.body), limits=DEFAULT_LIMITS)
            assert isinstance(parsed, BinaryLetter)
            rows.append(row)
            objects += [item for item in parsed.objects if item.key in wanted]
        return rows, tuple(objects)


def _sender_key(gln: str | None, sor: str | None) -> str:
    return gln or sor or ""


def _completing(held_ids: list[str], letter_id: str) -> Write:
    def write(connection: Connection) -> None:
        SqlHoldingArea.complete(connection, held_ids, f"completed: the letter {letter_id} became a notice")

    return write
