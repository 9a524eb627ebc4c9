"""The outbox: notices waiting to be delivered, their attempts and acknowledgements (Protocol + records).

States (mirrored by the `outbox_notice.state` column of the SQL outbox)::

    pending ──claim──▶ sending ──Acknowledge──▶ acknowledged
       ▲                 │  └──AwaitAck──▶ sent ──record_ack(ok)──▶ acknowledged
       │                 │                  │ └──ack timeout: resend──▶ pending
       └──Retry──────────┤                  └──record_ack(error) / give up──▶ dead
                         └──DeadLetter──▶ dead ──retry_dead / correct──▶ pending
                                           └──skip──▶ skipped

Rules every implementation keeps (the contract suite `tests/gateway/delivery/outbox_contract.py` checks them):

* **Enqueue dedupe**: the notices of one inbound message are enqueued together under its id; enqueueing the
  same inbound id again creates nothing and returns the original notices (`EnqueueResult.created = False`).
  A `message_header_id` or notice id used before is a conflict.
* **Per-citizen order is a rule**: the notices of one ordering key `(citizen, recipient)` form a queue in
  enqueue order. Its *open* notices are the `pending`, `sending` and `dead` ones; `sent`, `acknowledged` and
  `skipped` ones have left it. Only one notice of a key is ever `sending`. A claim takes, per key, the
  `sending` notice whose lease expired (a stalled send is taken up again first), else the oldest open notice
  when it is `pending` and due. A `dead` head holds the queue: later notices wait ("held behind a dead
  notice", `NoticeRecord.held_behind`) until an operator revives it (`retry_dead`, `correct`) or gives it up
  explicitly (`skip`). Across keys, the key that became ready first is served first.
* **Record**: `record_attempt` always logs the attempt; it applies the step only when the claim's token still
  owns the lease (a worker whose lease expired and was re-claimed cannot overwrite the newer outcome).
* **Resend** keeps `MessageHeader.id`; the worker gives each send a new `Bundle.id` and sent time (MedCom).
  `attempts` counts attempts since the notice last (re)entered `pending` by resend, `retry_dead` or
  `correct`, and is what the `RetryPolicy` budget applies to.
* **A refusal is final for its MessageHeader.id**: a notice dead by a `fatal-error` acknowledgement is never
  retried (a receiver answers a resend with its original acknowledgement, MedCom reliable messaging); it is
  corrected (`correct`: a new `MessageHeader.id`, same place in its queue) or skipped.

All times are passed in (`now`), so implementations never read a clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from gateway.delivery.outcome import OutcomeKind
from mappings.issues import IssueError
from mappings.notices.acknowledgement import AckCode


class NoticeState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    DEAD = "dead"
    SKIPPED = "skipped"


#: States in which a notice still occupies its place in its `(citizen, recipient)` queue.
OPEN_STATES = (NoticeState.PENDING, NoticeState.SENDING, NoticeState.DEAD)


@dataclass(frozen=True, slots=True)
class NewNotice:
    """A notice to enqueue. `citizen` and `recipient` form the ordering key (use stable keys, e.g. a
    pseudonymous citizen key and the directory key `sor:<code>`); `message` is the MedCom Bundle as built."""

    id: str
    message_header_id: str
    citizen: str
    recipient: str
    endpoint: str
    message: dict[str, Any]
    kind: str = ""


@dataclass(frozen=True, slots=True)
class AckRecord:
    """An acknowledgement received for a notice (the latest one is kept on the notice)."""

    message_header_id: str
    bundle_id: str
    code: AckCode
    received_at: datetime
    reason: str = ""

    @property
    def positive(self) -> bool:
        return self.code == "ok"


@dataclass(frozen=True, slots=True)
class NoticeRecord:
    id: str
    inbound_message_id: str
    message_header_id: str
    citizen: str
    recipient: str
    endpoint: str
    kind: str
    message: dict[str, Any]
    state: NoticeState
    sequence: int
    created_at: datetime
    due_at: datetime | None = None
    lease_expires_at: datetime | None = None
    attempts: int = 0
    resends: int = 0
    sent_at: datetime | None = None
    ack_due_at: datetime | None = None
    last_error: str | None = None
    ack: AckRecord | None = None
    #: The id of the dead notice this pending one waits behind (its key's queue is held), else None.
    held_behind: str | None = None
    #: The `MessageHeader.id` this notice's message corrects (it was refused under that id), else None.
    corrects: str | None = None

    @property
    def refused(self) -> bool:
        """Dead by a `fatal-error` acknowledgement: resending the same MessageHeader.id cannot help."""
        return self.state is NoticeState.DEAD and self.ack is not None and self.ack.code == "fatal-error"


@dataclass(frozen=True, slots=True)
class RecentNotice:
    """A notice of one ordering key as a look back over its queue reads it (`SqlOutbox.recent_for_key`): its ids
    only. Intake looks for a stay's earlier notice among up to 50 of them and usually finds it at the first, so it
    reads that one's message alone (`SqlOutbox.stored_message`): reading and parsing all 50 made a discharge cost
    what the citizen's history weighs (with 60 earlier notices an A03's mapping took 62 ms; now 3 ms)."""

    id: str
    inbound_message_id: str
    message_header_id: str


@dataclass(frozen=True, slots=True)
class Attempt:
    """One send as the worker saw it; the outbox numbers it (`AttemptRecord.number`)."""

    bundle_id: str
    started_at: datetime
    finished_at: datetime
    outcome: OutcomeKind
    failure: str | None = None
    status: int | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    notice_id: str
    number: int
    attempt: Attempt


@dataclass(frozen=True, slots=True)
class NoticeDetail:
    notice: NoticeRecord
    attempts: tuple[AttemptRecord, ...]


@dataclass(frozen=True, slots=True)
class Claim:
    notice: NoticeRecord
    token: str


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    created: bool
    notices: tuple[NoticeRecord, ...]


@dataclass(frozen=True, slots=True)
class Acknowledge:
    """Delivered and positively acknowledged in the response: done."""

    ack: AckRecord


@dataclass(frozen=True, slots=True)
class AwaitAck:
    """Delivered without an acknowledgement: `sent` until one arrives or `ack_due_at` passes."""

    ack_due_at: datetime


@dataclass(frozen=True, slots=True)
class Retry:
    due_at: datetime


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: str
    ack: AckRecord | None = None


NextStep = Acknowledge | AwaitAck | Retry | DeadLetter


class Outbox(Protocol):
    async def enqueue(self, inbound_message_id: str, notices: Sequence[NewNotice], now: datetime) -> EnqueueResult:
        """Record one inbound message's notices, `pending` and due `now`; a repeat returns the originals."""
        ...

    async def claim(self, now: datetime, lease: timedelta, token: str) -> Claim | None:
        """The next deliverable notice, now `sending` under `token` until `now + lease`; `None` if none is."""
        ...

    async def record_attempt(self, claim: Claim, attempt: Attempt, step: NextStep) -> bool:
        """Log `attempt` and apply `step`; `False` if the claim lost its lease (attempt logged, step not)."""
        ...

    async def record_ack(self, acknowledged_header_id: str, ack: AckRecord) -> NoticeRecord | None:
        """An acknowledgement that arrived on its own; `None` if no notice has that `MessageHeader.id`."""
        ...

    async def notice_for_header(self, header_id: str) -> NoticeRecord | None:
        """The notice whose message has `MessageHeader.id` `header_id`, or None."""
        ...

    async def overdue_acks(self, now: datetime, limit: int) -> list[NoticeRecord]:
        """`sent` notices whose acknowledgement is overdue (`ack_due_at <= now`), oldest first."""
        ...

    async def resend(
        self, notice_id: str, now: datetime, *, overdue: NoticeRecord | None = None, ack: AckRecord | None = None
    ) -> NoticeRecord:
        """Back to `pending` (from sent/acknowledged/dead) keeping `MessageHeader.id`; counts a resend.
        `overdue`: the notice as a worker read it among the overdue acknowledgements; then nothing changes unless
        it is still that send (`still_overdue`), so two workers acting on one read resend it once. `ack`: the
        `transient-error` acknowledgement that asked for it, kept as the notice's `ack`, so a copy of it that
        arrives after the resend went out is known (its `Bundle.id`) and sends nothing again."""
        ...

    async def dead_letter(
        self, notice_id: str, reason: str, now: datetime, *, overdue: NoticeRecord | None = None
    ) -> NoticeRecord:
        """Give up on a `pending` or `sent` notice (e.g. no acknowledgement after the last resend); `overdue` as
        for `resend`."""
        ...

    async def withhold(self, notice_id: str, reason: str, now: datetime, *, token: str | None = None) -> NoticeRecord:
        """Never send a `pending`, `sent` or `dead` notice (or one `sending` under `token`) because what it carries
        may no longer go to its recipient (a withdrawn or expired consent): `skipped` with `reason`, so that it does
        not hold the later notices of its queue as a dead one would."""
        ...

    async def retry_dead(self, now: datetime, notice_ids: Sequence[str] | None = None) -> list[NoticeRecord]:
        """Dead notices (all, or those named) back to `pending` with a fresh attempt budget. Refused ones
        (`NoticeRecord.refused`) are left dead when not named, and a conflict when named."""
        ...

    async def skip(self, notice_id: str, reason: str, now: datetime) -> NoticeRecord:
        """Give up on a dead notice for good (`skipped`): the notices held behind it go on."""
        ...

    async def correct(self, notice_id: str, message: dict[str, Any], now: datetime) -> NoticeRecord:
        """A dead notice becomes `message` (a corrected message with a new `MessageHeader.id`), `pending` at
        its old place in its queue; `corrects` keeps the refused `MessageHeader.id`."""
        ...

    async def repair(self, now: datetime, limit: int = 500) -> int:
        """Make derived bookkeeping (the SQL outbox's queue rows) agree with the notices again after writers that
        did not keep it, such as an older gateway during a rolling upgrade; returns how many keys it fixed."""
        ...

    async def get(self, notice_id: str) -> NoticeDetail | None:
        """A notice with its attempts; `None` if unknown."""
        ...

    async def list_notices(
        self, state: NoticeState | None = None, *, limit: int = 50, offset: int = 0
    ) -> list[NoticeRecord]:
        """Notices in enqueue order, optionally only those in `state`."""
        ...

    async def for_inbound(self, inbound_message_id: str) -> list[NoticeRecord]:
        """The notices made from one inbound message (empty if unknown)."""
        ...


# -- rules every implementation applies the same way --------------------------------------------------------


def require_resendable(current: NoticeRecord) -> None:
    """A notice may be sent again unless it is on its way already, or its receiver refused it (then it is
    corrected or skipped, not resent unchanged)."""
    if current.state in (NoticeState.PENDING, NoticeState.SENDING):
        raise IssueError.single(
            "conflict",
            f"notice {current.id} is {current.state}: it is already on its way",
            message_id="outbox.not-resendable",
        )
    refuse_if_refused(current, "sent again")


def still_overdue(current: NoticeRecord, read: NoticeRecord, now: datetime) -> bool:
    """Whether `current` is still the send `read` was when a worker found its acknowledgement overdue: another
    worker may have resent it (or it was acknowledged) in between."""
    return (
        current.state is NoticeState.SENT
        and current.sent_at == read.sent_at
        and current.resends == read.resends
        and current.ack_due_at is not None
        and current.ack_due_at <= now
    )


def require_withholdable(current: NoticeRecord, lease_token: str | None, token: str | None) -> None:
    """A notice may be withheld while it waits (pending, sent awaiting its acknowledgement and perhaps a resend, or
    dead awaiting an operator), or while the worker holding its lease decides not to send it."""
    waiting = current.state in (NoticeState.PENDING, NoticeState.SENT, NoticeState.DEAD)
    claimed_by_caller = current.state is NoticeState.SENDING and token is not None and lease_token == token
    if not (waiting or claimed_by_caller):
        raise IssueError.single(
            "conflict",
            f"notice {current.id} is {current.state}; only a waiting notice can be withheld",
            message_id="outbox.not-withholdable",
        )


def require_dead(current: NoticeRecord, what: str) -> None:
    if current.state is not NoticeState.DEAD:
        raise IssueError.single(
            "conflict",
            f"notice {current.id} is {current.state}; only a dead notice can be {what}",
            message_id="outbox.not-dead",
        )


def refuse_if_refused(current: NoticeRecord, what: str) -> None:
    """MedCom: a receiver answers a resend of a MessageHeader.id with its original acknowledgement, so a notice
    refused with `fatal-error` would be refused again: it must be corrected (a new message) or skipped."""
    if current.refused:
        raise IssueError.single(
            "conflict",
            f"notice {current.id} was refused by its receiver (fatal-error) and cannot be {what} unchanged: "
            "correct it (a new message) or skip it",
            message_id="outbox.refused",
        )


def message_header_id(message: dict[str, Any]) -> str:
    try:
        header_id = message["entry"][0]["resource"]["id"]
    except (KeyError, IndexError, TypeError):
        header_id = None
    if not isinstance(header_id, str) or not header_id:
        raise IssueError.single(
            "required",
            "a message Bundle needs a MessageHeader with an id as its first entry",
            expression="Bundle.entry[0].resource.id",
            message_id="outbox.no-message-header",
        )
    return header_id
