"""Token bucket per client: burst, refill, Retry-After, per-client rates; time only from the injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.clock import FixedClock
from gateway.security.rate_limit import RateLimiter
from mappings.issues import IssueError

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_burst_then_wait_for_the_refill() -> None:
    clock = FixedClock(START)
    limiter = RateLimiter(rate_per_minute=60, burst=3, clock=clock)
    assert [limiter.check("a") for _ in range(3)] == [None, None, None]
    assert limiter.check("a") == pytest.approx(1.0)  # 60/min: one token a second
    clock.advance(timedelta(milliseconds=400))
    assert limiter.check("a") == pytest.approx(0.6)
    clock.advance(timedelta(milliseconds=600))
    assert limiter.check("a") is None
    assert limiter.check("a") == pytest.approx(1.0)


def test_refill_never_exceeds_the_burst() -> None:
    clock = FixedClock(START)
    limiter = RateLimiter(rate_per_minute=60, burst=2, clock=clock)
    limiter.check("a")
    clock.advance(timedelta(hours=1))
    assert [limiter.check("a") is None for _ in range(3)] == [True, True, False]


def test_clients_have_separate_buckets_and_own_rates() -> None:
    clock = FixedClock(START)
    limiter = RateLimiter(rate_per_minute=60, burst=1, clock=clock, per_client={"slow": 6})
    assert limiter.check("a") is None and limiter.check("slow") is None
    assert limiter.check("a") == pytest.approx(1.0)
    assert limiter.check("slow") == pytest.approx(10.0)  # 6/min: one token every ten seconds
    assert limiter.check("b") is None


def test_a_clock_stepping_back_does_not_drain_or_fill() -> None:
    clock = FixedClock(START)
    limiter = RateLimiter(rate_per_minute=60, burst=1, clock=clock)
    limiter.check("a")
    clock.advance(timedelta(seconds=-30))
    assert limiter.check("a") == pytest.approx(1.0)


def test_enforce_raises_429_with_retry_after_in_whole_seconds() -> None:
    clock = FixedClock(START)
    limiter = RateLimiter(rate_per_minute=40, burst=1, clock=clock)
    limiter.enforce("a")
    with pytest.raises(IssueError) as caught:
        limiter.enforce("a")
    error = caught.value
    assert (error.status, error.issues[0].code, error.issues[0].message_id) == (429, "throttled", "auth.rate-limited")
    assert error.headers == {"Retry-After": "2"}  # 1.5 s rounded up


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (60, 0)])
def test_nonsense_limits_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst, FixedClock(START))
