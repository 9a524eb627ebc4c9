"""What intake answers: the result of taking an input in, and of previewing it (`gateway convert`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from gateway.delivery.outbox import NoticeRecord
from gateway.services.planning import PlannedNotice
from gateway.services.stay_notices import Withheld
from mappings.documents.discharge import (
    AdtEvent,
    BinaryLetter,
    CareCommunicationMessage,
    Correspondence,
    DischargeLetter,
)
from mappings.issues import Issue
from mappings.uuids import uuid5_text

INBOUND_NAMESPACE = uuid.UUID("8f4f3c1e-2b0a-5d59-9a3e-6c1b8e2d4f70")
Document = AdtEvent | Correspondence | DischargeLetter | BinaryLetter | CareCommunicationMessage


def inbound_id(document: Document) -> str:
    """The inbound message id: a UUID v5 of the input's own identity (`source_key`)."""
    return uuid5_text(INBOUND_NAMESPACE, document.source_key)


@dataclass(frozen=True)
class Preview:
    """What an input would become: its notices (each with its explanation when asked for), what would be
    withheld and why, notes, the profile issues of each notice (same order), and whether the preview had no
    recipient directory (then organisations carry only the identifiers the input gives)."""

    notices: tuple[PlannedNotice, ...]
    withheld: tuple[Withheld, ...] = ()
    notes: tuple[str, ...] = ()
    issues: tuple[tuple[Issue, ...], ...] = ()
    offline: bool = False


@dataclass(frozen=True)
class IntakeResult:
    message_id: str
    created: bool
    input_kind: str
    notices: tuple[NoticeRecord, ...]
    notes: tuple[str, ...] = ()
    adt: AdtEvent | None = field(default=None, compare=False)
    withheld: tuple[Withheld, ...] = ()
    #: `held` while an XDIS91 waits for its XBIN01 binaries (or a binary for its letter); else `accepted`.
    state: str = "accepted"
    #: Kept as a message of its own (`GET /messages/{message_id}`); an acknowledgement only completes its notice.
    stored: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "created": self.created,
            "input": self.input_kind,
            "state": self.state,
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
            "withheld": [w.to_json() for w in self.withheld],
            "notes": list(self.notes),
        }
