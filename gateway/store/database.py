"""Engines and migrations.

SQLite (the embedded default) gets WAL journaling, a busy timeout and `BEGIN IMMEDIATE` for write transactions:
pysqlite's default deferred BEGIN lets two writers both read and then deadlock on the upgrade to a write lock,
which SQLite reports as "database is locked" (SQLAlchemy docs, "Serializable isolation / Savepoints / Transactional
DDL" for pysqlite). A process's own writers queue for that lock in the process (below). PostgreSQL needs nothing
special: row locks and unique keys do the work.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

MIGRATIONS = Path(__file__).parent / "migrations"
IMMEDIATE = "gateway_sqlite_immediate"
_HOLDS_WRITER = "gateway_holds_writer"
_WRITER_WAIT_SECONDS = 30.0
_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    """`pool_size`: connections kept open, sized to the threads that use them (issue 18: a pool of 5 under a
    request thread pool of 40 spent 38 % of a read reopening overflow connections); a few more may open briefly."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=4)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:")
    if not in_memory:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    pooling: dict[str, Any] = {"poolclass": StaticPool} if in_memory else {"pool_size": pool_size, "max_overflow": 4}
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **pooling)
    _configure_sqlite(engine, wal=not in_memory)
    return engine


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, emit BEGIN (pysqlite's implicit transactions break SAVEPOINT).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL" if wal else "PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cursor.close()

    # Writers of this process queue here for SQLite's one write lock instead of in SQLite's busy handler, which
    # sleeps 1, 2, 5, ... 100 ms between tries while other writers take the lock: 16 clients reading (each read
    # writes its AuditEvent) had a p99 of 917 ms at a p50 of 22 ms that way, 52-62 ms queued here (bench/README.md).
    # Released at COMMIT or ROLLBACK. Another process's writers (a `gateway worker` beside `gateway serve`) are
    # waited for by `begin_immediate`, which tries again every 2 ms at most.
    writer = threading.Lock()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if not connection.get_execution_options().get(IMMEDIATE, False):
            connection.exec_driver_sql("BEGIN")
            return
        if writer.acquire(timeout=_WRITER_WAIT_SECONDS):
            connection.info[_HOLDS_WRITER] = True
        try:
            begin_immediate(connection.connection.dbapi_connection)
        except BaseException:
            _release(connection)
            raise

    def _release(connection: Any) -> None:
        if connection.info.pop(_HOLDS_WRITER, False):
            writer.release()

    event.listen(engine, "commit", _release)
    event.listen(engine, "rollback", _release)


def begin_immediate(dbapi_connection: Any, wait_seconds: float = _WRITER_WAIT_SECONDS) -> None:
    """`BEGIN IMMEDIATE` on a pysqlite connection, tried again while another connection holds the write lock:
    after 0.2 ms, then doubling to every 2 ms, for up to `wait_seconds` ("database is locked" after that, as the
    busy timeout gave). SQLite's own busy handler backs off to 100 ms sleeps, so a writer that met the lock early
    kept sleeping while later ones took it (intake's p99 under a backlog). The busy timeout is off meanwhile and
    restored after, for everything else the connection does."""
    deadline = time.monotonic() + wait_seconds
    pause = 0.0002
    dbapi_connection.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.002)
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def schema_revision(engine: Engine) -> tuple[str | None, str | None]:
    """The database's migration revision and the newest one this code knows (equal when the schema is current)."""
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    newest = ScriptDirectory.from_config(alembic_config(engine.url.render_as_string(hide_password=False)))
    return current, newest.get_current_head()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent; run on every start)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
