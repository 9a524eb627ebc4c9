"""Per-client request limits: a token bucket per client id, read against the injected `Clock`.

Each client's bucket holds at most `burst` tokens and refills at `rate_per_minute / 60` tokens a second; a request
takes one token. When the bucket is empty the request is refused with 429 and `Retry-After` (RFC 6585 §4,
RFC 9110 §10.2.3: whole seconds) telling when one token will be back. A client's own `rate_limit` from the client
registry overrides the default rate.

Two implementations of one contract (`tests/gateway/security/test_rate_limit.py` runs both): `RateLimiter` keeps
the buckets in this process (one gateway process); `RedisRateLimiter` keeps them in Redis, shared by every
instance of the gateway, so two API processes behind a proxy give a client its rate once, not twice.

Why Redis and not the database: a limit is checked on every request, refused or not, and the failed-login limit
exists so that an anonymous caller cannot make the gateway write; counting in PostgreSQL would be a write per
request. Redis runs the bucket update as one Lua script (atomic, so instances cannot race), expires idle buckets
by itself and loses nothing that matters when it restarts. The `limits` library offers fixed and moving windows
but no token bucket with a burst, which is the contract the registry's `rate_limit` and our `Retry-After` follow,
so the bucket is the short script below. When Redis cannot be reached the request is allowed and the failure
logged: a throttle that fails closed would take the whole regional message flow down with it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import redis

from gateway.clock import Clock
from mappings.issues import IssueError

log = logging.getLogger("gateway.security")


class Limiter(Protocol):
    def check(self, client_id: str, rate_per_minute: float | None = None) -> float | None:
        """Take one token: None when allowed, else the seconds until the next token (nothing is taken)."""
        ...

    def enforce(self, client_id: str, rate_per_minute: float | None = None) -> None:
        """`check`, raising 429 (`throttled`, `Retry-After` in whole seconds) when the client must wait."""
        ...


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: datetime


class RateLimiter:
    def __init__(
        self, rate_per_minute: float, burst: int, clock: Clock, *, per_client: Mapping[str, float] | None = None
    ) -> None:
        if rate_per_minute <= 0 or burst < 1:
            raise ValueError("rate_per_minute must be positive and burst at least 1")
        self._rate = rate_per_minute
        self._burst = burst
        self._clock = clock
        self._per_client = dict(per_client or {})
        self._buckets: dict[str, _Bucket] = {}

    def check(self, client_id: str, rate_per_minute: float | None = None) -> float | None:
        """Take one token: None when allowed, else the seconds until the next token (nothing is taken).

        `rate_per_minute` overrides the configured rate for this client (the registry's current value)."""
        now = self._clock.now()
        per_second = (rate_per_minute or self._per_client.get(client_id, self._rate)) / 60.0
        bucket = self._buckets.get(client_id)
        if bucket is None:
            bucket = self._buckets[client_id] = _Bucket(float(self._burst), now)
        # A clock that steps back (NTP) must not drain the bucket: count no negative time.
        elapsed = max(0.0, (now - bucket.updated).total_seconds())
        bucket.tokens = min(float(self._burst), bucket.tokens + elapsed * per_second)
        bucket.updated = max(now, bucket.updated)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / per_second

    def enforce(self, client_id: str, rate_per_minute: float | None = None) -> None:
        """`check`, raising 429 (`throttled`, `Retry-After` in whole seconds) when the client must wait."""
        refuse_if_waiting(self.check(client_id, rate_per_minute))


def refuse_if_waiting(wait: float | None, message_id: str = "auth.rate-limited", what: str = "requests") -> None:
    """Raise 429 with `Retry-After` (whole seconds, at least 1) when `wait` seconds must pass first."""
    if wait is None:
        return
    seconds = max(1, math.ceil(wait))
    error = IssueError.single(
        "throttled", f"Too many {what}; retry after {seconds} s", message_id=message_id, status=429
    )
    error.headers["Retry-After"] = str(seconds)
    raise error


#: KEYS[1] the bucket; ARGV now (whole microseconds: exact in Lua's doubles), rate (tokens/s), burst.
#: Returns the wait in seconds as text ("" = allowed): Redis turns Lua numbers into integers.
_TOKEN_BUCKET = """
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens = tonumber(state[1]) or burst
local updated = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - updated) / 1e6 * rate)
updated = math.max(now, updated)
local wait = ''
if tokens >= 1 then tokens = tokens - 1 else wait = tostring((1 - tokens) / rate) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(updated))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return wait
"""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RedisRateLimiter:
    """The token buckets in Redis (one hash per client, `<prefix>rate:<client>`), shared by every instance."""

    def __init__(
        self,
        client: redis.Redis,
        rate_per_minute: float,
        burst: int,
        clock: Clock,
        *,
        per_client: Mapping[str, float] | None = None,
        prefix: str = "gateway:",
    ) -> None:
        if rate_per_minute <= 0 or burst < 1:
            raise ValueError("rate_per_minute must be positive and burst at least 1")
        self._redis = client
        self._script = client.register_script(_TOKEN_BUCKET)
        self._rate = rate_per_minute
        self._burst = burst
        self._clock = clock
        self._per_client = dict(per_client or {})
        self._prefix = prefix

    def check(self, client_id: str, rate_per_minute: float | None = None) -> float | None:
        per_second = (rate_per_minute or self._per_client.get(client_id, self._rate)) / 60.0
        now = (self._clock.now() - _EPOCH) // timedelta(microseconds=1)
        try:
            wait = self._script(keys=[f"{self._prefix}rate:{client_id}"], args=[now, per_second, self._burst])
        except redis.RedisError as error:
            log.warning("rate limit not applied: Redis is unreachable (%s)", error)
            return None
        text = wait.decode() if isinstance(wait, bytes) else str(wait)
        return float(text) if text else None

    def enforce(self, client_id: str, rate_per_minute: float | None = None) -> None:
        refuse_if_waiting(self.check(client_id, rate_per_minute))
