"""The consent gate (`Withdrawals.refusal`) keeps its decisions, and a kept "allowed" never outlives what it was
decided from: a consent that ends by its period stops the next send at that instant, and a withdrawal written by
another gateway instance on the same database stops it at once. On SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI

from gateway.clock import FixedClock
from gateway.delivery.outbox import NoticeRecord, NoticeState
from gateway.services.withdrawals import Withdrawals, every_notice
from gateway.store.sql import SqlResourceStore
from tests.support import scenario
from tests.support.instances import Database

HL7 = "x-application/hl7-v2+er7"
#: The demo plan's consent ends with 3 March 2099, Danish time: 2099-03-03T23:00:00Z.
LAST_SECOND = datetime(2099, 3, 3, 22, 59, 59, tzinfo=UTC)


def gate_of(app: FastAPI, clock: FixedClock) -> Withdrawals:
    """The worker's gate as `build_worker` makes it."""
    outbox = app.state.messages.outbox
    return Withdrawals(outbox, SqlResourceStore(app.state.engine, clock), clock)


async def queued_follow_up(app: FastAPI, gate: Withdrawals) -> NoticeRecord:
    """A discharge's queued notice that carries the plan's content."""
    app.state.plans.accept("http://gateway.test", scenario.plan_document())
    for sample in ("adt_a01_inpatient_8859-1.hl7", "adt_a03_discharge_8859-1.hl7"):
        await app.state.intake.accept(scenario.adt(sample), HL7)
    for notice in await every_notice(app.state.messages.outbox, NoticeState.PENDING):
        if await gate.carried(notice) is not None:
            return notice
    raise AssertionError("the discharge queued no follow-up")


async def test_a_kept_decision_to_send_ends_with_the_consent(database: Database) -> None:
    app, clock = database.app(), FixedClock(LAST_SECOND)
    gate = gate_of(app, clock)
    notice = await queued_follow_up(app, gate)
    assert await gate.refusal(notice) is None
    assert await gate.refusal(notice) is None
    assert gate.decisions.hits == 1, "the second decision was the kept one"
    clock.advance(timedelta(seconds=1))  # no write: only the instant moved past the consent's end
    assert (await gate.refusal(notice) or "").startswith("consent:")
    clock.advance(timedelta(seconds=-1))
    assert await gate.refusal(notice) is None, "kept per span of time, not per last answer"


async def test_a_kept_decision_to_send_ends_with_a_withdrawal_by_another_instance(database: Database) -> None:
    app, clock = database.app(), FixedClock(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    gate = gate_of(app, clock)
    notice = await queued_follow_up(app, gate)
    assert await gate.refusal(notice) is None
    assert await gate.refusal(notice) is None
    assert gate.decisions.hits == 1
    withdrawn = scenario.plan_document()
    withdrawn["consent"]["decision"] = "withdrawn"
    database.app().state.plans.accept("http://gateway.test", withdrawn)  # not this instance: nothing told it
    assert (await gate.refusal(notice) or "").startswith("consent:")


async def test_nothing_kept_reads_every_time(database: Database) -> None:
    app, clock = database.app(), FixedClock(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    gate = Withdrawals(app.state.messages.outbox, SqlResourceStore(app.state.engine, clock), clock, kept=0)
    notice = await queued_follow_up(app, gate)
    assert await gate.refusal(notice) is None
    assert await gate.refusal(notice) is None
    assert gate.decisions.hits == 0


async def test_the_decision_is_read_off_the_event_loop(database: Database) -> None:
    """`granted` reads the database: the gate runs it on a worker thread, so a slow database never stalls the
    loop that intake and the other lanes share."""
    app, clock = database.app(), FixedClock(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    gate = gate_of(app, clock)
    notice = await queued_follow_up(app, gate)
    threads: list[int] = []
    decide = gate.granted

    def recorded(*arguments: Any) -> bool:
        threads.append(threading.get_ident())
        return decide(*arguments)

    gate.granted = recorded  # type: ignore[method-assign]
    assert await gate.refusal(notice) is None
    assert await gate.stop_queued_plan_content("no-such-plan") == []
    assert threads and threading.get_ident() not in threads
