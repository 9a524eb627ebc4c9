"""Token bucket per client: burst, refill, Retry-After, per-client rates; time only from the injected clock.

One contract, two implementations: the buckets in this process (`RateLimiter`) and in Redis, shared by every
gateway instance (`RedisRateLimiter`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from gateway.clock import FixedClock
from gateway.security.rate_limit import Limiter, RateLimiter, RedisRateLimiter
from mappings.issues import IssueError

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
Make = Callable[..., Limiter]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def make(request: pytest.FixtureRequest) -> Make:
    if request.param == "memory":
        return RateLimiter
    prefix = request.getfixturevalue("redis_prefix")
    client = redis.Redis.from_url(request.getfixturevalue("redis_server"))
    request.addfinalizer(client.close)

    def redis_limiter(rate: float, burst: int, clock: FixedClock, **kwargs: Any) -> Limiter:
        return RedisRateLimiter(client, rate, burst, clock, prefix=prefix, **kwargs)

    return redis_limiter


def test_burst_then_wait_for_the_refill(make: Make) -> None:
    clock = FixedClock(START)
    limiter = make(60, 3, clock)
    assert [limiter.check("a") for _ in range(3)] == [None, None, None]
    assert limiter.check("a") == pytest.approx(1.0)  # 60/min: one token a second
    clock.advance(timedelta(milliseconds=400))
    assert limiter.check("a") == pytest.approx(0.6)
    clock.advance(timedelta(milliseconds=600))
    assert limiter.check("a") is None
    assert limiter.check("a") == pytest.approx(1.0)


def test_refill_never_exceeds_the_burst(make: Make) -> None:
    clock = FixedClock(START)
    limiter = make(60, 2, clock)
    limiter.check("a")
    clock.advance(timedelta(hours=1))
    assert [limiter.check("a") is None for _ in range(3)] == [True, True, False]


def test_clients_have_separate_buckets_and_own_rates(make: Make) -> None:
    clock = FixedClock(START)
    limiter = make(60, 1, clock, per_client={"slow": 6})
    assert limiter.check("a") is None and limiter.check("slow") is None
    assert limiter.check("a") == pytest.approx(1.0)
    assert limiter.check("slow") == pytest.approx(10.0)  # 6/min: one token every ten seconds
    assert limiter.check("b") is None


def test_a_clock_stepping_back_does_not_drain_or_fill(make: Make) -> None:
    clock = FixedClock(START)
    limiter = make(60, 1, clock)
    limiter.check("a")
    clock.advance(timedelta(seconds=-30))
    assert limiter.check("a") == pytest.approx(1.0)


def test_enforce_raises_429_with_retry_after_in_whole_seconds(make: Make) -> None:
    clock = FixedClock(START)
    limiter = make(40, 1, clock)
    limiter.enforce("a")
    with pytest.raises(IssueError) as caught:
        limiter.enforce("a")
    error = caught.value
    assert (error.status, error.issues[0].code, error.issues[0].message_id) == (429, "throttled", "auth.rate-limited")
    assert error.headers == {"Retry-After": "2"}  # 1.5 s rounded up


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (60, 0)])
def test_nonsense_limits_are_refused(make: Make, rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        make(rate, burst, FixedClock(START))


@pytest.mark.redis
def test_two_instances_share_one_bucket_per_client(redis_server: str, redis_prefix: str) -> None:
    clock = FixedClock(START)
    one, two = (redis.Redis.from_url(redis_server) for _ in range(2))
    first = RedisRateLimiter(one, 60, 2, clock, prefix=redis_prefix)
    second = RedisRateLimiter(two, 60, 2, clock, prefix=redis_prefix)
    assert first.check("a") is None and second.check("a") is None
    assert first.check("a") == pytest.approx(1.0), "the client's burst is spent across both instances"
    one.close()
    two.close()


def test_an_unreachable_redis_lets_requests_through() -> None:
    unreachable = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    limiter = RedisRateLimiter(unreachable, 60, 1, FixedClock(START))
    assert [limiter.check("a") for _ in range(3)] == [None, None, None]
