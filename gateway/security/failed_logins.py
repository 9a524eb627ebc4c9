"""Failed authentication, per source address: limited before anything is written, audited once a minute.

A request whose credentials fail costs the gateway nothing but a count: `FailedLogins.record` adds it to its source
address's count for the current minute (in this process, or in Redis shared by every instance). A source with
`limit` failures in the current minute gets 429 for the rest of that minute before its credentials are even
looked at (`blocked`). The audit trail gets one AuditEvent per source address and minute with the count
(`flush`, run every few seconds by each API instance, and at shutdown): its id is derived from the source and the
minute, so two instances flushing the same minute write it once.

The event is IHE BALP's Login event (type DCM#110114 "User Authentication", subtype DCM#110122 "Login", outcome
4 "minor failure"), the source address as the requesting agent's `network.address`.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Protocol

import redis

from gateway.store.ports import ResourceStore
from mappings.audit import AuditAgent, audit_event
from mappings.uuids import uuid5_text

log = logging.getLogger("gateway.security")
_NAMESPACE = uuid.UUID("0c7f4a52-5f53-5b7e-8d8e-1f2b6d0a4c31")
Counted = tuple[str, str, int]  # (minute "YYYY-MM-DDTHH:MM", source address, failures)


def minute_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


class FailedLogins(Protocol):
    def blocked(self, source: str, now: datetime) -> float | None:
        """Seconds until `source` may try again (its limit for this minute is used up), else None."""
        ...

    def record(self, source: str, now: datetime) -> None:
        """Count one failed authentication from `source`."""
        ...

    def closed(self, before: str) -> list[Counted]:
        """The counts of minutes before `before` (a `minute_of` value) that are not flushed yet."""
        ...

    def forget(self, minute: str, source: str) -> None:
        """Drop a flushed count."""
        ...


def _seconds_left(now: datetime) -> float:
    return 60.0 - (now.second + now.microsecond / 1e6)


class MemoryFailedLogins:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def blocked(self, source: str, now: datetime) -> float | None:
        with self._lock:
            count = self._counts.get((minute_of(now), source), 0)
        return _seconds_left(now) if count >= self.limit else None

    def record(self, source: str, now: datetime) -> None:
        with self._lock:
            key = (minute_of(now), source)
            self._counts[key] = self._counts.get(key, 0) + 1

    def closed(self, before: str) -> list[Counted]:
        with self._lock:
            return sorted((m, s, n) for (m, s), n in self._counts.items() if m < before)

    def forget(self, minute: str, source: str) -> None:
        with self._lock:
            self._counts.pop((minute, source), None)


class RedisFailedLogins:
    """Counts in Redis (`<prefix>authfail:<minute>:<source>`, listed in the set `<prefix>authfail`), shared by every
    instance; unreachable Redis blocks nobody and is logged (see rate_limit.py for why it fails open)."""

    def __init__(self, client: redis.Redis, limit: int, *, prefix: str = "gateway:") -> None:
        self.limit = limit
        self._redis = client
        self._prefix = prefix

    def _key(self, minute: str, source: str) -> str:
        return f"{self._prefix}authfail:{minute}:{source}"

    def blocked(self, source: str, now: datetime) -> float | None:
        try:
            count = int(self._redis.get(self._key(minute_of(now), source)) or 0)
        except redis.RedisError as error:
            log.warning("failed-login limit not applied: Redis is unreachable (%s)", error)
            return None
        return _seconds_left(now) if count >= self.limit else None

    def record(self, source: str, now: datetime) -> None:
        minute = minute_of(now)
        try:
            with self._redis.pipeline() as pipe:
                pipe.incr(self._key(minute, source))
                pipe.expire(self._key(minute, source), 86_400)
                pipe.sadd(f"{self._prefix}authfail", f"{minute}|{source}")
                pipe.execute()
        except redis.RedisError as error:
            log.warning("failed login not counted: Redis is unreachable (%s)", error)

    def closed(self, before: str) -> list[Counted]:
        try:
            raw = self._redis.smembers(f"{self._prefix}authfail")
            members = sorted(m.decode() if isinstance(m, bytes) else str(m) for m in raw)
            due = [m.split("|", 1) for m in members if m.split("|", 1)[0] < before]
            counts = self._redis.mget([self._key(minute, source) for minute, source in due]) if due else []
        except redis.RedisError as error:
            log.warning("failed logins not flushed: Redis is unreachable (%s)", error)
            return []
        return [(minute, source, int(count or 0)) for (minute, source), count in zip(due, counts, strict=True)]

    def forget(self, minute: str, source: str) -> None:
        with self._redis.pipeline() as pipe:
            pipe.delete(self._key(minute, source))
            pipe.srem(f"{self._prefix}authfail", f"{minute}|{source}")
            pipe.execute()


def failed_login_event(minute: str, source: str, count: int, observer: str) -> dict[str, object]:
    """The one AuditEvent for `count` failed authentications from `source` in `minute` (its id derived from both)."""
    end = datetime.fromisoformat(f"{minute}:00+00:00") + timedelta(minutes=1)
    return audit_event(
        action="E",
        subtype="login",
        outcome="4",
        recorded=end,
        agent=AuditAgent("anonymous", network_address=source),
        observer=observer,
        reason=f"{count} failed authentication attempt(s) from {source} in the minute from {minute}Z",
        event_id=uuid5_text(_NAMESPACE, f"{minute}|{source}"),
    )


def flush(counts: FailedLogins, store: ResourceStore, now: datetime, observer: str, *, everything: bool = False) -> int:
    """Write the AuditEvents of finished minutes (`everything`: the current one too, at shutdown); returns how many
    counts were flushed. Written first, forgotten after: a crash in between writes nothing twice (the id)."""
    before = minute_of(now + timedelta(minutes=1)) if everything else minute_of(now)
    flushed = 0
    for minute, source, count in counts.closed(before):
        if count:
            with store.writing() as tx:
                tx.audit(failed_login_event(minute, source, count, observer), once=True)
        counts.forget(minute, source)
        flushed += 1
    return flushed


def failed_logins(client: redis.Redis | None, limit: int, prefix: str = "gateway:") -> FailedLogins:
    return RedisFailedLogins(client, limit, prefix=prefix) if client is not None else MemoryFailedLogins(limit)
