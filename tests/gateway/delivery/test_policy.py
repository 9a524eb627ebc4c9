"""RetryPolicy and AckTimeoutPolicy as tables: given attempt, outcome, now and a seeded rng, what happens."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from gateway.delivery.outcome import AttemptOutcome, Failure, OutcomeKind
from gateway.delivery.policy import AckTimeoutPolicy, AckVerdict, RetryDecision, RetryPolicy

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)
NO_JITTER = RetryPolicy(max_attempts=5, base_delay=10 * S, cap=60 * S, jitter=0.0)


def _transient(
    failure: Failure = Failure.SERVER_ERROR, retry_after: timedelta | datetime | None = None
) -> AttemptOutcome:
    return AttemptOutcome.transient(failure, "x", status=503, retry_after=retry_after)


@pytest.mark.parametrize(
    ("attempt", "outcome", "expected_delay"),
    [
        (1, _transient(), 10 * S),
        (2, _transient(), 20 * S),
        (3, _transient(), 40 * S),
        (4, _transient(), 60 * S),  # capped (80 s)
        (5, _transient(), None),  # budget spent
        (9, _transient(), None),
        (1, _transient(Failure.CONNECT), 10 * S),
        (1, _transient(Failure.TIMEOUT), 10 * S),
        (1, _transient(Failure.NETWORK), 10 * S),
        (1, _transient(Failure.THROTTLED), 10 * S),
        (1, _transient(Failure.REQUEST_TIMEOUT), 10 * S),
        (1, _transient(Failure.NEGATIVE_ACK_TRANSIENT), 10 * S),
        (1, AttemptOutcome.permanent(Failure.CLIENT_ERROR, "bad request", status=400), None),
        (1, AttemptOutcome.permanent(Failure.NEGATIVE_ACK_FATAL, "fatal-error"), None),
        # Retry-After (delta-seconds or HTTP-date): wait at least that long, never less than the backoff.
        (1, _transient(Failure.THROTTLED, retry_after=120 * S), 120 * S),
        (1, _transient(Failure.THROTTLED, retry_after=2 * S), 10 * S),
        (1, _transient(Failure.THROTTLED, retry_after=NOW + 300 * S), 300 * S),
        (1, _transient(Failure.THROTTLED, retry_after=NOW - 300 * S), 10 * S),
        (1, _transient(Failure.THROTTLED, retry_after=timedelta(days=400)), timedelta(hours=1)),
    ],
)
def test_retry_decisions_without_jitter(
    attempt: int, outcome: AttemptOutcome, expected_delay: timedelta | None
) -> None:
    decision = NO_JITTER.decide(attempt, outcome, NOW, random.Random(1))
    if expected_delay is None:
        assert decision is None
    else:
        assert decision == RetryDecision(attempt=attempt + 1, due_at=NOW + expected_delay, delay=expected_delay)


def test_failure_left_out_of_retryable_goes_to_dead_letter() -> None:
    strict = RetryPolicy(retryable=frozenset({Failure.CONNECT}))
    assert strict.decide(1, _transient(Failure.SERVER_ERROR), NOW, random.Random(0)) is None
    assert strict.decide(1, _transient(Failure.CONNECT), NOW, random.Random(0)) is not None


def test_retry_after_ignored_when_policy_says_so() -> None:
    policy = RetryPolicy(base_delay=10 * S, jitter=0.0, honour_retry_after=False)
    decision = policy.decide(1, _transient(Failure.THROTTLED, retry_after=600 * S), NOW, random.Random(0))
    assert decision is not None and decision.delay == 10 * S


@pytest.mark.parametrize("seed", range(20))
def test_jitter_stays_within_its_band_and_below_the_cap(seed: int) -> None:
    policy = RetryPolicy(max_attempts=20, base_delay=10 * S, cap=60 * S, jitter=0.5)
    for attempt in range(1, 10):
        decision = policy.decide(attempt, _transient(), NOW, random.Random(seed))
        assert decision is not None
        full = min(60 * S, 10 * S * 2 ** (attempt - 1))
        assert full * 0.5 <= decision.delay <= full


def test_same_seed_gives_same_schedule() -> None:
    policy = RetryPolicy(jitter=1.0)
    first = [policy.decide(n, _transient(), NOW, random.Random(42)) for n in range(1, 5)]
    second = [policy.decide(n, _transient(), NOW, random.Random(42)) for n in range(1, 5)]
    assert first == second


def test_delivered_outcome_is_not_a_retry_question() -> None:
    with pytest.raises(ValueError):
        NO_JITTER.decide(1, AttemptOutcome(OutcomeKind.DELIVERED), NOW, random.Random(0))


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"jitter": 1.5}, {"jitter": -0.1}, {"base_delay": -S}])
def test_nonsense_policies_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


MIN = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("elapsed", "resends", "verdict"),
    [
        (0 * MIN, 0, AckVerdict.WAIT),
        (29 * MIN, 0, AckVerdict.WAIT),
        (30 * MIN, 0, AckVerdict.RESEND),
        (31 * MIN, 1, AckVerdict.RESEND),
        (31 * MIN, 2, AckVerdict.GIVE_UP),
        (29 * MIN, 2, AckVerdict.WAIT),
    ],
)
def test_medcom_ack_timeout_resends_twice_after_thirty_minutes(
    elapsed: timedelta, resends: int, verdict: AckVerdict
) -> None:
    assert AckTimeoutPolicy().verdict(NOW, resends, NOW + elapsed) is verdict


def test_ack_timeout_is_configurable() -> None:
    policy = AckTimeoutPolicy(timeout=5 * MIN, max_resends=0)
    assert policy.deadline(NOW) == NOW + 5 * MIN
    assert policy.verdict(NOW, 0, NOW + 5 * MIN) is AckVerdict.GIVE_UP
