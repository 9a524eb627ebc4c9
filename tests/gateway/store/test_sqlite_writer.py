"""SQLite's one write lock is queued for in the process, not polled for by SQLite's busy handler.

The busy handler sleeps 1, 2, 5, ... up to 100 ms between tries, so under 16 concurrent readers (each writing its
AuditEvent) the unlucky writers waited hundreds of ms while others took the lock: a read's p99 of 917 ms at
p50 22 ms. Each test gives the waiting connection a 1 ms busy timeout, so a writer that reached SQLite's lock while
another held it would fail with "database is locked": these pass only because the writer waits in the process."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from gateway.store.database import IMMEDIATE, begin_immediate, make_engine

HOLD_SECONDS = 0.3


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'writer.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
    return engine


def _impatient_write(engine: Engine, value: int) -> None:
    """A write transaction on a connection whose SQLite busy timeout is 1 ms."""
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA busy_timeout=1")
        connection.commit()
        writing = connection.execution_options(**{IMMEDIATE: True})
        with writing.begin():
            writing.execute(text("INSERT INTO t VALUES (:n)"), {"n": value})
        connection.exec_driver_sql("PRAGMA busy_timeout=30000")
        connection.commit()


def _hold(engine: Engine, started: threading.Event, *, fail: bool = False) -> None:
    with engine.connect() as connection:
        writing = connection.execution_options(**{IMMEDIATE: True})
        try:
            with writing.begin():
                writing.execute(text("INSERT INTO t VALUES (0)"))
                started.set()
                time.sleep(HOLD_SECONDS)
                if fail:
                    raise RuntimeError("the holder's work failed")
        except RuntimeError:
            pass


@pytest.mark.parametrize("fail", [False, True], ids=["holder commits", "holder rolls back"])
def test_a_second_writer_waits_for_the_first_instead_of_failing(engine: Engine, fail: bool) -> None:
    started = threading.Event()
    holder = threading.Thread(target=_hold, args=(engine, started), kwargs={"fail": fail})
    holder.start()
    assert started.wait(5)
    began = time.monotonic()
    _impatient_write(engine, 1)  # without the process's queue: OperationalError "database is locked" after 1 ms
    waited = time.monotonic() - began
    holder.join()
    assert waited > HOLD_SECONDS / 3  # it did wait for the holder (who still held the lock when it began)
    with engine.connect() as connection:
        values = sorted(row[0] for row in connection.execute(text("SELECT n FROM t")))
    assert values == ([1] if fail else [0, 1])


def test_sixteen_writers_at_once_all_commit(engine: Engine) -> None:
    errors: list[BaseException] = []

    def write(value: int) -> None:
        try:
            for offset in range(10):
                _impatient_write(engine, value * 100 + offset)
        except BaseException as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=write, args=(value,)) for value in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar_one() == 160


def test_a_failed_begin_leaves_the_queue_free(engine: Engine) -> None:
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        raw.execute("BEGIN")  # a transaction SQLAlchemy does not know of: its BEGIN IMMEDIATE fails
        with pytest.raises(Exception, match="within a transaction"):
            connection.execution_options(**{IMMEDIATE: True}).begin()
    began = time.monotonic()
    _impatient_write(engine, 2)
    assert time.monotonic() - began < 5  # a queue the failed BEGIN kept would be waited on for 30 s
    with engine.connect() as connection:
        assert connection.execute(text("SELECT n FROM t")).scalars().all() == [2]


def test_a_writer_of_another_process_is_waited_for_then_the_busy_timeout_is_back(engine: Engine) -> None:
    """Another engine stands for another process (its own queue): `begin_immediate` tries again until the lock is
    free, gives up with SQLite's own error after its wait, and leaves the connection's busy timeout as it was."""
    other = make_engine(str(engine.url))
    started = threading.Event()
    holder = threading.Thread(target=_hold, args=(other, started))
    holder.start()
    assert started.wait(5)
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            begin_immediate(raw, wait_seconds=0.05)  # the holder keeps it for 0.3 s
        assert raw.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
        begin_immediate(raw)  # waits for the holder's commit
        raw.execute("INSERT INTO t VALUES (5)")
        raw.execute("COMMIT")
        assert raw.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
    holder.join()
    other.dispose()
    with engine.connect() as connection:
        assert sorted(connection.execute(text("SELECT n FROM t")).scalars()) == [0, 5]
