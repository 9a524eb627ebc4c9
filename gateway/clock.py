"""Time, identifiers and randomness, passed in rather than read from globals.

Nothing outside this module calls `datetime.now()`, `uuid4()` or `random`: services receive a `Clock` and an
`IdSource`, so tests pin them by construction instead of monkeypatching.
"""

from __future__ import annotations

import itertools
import random
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...


class IdSource(Protocol):
    def new_id(self) -> str:
        """A fresh identifier, valid as a FHIR `id` and as a UUID string."""
        ...


class SecretSource(Protocol):
    def new_secret(self) -> str:
        """A fresh unguessable token (URL-safe text, at least 256 bits): sign-in links, session cookies, CSRF."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to (tests)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware start")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class UuidSource:
    def new_id(self) -> str:
        return str(uuid.uuid4())


class SequenceIds:
    """Predictable UUIDs (tests): 00000000-0000-4000-8000-000000000001, ...002, ..."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def new_id(self) -> str:
        return f"00000000-0000-4000-8000-{next(self._counter):012d}"


class SystemSecrets:
    def new_secret(self) -> str:
        return secrets.token_urlsafe(32)


class SequenceSecrets:
    """Predictable secrets (tests): secret-0001, secret-0002, ..."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def new_secret(self) -> str:
        return f"secret-{next(self._counter):04d}"


def system_random() -> random.Random:
    """The process's source of jitter; tests pass a seeded `random.Random` instead."""
    return random.Random()
