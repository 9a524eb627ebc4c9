"""Two workers claiming at the same moment on one database: never the same notice, never two of one key in
flight, and a key being claimed by one worker is skipped by the other instead of waited for (PostgreSQL); the
lanes of one worker keep each queue's order."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from gateway.clock import FixedClock
from gateway.delivery.outbox import Claim
from gateway.delivery.outbox_sql import SqlOutbox
from gateway.store import tables as t
from tests.gateway.delivery.outbox_contract import notice
from tests.gateway.delivery.test_worker import deliver_in_lanes

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)


def claim_together(outboxes: list[SqlOutbox], rounds: int) -> list[Claim]:
    """Each outbox claims `rounds` times from its own thread; a barrier starts every round at the same moment."""
    barrier = threading.Barrier(len(outboxes))
    claims: list[Claim] = []
    lock = threading.Lock()

    def worker(outbox: SqlOutbox, token: str) -> None:
        for round_number in range(rounds):
            barrier.wait()
            claim = asyncio.run(outbox.claim(T0, LEASE, f"{token}-{round_number}"))
            if claim is not None:
                with lock:
                    claims.append(claim)

    threads = [threading.Thread(target=worker, args=(o, f"worker-{i}")) for i, o in enumerate(outboxes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return claims


async def test_two_workers_claiming_at_once_never_share_a_notice_or_a_key(outbox_engine: Engine) -> None:
    engine = outbox_engine
    outbox = SqlOutbox(engine)
    citizens = [f"citizen-{n}" for n in range(12)]
    for n, citizen in enumerate(citizens):
        # Two recipients per citizen, three notices each: 24 keys, only their heads claimable.
        made = [notice(citizen, recipient) for recipient in ("gp", "municipality") for _ in range(3)]
        await outbox.enqueue(f"inbound-{n}", made, T0)
    claims = claim_together([SqlOutbox(engine), SqlOutbox(engine)], rounds=15)
    ids = [c.notice.id for c in claims]
    keys = [(c.notice.citizen, c.notice.recipient) for c in claims]
    assert len(ids) == len(set(ids)), "no notice claimed twice"
    assert len(keys) == len(set(keys)) == 24, "every key's head claimed once, no second notice of a key in flight"
    with engine.connect() as connection:
        sending = connection.execute(select(t.outbox_notice.c.id).where(t.outbox_notice.c.state == "sending"))
        assert sorted(sending.scalars()) == sorted(ids)


# Row locks are PostgreSQL's; SQLite lets one writer in at a time, so there is no locked key to skip there.
@pytest.mark.parametrize("outbox_engine", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
async def test_a_key_locked_by_one_worker_is_skipped_not_waited_for(outbox_engine: Engine) -> None:
    assert outbox_engine.dialect.name == "postgresql"
    engine = outbox_engine
    outbox = SqlOutbox(engine)
    first, second = notice("busy"), notice("free")
    await outbox.enqueue("inbound-1", [first], T0)
    await outbox.enqueue("inbound-2", [second], T0 + timedelta(seconds=1))
    q = t.outbox_queue
    with engine.connect() as holder, holder.begin():
        # Another worker is in the middle of claiming (or changing) the busy key: its queue row is locked.
        holder.execute(select(q).where(q.c.citizen == "busy").with_for_update())
        claim = await asyncio.wait_for(outbox.claim(T0 + timedelta(seconds=5), LEASE, "worker-b"), timeout=10)
        assert claim is not None and claim.notice.id == second.id
        assert await asyncio.wait_for(outbox.claim(T0 + timedelta(seconds=5), LEASE, "worker-c"), timeout=10) is None


@pytest.mark.parametrize("lanes", [4])
async def test_the_lanes_of_one_worker_keep_each_queue_in_order_on_the_database(
    outbox_engine: Engine, lanes: int
) -> None:
    """`WorkerSettings.concurrency`: the lanes claim side by side from their own threads (`SqlOutbox` runs each
    transaction in one); every notice sent once, one per queue in flight, each queue in enqueue order."""
    await deliver_in_lanes(SqlOutbox(outbox_engine), FixedClock(T0), lanes, rounds=5)
