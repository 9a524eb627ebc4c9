"""What one delivery attempt came to: the vocabulary shared by the sender, the policy and the outbox.

`sender.py` translates every httpx error and response into an `AttemptOutcome`; nothing else in the gateway
sees httpx exceptions (the habit of httpx's own transport seam).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from mappings.notices.acknowledgement import Ack


class OutcomeKind(StrEnum):
    DELIVERED = "delivered"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


class Failure(StrEnum):
    """Why an attempt failed; `RetryPolicy.retryable` is a set of these."""

    CONNECT = "connect-error"
    TIMEOUT = "timeout"
    NETWORK = "network-error"  # the connection broke mid-exchange (read/write error, peer closed)
    SERVER_ERROR = "server-error"  # 5xx
    REQUEST_TIMEOUT = "request-timeout"  # 408
    THROTTLED = "throttled"  # 429
    CLIENT_ERROR = "client-error"  # other 4xx
    UNEXPECTED_STATUS = "unexpected-status"  # 1xx/3xx: a misconfigured endpoint
    NEGATIVE_ACK_TRANSIENT = "negative-ack-transient"
    NEGATIVE_ACK_FATAL = "negative-ack-fatal"
    NO_ACK = "no-ack"  # acknowledgement timeout (MedCom: 30 minutes)
    INTERRUPTED = "interrupted"  # the worker was stopped while sending
    UNREADABLE = "unreadable-answer"  # the peer answered something the gateway could not read
    INTERNAL = "internal-error"  # the send itself failed in the gateway (a bug): counted, never looped on


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """Result of one send.

    `retry_after` is the server's `Retry-After`: a delay (delta-seconds) or an instant (HTTP-date), kept
    as given so the policy, which knows `now`, turns it into a due time. `ack` is the acknowledgement carried
    in a 2xx response body, if any; `None` on a delivered outcome means "wait for an asynchronous
    acknowledgement".
    """

    kind: OutcomeKind
    failure: Failure | None = None
    status: int | None = None
    detail: str = ""
    retry_after: timedelta | datetime | None = None
    ack: Ack | None = None

    @classmethod
    def delivered(cls, status: int, ack: Ack | None, detail: str = "") -> AttemptOutcome:
        return cls(OutcomeKind.DELIVERED, None, status, detail, None, ack)

    @classmethod
    def transient(
        cls,
        failure: Failure,
        detail: str,
        *,
        status: int | None = None,
        retry_after: timedelta | datetime | None = None,
        ack: Ack | None = None,
    ) -> AttemptOutcome:
        return cls(OutcomeKind.TRANSIENT, failure, status, detail, retry_after, ack)

    @classmethod
    def permanent(
        cls, failure: Failure, detail: str, *, status: int | None = None, ack: Ack | None = None
    ) -> AttemptOutcome:
        return cls(OutcomeKind.PERMANENT, failure, status, detail, None, ack)

    def describe(self) -> str:
        """One line for operators: `server-error (HTTP 503): Service Unavailable`."""
        head = str(self.failure or self.kind)
        if self.status is not None:
            head += f" (HTTP {self.status})"
        return f"{head}: {self.detail}" if self.detail else head
