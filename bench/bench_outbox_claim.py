"""The outbox claim under a backlog of one citizen: its cost as a ratio to the claim with no backlog.

Issue 18 measured 723 ms per claim with 717 notices pending for one citizen (the claim checked every waiting
notice's older ones). The claim now reads only ready `(citizen, recipient)` queues, so the ratio should stay
near 1 however long one citizen's queue grows. The head of the queue is in flight, so none of the backlog is
claimable: the worst case for the old query, and what a worker meets while it delivers to a slow receiver.

Run: .venv/bin/python bench/bench_outbox_claim.py [postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
(the PostgreSQL URL names a server database in which a throw-away database is created and dropped)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from gateway.delivery.outbox import NewNotice
from gateway.delivery.outbox_sql import SqlOutbox
from gateway.store.database import make_engine, upgrade

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
LEASE = timedelta(hours=1)
BACKLOGS = (1, 717, 5000)


def notices(citizen: str, count: int) -> list[NewNotice]:
    return [
        NewNotice(
            id=f"{citizen}-{n}",
            message_header_id=f"{citizen}-h{n}",
            citizen=citizen,
            recipient="municipality:0330",
            endpoint="http://127.0.0.1:9/x",
            message={"resourceType": "Bundle", "type": "message", "entry": []},
            kind="hospital-notification",
        )
        for n in range(count)
    ]


async def claim_time(url: str, backlog: int) -> float:
    engine = make_engine(url)
    upgrade(engine)
    outbox = SqlOutbox(engine)
    for start in range(0, backlog, 500):
        batch = notices("busy", backlog)[start : start + 500]
        await outbox.enqueue(f"in-busy-{start}", batch, T0)
    assert await outbox.claim(T0, LEASE, "in-flight") is not None  # the head is being delivered
    for n in range(50):
        await outbox.enqueue(f"in-other-{n}", notices(f"other-{n}", 1), T0)
    times = []
    for n in range(50):
        started = time.perf_counter()
        claim = await outbox.claim(T0, LEASE, f"worker-{n}")
        times.append(time.perf_counter() - started)
        assert claim is not None and claim.notice.citizen != "busy"
    engine.dispose()
    return statistics.median(times)


async def run(label: str, url_for: dict[int, str]) -> None:
    measured = {backlog: await claim_time(url, backlog) for backlog, url in url_for.items()}
    base = measured[BACKLOGS[0]]
    print(f"{label}: claim with one citizen's backlog waiting behind a notice in flight (median of 50)")
    for backlog, seconds in measured.items():
        print(f"  backlog {backlog:5d}  {seconds * 1e3:7.2f} ms  {seconds / base:5.2f}x")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run("SQLite", {b: f"sqlite:///{Path(folder) / f'claim-{b}.db'}" for b in BACKLOGS}))
    if len(sys.argv) > 1:
        admin = create_engine(sys.argv[1], isolation_level="AUTOCOMMIT")
        names = {b: f"bench_claim_{uuid.uuid4().hex[:8]}" for b in BACKLOGS}
        with admin.connect() as connection:
            for name in names.values():
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            base = sys.argv[1].rsplit("/", 1)[0]
            asyncio.run(run("PostgreSQL", {b: f"{base}/{name}" for b, name in names.items()}))
        finally:
            with admin.connect() as connection:
                for name in names.values():
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
