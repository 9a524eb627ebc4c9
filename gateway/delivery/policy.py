"""Retry and acknowledgement-timeout rules: pure decisions, given the time and the randomness.

`RetryPolicy.decide` is procrastinate's `RetryStrategy.get_schedule_in` made pure: it never reads the wall
clock and takes its jitter from the `random.Random` it is handed, so a table of cases pins it down.

Backoff: the n-th failed attempt waits `min(cap, base_delay * 2**(n-1))`, multiplied by a factor drawn
uniformly from `[1 - jitter, 1]` ("equal jitter" below the cap, so jitter never exceeds the cap). A server's
`Retry-After` (RFC 9110 §10.2.3) raises the wait to what it asked for, bounded by `retry_after_cap` so one
misconfigured server cannot park a notice for a year.

`AckTimeoutPolicy` is MedCom's reliable-messaging rule (MedCom-FHIR-Communication, "reliable messaging"):
a sender MAY resend a message after 30 minutes without an acknowledgement, at most twice, each time with the
same `MessageHeader.id` and a new `Bundle.id` and sent time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from gateway.delivery.outcome import AttemptOutcome, Failure, OutcomeKind

#: Transient by nature; `client-error`, `negative-ack-fatal` and `unexpected-status` are not retried.
DEFAULT_RETRYABLE: frozenset[Failure] = frozenset(
    {
        Failure.CONNECT,
        Failure.TIMEOUT,
        Failure.NETWORK,
        Failure.SERVER_ERROR,
        Failure.REQUEST_TIMEOUT,
        Failure.THROTTLED,
        Failure.NEGATIVE_ACK_TRANSIENT,
        Failure.INTERRUPTED,
    }
)


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """Try again: attempt number `attempt` is due at `due_at` (= now + `delay`)."""

    attempt: int
    due_at: datetime
    delay: timedelta


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay: timedelta = timedelta(seconds=5)
    cap: timedelta = timedelta(minutes=15)
    jitter: float = 0.2
    retryable: frozenset[Failure] = field(default=DEFAULT_RETRYABLE)
    honour_retry_after: bool = True
    retry_after_cap: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or not 0.0 <= self.jitter <= 1.0 or self.base_delay < timedelta(0):
            raise ValueError("RetryPolicy needs max_attempts >= 1, 0 <= jitter <= 1 and a non-negative delay")

    def decide(self, attempt: int, outcome: AttemptOutcome, now: datetime, rng: random.Random) -> RetryDecision | None:
        """After failed attempt number `attempt` (1-based): when to try again, or `None` to dead-letter.

        `None` when the failure is permanent, not in `retryable`, or the budget of `max_attempts` is spent.
        Use: `decision = policy.decide(notice.attempts, outcome, clock.now(), rng)`.
        """
        if outcome.kind is OutcomeKind.DELIVERED:
            raise ValueError("decide() is for failed attempts; a delivered notice needs no retry")
        if outcome.kind is OutcomeKind.PERMANENT or outcome.failure not in self.retryable:
            return None
        if attempt >= self.max_attempts:
            return None
        delay = self.backoff(attempt, rng)
        if self.honour_retry_after and outcome.retry_after is not None:
            asked = outcome.retry_after
            wanted = asked - now if isinstance(asked, datetime) else asked
            delay = max(delay, min(wanted, self.retry_after_cap))
        return RetryDecision(attempt=attempt + 1, due_at=now + delay, delay=delay)

    def backoff(self, attempt: int, rng: random.Random) -> timedelta:
        # Exponent bounded so huge attempt numbers cannot overflow timedelta before the cap applies.
        raw = min(self.cap, self.base_delay * (1 << min(max(attempt - 1, 0), 40)))
        return raw * (1.0 - self.jitter * rng.random())


class AckVerdict(StrEnum):
    WAIT = "wait"
    RESEND = "resend"
    GIVE_UP = "give-up"


@dataclass(frozen=True, slots=True)
class AckTimeoutPolicy:
    """MedCom: resend after `timeout` without an acknowledgement, at most `max_resends` times."""

    timeout: timedelta = timedelta(minutes=30)
    max_resends: int = 2

    def deadline(self, sent_at: datetime) -> datetime:
        """When a notice sent at `sent_at` is overdue for its acknowledgement."""
        return sent_at + self.timeout

    def verdict(self, sent_at: datetime, resends: int, now: datetime) -> AckVerdict:
        """For a notice sent at `sent_at`, resent `resends` times so far, still unacknowledged at `now`."""
        if now < self.deadline(sent_at):
            return AckVerdict.WAIT
        return AckVerdict.RESEND if resends < self.max_resends else AckVerdict.GIVE_UP
