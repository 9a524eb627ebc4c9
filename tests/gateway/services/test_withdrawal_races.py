"""A consent withdrawal against what the outbox is doing meanwhile: a dead notice carrying the withdrawn content is
withheld (it held its queue: the next admission notice waited behind it), and a notice a worker claims while the
withdrawal runs is left to the worker's gate instead of failing the rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.clock import FixedClock
from gateway.delivery.outbox import Acknowledge, AckRecord, DeadLetter, NoticeState
from gateway.services.withdrawals import Withdrawals
from gateway.store.sql import SqlResourceStore
from tests.gateway.delivery.outbox_contract import attempt
from tests.support import scenario
from tests.support.instances import Database

HL7 = "x-application/hl7-v2+er7"


async def test_withdrawal_releases_a_queue_held_by_dead_withdrawn_content(database: Database) -> None:
    app = database.app()
    now = datetime.now(UTC) + timedelta(minutes=5)
    clock = FixedClock(now)
    outbox = app.state.messages.outbox
    gate = Withdrawals(outbox, SqlResourceStore(app.state.engine, clock), clock)
    app.state.plans.accept("http://gateway.test", scenario.plan_document())
    for sample in ("adt_a01_inpatient_8859-1.hl7", "adt_a03_discharge_8859-1.hl7"):
        await app.state.intake.accept(scenario.adt(sample), HL7)
    # deliver until a notice carrying the plan's content is claimed; that one dies (e.g. its attempts ran out)
    dead = None
    for n in range(20):
        claim = await outbox.claim(now, timedelta(minutes=2), f"t{n}")
        assert claim is not None
        if claim.notice.kind == "care-communication-followup":  # to the municipality, carries the plan
            assert await outbox.record_attempt(claim, attempt(now), DeadLetter("server-error (HTTP 503)"))
            dead = claim.notice
            break
        assert await outbox.record_attempt(claim, attempt(now), Acknowledge(AckRecord("a", "b", "ok", now)))
    assert dead is not None and await gate.carried(dead) is not None
    # a new stay: its admission notice to the same recipient is held behind the dead follow-up
    await app.state.intake.accept(scenario.adt_variant("adt_a01_inpatient_8859-1.hl7", "NEWSTAY1", "99887766"), HL7)
    held = [n for n in await outbox.for_citizen(dead.citizen) if n.held_behind == dead.id]
    assert held, "the new admission waits behind the dead notice"
    # the citizen withdraws the consent (as PUT /plans does: the write, then stop_queued_plan_content)
    withdrawn = scenario.plan_document()
    withdrawn["consent"]["decision"] = "withdrawn"
    receipt = app.state.plans.accept("http://gateway.test", withdrawn)
    await app.state.messages.withdrawals.stop_queued_plan_content(receipt.plan_id)
    await app.state.messages.retry_dead()  # an operator's "retry everything"
    after = (await outbox.get(dead.id)).notice
    still_held = [n for n in await outbox.for_citizen(dead.citizen) if n.held_behind == dead.id]
    assert after.state is NoticeState.SKIPPED, after
    assert not still_held, [n.kind for n in still_held]


async def test_a_withdrawal_is_not_undone_by_a_worker_claiming_meanwhile(database: Database) -> None:
    """`stop_queued_plan_content` reads the pending notices, then withholds them one by one; a worker claiming one
    of them in between (workers run all the time) must not make it fail for the rest (nor fail the plan write)."""
    from gateway.delivery.outbox_sql import SqlOutbox

    app = database.app()
    app.state.plans.accept("http://gateway.test", scenario.plan_document())
    for sample in ("adt_a01_inpatient_8859-1.hl7", "adt_a03_discharge_8859-1.hl7"):
        await app.state.intake.accept(scenario.adt(sample), HL7)
    engine = app.state.engine
    now = datetime.now(UTC) + timedelta(minutes=5)

    class RacingOutbox(SqlOutbox):
        raced = False

        async def list_notices(self, state=None, **kwargs):  # type: ignore[no-untyped-def]
            found = await super().list_notices(state, **kwargs)
            if state is NoticeState.PENDING and not self.raced:
                self.raced = True
                for n in range(10):  # workers, meanwhile, each take the head of a queue
                    await SqlOutbox(engine).claim(now, timedelta(minutes=2), f"other-worker-{n}")
            return found

    racing = RacingOutbox(engine)
    gate = Withdrawals(racing, SqlResourceStore(engine, app.state.clock), app.state.clock)
    withdrawn = scenario.plan_document()
    withdrawn["consent"]["decision"] = "withdrawn"
    receipt = app.state.plans.accept("http://gateway.test", withdrawn)
    await gate.stop_queued_plan_content(receipt.plan_id)  # raises `conflict` today
    carrying = [n for n in await racing.list_notices(NoticeState.PENDING, limit=100) if await gate.carried(n)]
    assert carrying == [], "every queued notice carrying the withdrawn content is withheld"
