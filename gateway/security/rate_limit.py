"""Per-client request limits: a token bucket per client id, read against the injected `Clock`.

Each client's bucket holds at most `burst` tokens and refills at `rate_per_minute / 60` tokens a second; a request
takes one token. When the bucket is empty the request is refused with 429 and `Retry-After` (RFC 6585 §4,
RFC 9110 §10.2.3: whole seconds) telling when one token will be back. A client's own `rate_limit` from the client
registry overrides the default rate. State lives in this process only (one gateway process per deployment).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from gateway.clock import Clock
from mappings.issues import IssueError


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
        wait = self.check(client_id, rate_per_minute)
        if wait is None:
            return
        seconds = max(1, math.ceil(wait))
        error = IssueError.single(
            "throttled",
            f"Too many requests; retry after {seconds} s",
            message_id="auth.rate-limited",
            status=429,
        )
        error.headers["Retry-After"] = str(seconds)
        raise error
