"""Shared fixtures: an app on a fresh SQLite file, an ASGI client, and the PostgreSQL server for CI."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text

from gateway.api import create_app
from gateway.clock import FixedClock, SequenceIds
from gateway.config import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
#: MedCom and DK-core examples copied from `shared/reference` (same relative paths; sources and licences in
#: `tests/data/reference/SOURCES.md`), so the suite needs nothing outside the repository.
REFERENCE = REPO_ROOT / "tests" / "data" / "reference"
POSTGRES_ADMIN_URL = os.environ.get(
    "GATEWAY_TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


class SteppingClock(FixedClock):
    """Moves one second forward on every reading, so successive writes get distinct, ordered instants."""

    def now(self) -> datetime:
        moment = super().now()
        self.advance(timedelta(seconds=1))
        return moment


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Tests of the API's other rules write CarePlans about patients nobody stored; referential integrity on
    # write (on by default) has its own tests (tests/gateway/fhir/test_write_validation.py).
    return Settings(
        data_dir=tmp_path, max_body_bytes=64 * 1024, insecure_no_auth=True, enforce_referential_integrity=False
    )


@pytest.fixture
def app(settings: Settings, clock: SteppingClock) -> FastAPI:
    return create_app(settings, clock=clock, ids=SequenceIds())


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        yield http


@contextmanager
def throwaway_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (its URL), dropped afterwards."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards.

    In CI (CI=true) an unreachable server fails the run instead of skipping: these tests must run there.
    """
    with ExitStack() as stack:
        try:
            url = stack.enter_context(throwaway_database("gateway_test"))
        except Exception as error:  # noqa: BLE001 - any connection failure means "no server here"
            if os.environ.get("CI"):
                pytest.fail(f"PostgreSQL is required in CI and was not reachable: {error}")
            pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}")
        yield url


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """A database of the test's own (the session's is shared by the other PostgreSQL tests)."""
    with throwaway_database("gateway_test_own") as url:
        yield url


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """The Redis server on 127.0.0.1:6379 (its URL). In CI an unreachable server fails the run instead of skipping."""
    import redis

    url = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is required in CI and was not reachable: {error}")
        pytest.skip(f"Redis not reachable at {url}")
    finally:
        client.close()
    yield url


@pytest.fixture
def redis_prefix(redis_server: str) -> Iterator[str]:
    """A key prefix of this test's own in the shared Redis, its keys deleted afterwards."""
    import redis

    prefix = f"gateway-test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_server)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(autouse=True)
def logging_left_as_found() -> Iterator[None]:
    """A command run in-process (`gateway serve` refusing to start, say) configures the root logger; the next test
    must not inherit its handler or its level."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level


OUR_LOGGERS = ("gateway", "mappings", "fixtures", "uvicorn", "alembic")


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(OUR_LOGGERS):
            return
        try:
            self.lines.append(self.format(record))
        except Exception:  # noqa: BLE001 - a log line that cannot be formatted is not our concern here
            self.lines.append(str(record.msg))


@pytest.fixture(scope="session", autouse=True)
def no_cpr_in_any_log_line() -> Iterator[None]:
    """Issue 7: CPR numbers never appear in logs. Every line our code (gateway, mappings, fixtures, and the uvicorn
    and alembic loggers it drives) logs during the whole test run is collected raw, before any masking filter, and
    checked at the end of the session: the code must not log them in the first place (the privacy filter on the
    production handlers is a second line, tested on its own and in the real-process tests)."""
    from gateway.security.masking import mask_cpr

    collector = _Collector()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(collector)
    yield
    root.removeHandler(collector)
    root.setLevel(level)
    leaking = [line for line in collector.lines if mask_cpr(line) != line]
    assert not leaking, f"{len(leaking)} log lines carry a CPR number, e.g. {mask_cpr(leaking[0])!r}"
