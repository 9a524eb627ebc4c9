"""The contract every `Outbox` implementation keeps (memory, SQLite, PostgreSQL).

Use: subclass `OutboxContract` in a `test_*.py` module and provide an `outbox` fixture::

    class TestMemoryOutbox(OutboxContract):
        @pytest.fixture
        def outbox(self) -> Outbox:
            return MemoryOutbox()

Every test starts from an empty outbox and passes times explicitly, so no implementation reads a clock.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from gateway.delivery.outbox import (
    Acknowledge,
    AckRecord,
    Attempt,
    AwaitAck,
    DeadLetter,
    NewNotice,
    NextStep,
    Outbox,
    Retry,
)
from gateway.delivery.outbox import Claim as OutboxClaim
from gateway.delivery.outbox import NoticeState as S
from gateway.delivery.outcome import OutcomeKind
from mappings.issues import IssueError

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)
_counter = itertools.count(1)


def notice(citizen: str = "citizen-1", recipient: str = "sor:265161000016000", **extra: str) -> NewNotice:
    n = next(_counter)
    return NewNotice(
        id=extra.get("id", f"notice-{n}"),
        message_header_id=extra.get("header", f"header-{n}"),
        citizen=citizen,
        recipient=recipient,
        endpoint="http://127.0.0.1:8081/fhir/$process-message",
        message={"resourceType": "Bundle", "id": f"bundle-{n}", "type": "message", "entry": []},
        kind="hospital-notification",
    )


def attempt(at: datetime = T0, kind: OutcomeKind = OutcomeKind.DELIVERED, detail: str = "") -> Attempt:
    return Attempt(
        bundle_id=f"bundle-{next(_counter)}",
        started_at=at,
        finished_at=at,
        outcome=kind,
        status=200,
        detail=detail,
    )


def ack(code: str = "ok", at: datetime = T0) -> AckRecord:
    return AckRecord(
        message_header_id=f"ack-{next(_counter)}",
        bundle_id="ack-bundle",
        code=code,  # type: ignore[arg-type]
        received_at=at,
        reason="" if code == "ok" else f"{code}: MSG_Mailbox_Out_Of_Operation",
    )


ACKED: NextStep = Acknowledge(ack())


class OutboxContract:
    @pytest.fixture
    def outbox(self) -> Outbox:
        raise NotImplementedError("subclasses provide the implementation under test")

    async def _claim(self, outbox: Outbox, at: datetime = T0, token: str = "worker-a") -> OutboxClaim:
        claim = await outbox.claim(at, LEASE, token)
        assert claim is not None
        return claim

    async def _finish(self, outbox: Outbox, claim: OutboxClaim, step: NextStep, at: datetime = T0) -> None:
        assert await outbox.record_attempt(claim, attempt(at), step)

    # enqueue

    async def test_enqueued_notices_are_pending_and_due_now(self, outbox: Outbox) -> None:
        result = await outbox.enqueue("inbound-1", [notice(), notice(recipient="municipality:0461")], T0)
        assert result.created
        assert [n.state for n in result.notices] == [S.PENDING, S.PENDING]
        assert all(n.due_at == T0 and n.attempts == 0 and n.inbound_message_id == "inbound-1" for n in result.notices)
        assert [n.id for n in await outbox.for_inbound("inbound-1")] == [n.id for n in result.notices]

    async def test_same_inbound_message_twice_creates_nothing_new(self, outbox: Outbox) -> None:
        first = await outbox.enqueue("inbound-1", [notice()], T0)
        again = await outbox.enqueue("inbound-1", [notice(), notice()], T0 + LEASE)
        assert not again.created
        assert [n.id for n in again.notices] == [n.id for n in first.notices]
        assert len(await outbox.list_notices()) == 1

    async def test_reused_message_header_id_is_a_conflict(self, outbox: Outbox) -> None:
        await outbox.enqueue("inbound-1", [notice(header="h-1")], T0)
        with pytest.raises(IssueError) as caught:
            await outbox.enqueue("inbound-2", [notice(header="h-1")], T0)
        assert caught.value.issues[0].code == "conflict"
        assert await outbox.for_inbound("inbound-2") == []

    async def test_stored_message_is_a_copy(self, outbox: Outbox) -> None:
        new = notice()
        await outbox.enqueue("inbound-1", [new], T0)
        new.message["id"] = "changed"
        claim = await self._claim(outbox)
        claim.notice.message["id"] = "changed again"
        detail = await outbox.get(new.id)
        assert detail is not None and detail.notice.message["id"] != "changed again"
        assert detail.notice.message["id"] != "changed"

    # claim

    async def test_claim_takes_oldest_due_and_leases_it(self, outbox: Outbox) -> None:
        await outbox.enqueue("inbound-1", [notice("a")], T0)
        await outbox.enqueue("inbound-2", [notice("b")], T0)
        claim = await self._claim(outbox, token="worker-a")
        assert claim.notice.citizen == "a"
        assert claim.notice.state is S.SENDING
        assert claim.notice.lease_expires_at == T0 + LEASE
        second = await self._claim(outbox, token="worker-b")
        assert second.notice.citizen == "b"
        assert await outbox.claim(T0, LEASE, "worker-c") is None

    async def test_nothing_to_claim_in_an_empty_outbox(self, outbox: Outbox) -> None:
        assert await outbox.claim(T0, LEASE, "worker-a") is None

    async def test_same_citizen_and_recipient_are_delivered_in_order(self, outbox: Outbox) -> None:
        admission, discharge = notice(), notice()
        await outbox.enqueue("inbound-1", [admission], T0)
        await outbox.enqueue("inbound-2", [discharge], T0)
        first = await self._claim(outbox)
        assert first.notice.id == admission.id
        assert await outbox.claim(T0, LEASE, "worker-b") is None  # discharge waits while admission is in flight
        await self._finish(outbox, first, Retry(T0 + timedelta(minutes=5)))
        assert await outbox.claim(T0 + timedelta(minutes=1), LEASE, "worker-b") is None  # still waits (pending)
        retried = await self._claim(outbox, T0 + timedelta(minutes=5))
        assert retried.notice.id == admission.id
        await self._finish(outbox, retried, ACKED, T0 + timedelta(minutes=5))
        nxt = await self._claim(outbox, T0 + timedelta(minutes=5))
        assert nxt.notice.id == discharge.id

    async def test_other_recipients_are_not_held_back(self, outbox: Outbox) -> None:
        await outbox.enqueue("inbound-1", [notice(recipient="gp"), notice(recipient="municipality")], T0)
        one = await self._claim(outbox, token="worker-a")
        two = await self._claim(outbox, token="worker-b")
        assert {one.notice.recipient, two.notice.recipient} == {"gp", "municipality"}

    async def test_a_sent_notice_does_not_hold_back_later_ones(self, outbox: Outbox) -> None:
        first, second = notice(), notice()
        await outbox.enqueue("inbound-1", [first, second], T0)
        await self._finish(outbox, await self._claim(outbox), AwaitAck(T0 + timedelta(minutes=30)))
        assert (await self._claim(outbox)).notice.id == second.id

    async def test_a_dead_notice_holds_back_later_ones_of_its_key_only(self, outbox: Outbox) -> None:
        first, second, third = notice(), notice(), notice()
        other = notice(citizen="citizen-2")
        await outbox.enqueue("inbound-1", [first, second, third, other], T0)
        await self._finish(outbox, await self._claim(outbox), DeadLetter("HTTP 400"))
        assert (await self._claim(outbox)).notice.id == other.id, "another citizen is not held"
        assert await outbox.claim(T0, LEASE, "worker-b") is None, "the admission's discharge waits"
        listed = {n.id: n for n in await outbox.list_notices()}
        assert listed[second.id].held_behind == first.id
        assert listed[third.id].held_behind == first.id
        assert listed[first.id].held_behind is None and listed[other.id].held_behind is None
        detail = await outbox.get(third.id)
        assert detail is not None and detail.notice.held_behind == first.id

    async def test_retry_dead_releases_the_queue_in_order(self, outbox: Outbox) -> None:
        older, newer = notice(), notice()
        await outbox.enqueue("inbound-1", [older, newer], T0)
        await self._finish(outbox, await self._claim(outbox), DeadLetter("HTTP 503 eight times"))
        assert await outbox.claim(T0, LEASE, "worker-b") is None
        await outbox.retry_dead(T0 + LEASE, [older.id])
        again = await self._claim(outbox, T0 + LEASE)
        assert again.notice.id == older.id, "the dead notice first, in its old place"
        assert await outbox.claim(T0 + LEASE, LEASE, "worker-c") is None, "one in flight per key"
        await self._finish(outbox, again, ACKED, T0 + LEASE)
        assert (await self._claim(outbox, T0 + LEASE)).notice.id == newer.id

    async def test_skip_gives_up_a_dead_notice_and_releases_its_queue(self, outbox: Outbox) -> None:
        older, newer = notice(), notice()
        await outbox.enqueue("inbound-1", [older, newer], T0)
        await self._finish(outbox, await self._claim(outbox), DeadLetter("HTTP 400"))
        with pytest.raises(IssueError) as not_dead:
            await outbox.skip(newer.id, "wrong one", T0)
        assert not_dead.value.issues[0].code == "conflict"
        skipped = await outbox.skip(older.id, "the municipality registered it by phone", T0)
        assert skipped.state is S.SKIPPED
        assert "registered it by phone" in (skipped.last_error or "")
        assert (await self._claim(outbox)).notice.id == newer.id
        assert await outbox.retry_dead(T0) == [], "a skipped notice is not dead"

    async def test_a_withheld_notice_never_goes_and_holds_nothing_behind_it(self, outbox: Outbox) -> None:
        waiting, sent, later = notice(), notice(), notice()
        await outbox.enqueue("inbound-1", [sent, waiting, later], T0)
        await self._finish(outbox, await self._claim(outbox), AwaitAck(T0 + timedelta(minutes=30)))
        withheld = await outbox.withhold(waiting.id, "consent: withdrawn", T0)
        assert (withheld.state, withheld.last_error) == (S.SKIPPED, "consent: withdrawn")
        withheld_sent = await outbox.withhold(sent.id, "consent: withdrawn", T0)
        assert (withheld_sent.state, withheld_sent.ack_due_at) == (S.SKIPPED, None), "no resend of a withheld one"
        assert (await self._claim(outbox)).notice.id == later.id, "the later notice is not held behind it"
        assert await outbox.retry_dead(T0) == [], "a withheld notice is not dead"
        assert await outbox.overdue_acks(T0 + timedelta(hours=1), 10) == []

    async def test_only_the_lease_holder_withholds_a_notice_in_flight(self, outbox: Outbox) -> None:
        new = notice()
        await outbox.enqueue("inbound-1", [new], T0)
        claim = await self._claim(outbox)
        with pytest.raises(IssueError) as other:
            await outbox.withhold(new.id, "consent: withdrawn", T0, token="someone-else")
        assert other.value.issues[0].message_id == "outbox.not-withholdable"
        withheld = await outbox.withhold(new.id, "consent: withdrawn", T0, token=claim.token)
        assert withheld.state is S.SKIPPED
        assert not await outbox.record_attempt(claim, attempt(), ACKED), "its lease ended with the withholding"
        with pytest.raises(IssueError):
            await outbox.withhold(new.id, "again", T0)

    async def test_a_refused_notice_is_never_resent_unchanged(self, outbox: Outbox) -> None:
        refused, later = notice(), notice()
        await outbox.enqueue("inbound-1", [refused, later], T0)
        await self._finish(outbox, await self._claim(outbox), DeadLetter("fatal-error", ack("fatal-error")))
        detail = await outbox.get(refused.id)
        assert detail is not None and detail.notice.refused
        with pytest.raises(IssueError) as named:
            await outbox.retry_dead(T0, [refused.id])
        assert named.value.issues[0].message_id == "outbox.refused"
        with pytest.raises(IssueError):
            await outbox.resend(refused.id, T0)
        assert await outbox.retry_dead(T0) == [], "retry-dead of everything leaves it dead"
        assert (await outbox.list_notices(S.DEAD))[0].id == refused.id

    async def test_correct_sends_a_new_message_in_the_refused_ones_place(self, outbox: Outbox) -> None:
        refused, later = notice(header="h-refused"), notice()
        await outbox.enqueue("inbound-1", [refused, later], T0)
        await self._finish(outbox, await self._claim(outbox), DeadLetter("fatal-error", ack("fatal-error")))
        corrected = {"resourceType": "Bundle", "type": "message", "entry": [{"resource": {"id": "h-corrected"}}]}
        with pytest.raises(IssueError):
            await outbox.correct(later.id, corrected, T0)  # only a dead notice can be corrected
        record = await outbox.correct(refused.id, corrected, T0 + LEASE)
        assert (record.state, record.message_header_id, record.corrects) == (S.PENDING, "h-corrected", "h-refused")
        assert record.ack is None and record.attempts == 0 and record.message == corrected
        claim = await self._claim(outbox, T0 + LEASE)
        assert claim.notice.id == refused.id, "before the later notice of its key"
        await self._finish(outbox, claim, ACKED, T0 + LEASE)
        assert await outbox.record_ack("h-corrected", ack()) is not None
        with pytest.raises(IssueError) as reused:
            other = notice()
            await outbox.enqueue("inbound-2", [other], T0)
            await self._finish(outbox, await self._claim(outbox, T0 + LEASE), DeadLetter("HTTP 400"), T0 + LEASE)
            await outbox.correct(other.id, corrected, T0 + LEASE)
        assert reused.value.issues[0].code == "conflict", "a MessageHeader.id is never used twice"

    async def test_keys_are_served_in_the_order_they_became_ready(self, outbox: Outbox) -> None:
        late, early = notice("late"), notice("early")
        await outbox.enqueue("inbound-1", [late], T0)
        await self._finish(outbox, await self._claim(outbox), Retry(T0 + timedelta(seconds=30)))
        await outbox.enqueue("inbound-2", [early], T0 + timedelta(seconds=10))
        at = T0 + timedelta(seconds=40)
        assert (await self._claim(outbox, at)).notice.id == early.id
        assert (await self._claim(outbox, at, token="worker-b")).notice.id == late.id

    async def test_repair_finds_nothing_to_repair_after_its_own_writes(self, outbox: Outbox) -> None:
        await outbox.enqueue("inbound-1", [notice(), notice(citizen="citizen-2")], T0)
        await self._finish(outbox, await self._claim(outbox), DeadLetter("HTTP 400"))
        assert await outbox.repair(T0) == 0

    async def test_expired_lease_makes_a_sending_notice_claimable_again(self, outbox: Outbox) -> None:
        await outbox.enqueue("inbound-1", [notice()], T0)
        stale = await self._claim(outbox, token="worker-a")
        assert await outbox.claim(T0 + LEASE - timedelta(seconds=1), LEASE, "worker-b") is None
        fresh = await self._claim(outbox, T0 + LEASE, token="worker-b")
        assert fresh.notice.id == stale.notice.id
        assert await outbox.record_attempt(fresh, attempt(T0 + LEASE), ACKED)
        # The first worker wakes up late: its attempt is logged but cannot overwrite the outcome.
        assert not await outbox.record_attempt(stale, attempt(T0 + LEASE), DeadLetter("timeout"))
        detail = await outbox.get(stale.notice.id)
        assert detail is not None
        assert detail.notice.state is S.ACKNOWLEDGED
        assert [a.number for a in detail.attempts] == [1, 2]

    async def test_a_resent_older_notice_does_not_stall_the_outbox(self, outbox: Outbox) -> None:
        """Review finding: n1 awaits its ack, n2 (same key) is claimed and its worker dies, n1 is resent. After
        n2's lease expires, n2 must be taken up again (it is in flight), then n1, and other citizens never wait."""
        first, second = notice(), notice()
        unrelated = notice(citizen="citizen-2")
        await outbox.enqueue("inbound-1", [first, second], T0)
        await self._finish(outbox, await self._claim(outbox), AwaitAck(T0 + timedelta(minutes=30)))
        stalled = await self._claim(outbox, token="dies")
        assert stalled.notice.id == second.id
        await outbox.resend(first.id, T0)
        await outbox.enqueue("inbound-2", [unrelated], T0)
        later = T0 + LEASE
        taken = [await outbox.claim(later, LEASE, f"worker-{i}") for i in range(3)]
        claimed = {c.notice.id: c for c in taken if c is not None}
        assert set(claimed) == {second.id, unrelated.id}, "the stalled send, and the other citizen unblocked"
        assert await outbox.record_attempt(claimed[second.id], attempt(later), ACKED)
        again = await outbox.claim(later, LEASE, "worker-9")
        assert again is not None and again.notice.id == first.id

    # record_attempt

    async def test_acknowledged_in_the_response(self, outbox: Outbox) -> None:
        await outbox.enqueue("inbound-1", [notice()], T0)
        claim = await self._claim(outbox)
        positive = ack()
        assert await outbox.record_attempt(claim, attempt(T0 + timedelta(seconds=1)), Acknowledge(positive))
        detail = await outbox.get(claim.notice.id)
        assert detail is not None
        n = detail.notice
        assert (n.state, n.attempts, n.ack, n.sent_at) == (
            S.ACKNOWLEDGED,
            1,
            positive,
            T0 + timedelta(seconds=1),
        )
        assert n.lease_expires_at is None
        assert detail.attempts[0].attempt.outcome is OutcomeKind.DELIVERED

    async def test_delivered_without_ack_waits_and_overdue_ack_is_listed(self, outbox: Outbox) -> None:
        await outbox.enqueue("inbound-1", [notice()], T0)
        claim = await self._claim(outbox)
        await self._finish(outbox, claim, AwaitAck(T0 + timedelta(minutes=30)))
        assert (await outbox.list_notices(S.SENT))[0].ack_due_at == T0 + timedelta(minutes=30)
        assert await outbox.overdue_acks(T0 + timedelta(minutes=29), 10) == []
        overdue = await outbox.overdue_acks(T0 + timedelta(minutes=30), 10)
        assert [n.id for n in overdue] == [claim.notice.id]

    async def test_retry_counts_attempts_and_becomes_due_later(self, outbox: Outbox) -> None:
        await outbox.enqueue("inbound-1", [notice()], T0)
        await self._finish(outbox, await self._claim(outbox), Retry(T0 + timedelta(seconds=10)))
        assert await outbox.claim(T0 + timedelta(seconds=9), LEASE, "w") is None
        again = await self._claim(outbox, T0 + timedelta(seconds=10))
        assert again.notice.attempts == 1
        await self._finish(outbox, again, Retry(T0 + timedelta(seconds=30)))
        detail = await outbox.get(again.notice.id)
        assert detail is not None and detail.notice.attempts == 2 and len(detail.attempts) == 2

    async def test_dead_letter_keeps_reason_and_negative_ack(self, outbox: Outbox) -> None:
        await outbox.enqueue("inbound-1", [notice()], T0)
        negative = ack("fatal-error")
        await self._finish(outbox, await self._claim(outbox), DeadLetter("fatal-error: MSG_x", negative))
        dead = await outbox.list_notices(S.DEAD)
        assert len(dead) == 1
        assert (dead[0].last_error, dead[0].ack) == ("fatal-error: MSG_x", negative)

    # acknowledgements arriving on their own, resends, dead letters

    async def test_async_positive_ack_completes_a_sent_notice(self, outbox: Outbox) -> None:
        new = notice()
        await outbox.enqueue("inbound-1", [new], T0)
        await self._finish(outbox, await self._claim(outbox), AwaitAck(T0 + timedelta(minutes=30)))
        record = await outbox.record_ack(new.message_header_id, ack())
        assert record is not None and record.state is S.ACKNOWLEDGED and record.ack_due_at is None
        assert await outbox.overdue_acks(T0 + timedelta(hours=1), 10) == []

    async def test_async_negative_ack_is_a_dead_letter_with_the_reason(self, outbox: Outbox) -> None:
        new = notice()
        await outbox.enqueue("inbound-1", [new], T0)
        await self._finish(outbox, await self._claim(outbox), AwaitAck(T0 + timedelta(minutes=30)))
        record = await outbox.record_ack(new.message_header_id, ack("fatal-error"))
        assert record is not None and record.state is S.DEAD
        assert "MSG_Mailbox_Out_Of_Operation" in (record.last_error or "")

    async def test_ack_for_unknown_message_is_none_and_duplicate_ack_changes_nothing(self, outbox: Outbox) -> None:
        assert await outbox.record_ack("nobody", ack()) is None
        new = notice()
        await outbox.enqueue("inbound-1", [new], T0)
        await self._finish(outbox, await self._claim(outbox), ACKED)
        later = await outbox.record_ack(new.message_header_id, ack("fatal-error"))
        assert later is not None and later.state is S.ACKNOWLEDGED

    async def test_resend_keeps_header_id_and_counts(self, outbox: Outbox) -> None:
        new = notice()
        await outbox.enqueue("inbound-1", [new], T0)
        await self._finish(outbox, await self._claim(outbox), AwaitAck(T0 + timedelta(minutes=30)))
        resent = await outbox.resend(new.id, T0 + timedelta(minutes=30))
        assert (resent.state, resent.resends, resent.attempts) == (S.PENDING, 1, 0)
        assert resent.message_header_id == new.message_header_id
        assert resent.ack_due_at is None
        again = await self._claim(outbox, T0 + timedelta(minutes=30))
        assert again.notice.id == new.id

    async def test_pending_or_sending_notice_cannot_be_resent_and_unknown_is_not_found(self, outbox: Outbox) -> None:
        new = notice()
        await outbox.enqueue("inbound-1", [new], T0)
        with pytest.raises(IssueError) as pending:
            await outbox.resend(new.id, T0)
        assert pending.value.issues[0].code == "conflict"
        await self._claim(outbox)
        with pytest.raises(IssueError):
            await outbox.resend(new.id, T0)
        with pytest.raises(IssueError) as unknown:
            await outbox.resend("nope", T0)
        assert unknown.value.issues[0].code == "not-found"

    async def test_giving_up_on_a_sent_notice(self, outbox: Outbox) -> None:
        new = notice()
        await outbox.enqueue("inbound-1", [new], T0)
        await self._finish(outbox, await self._claim(outbox), AwaitAck(T0 + timedelta(minutes=30)))
        dead = await outbox.dead_letter(new.id, "no acknowledgement after 2 resends", T0 + timedelta(hours=2))
        assert (dead.state, dead.last_error) == (S.DEAD, "no acknowledgement after 2 resends")
        claim_new = notice(citizen="citizen-2")  # the dead one holds its own key
        await outbox.enqueue("inbound-2", [claim_new], T0)
        await self._claim(outbox)
        with pytest.raises(IssueError):
            await outbox.dead_letter(claim_new.id, "in flight", T0)

    async def test_retry_dead_revives_with_a_fresh_budget(self, outbox: Outbox) -> None:
        a, b = notice("a"), notice("b")
        await outbox.enqueue("inbound-1", [a, b], T0)
        await self._finish(outbox, await self._claim(outbox), DeadLetter("x"))
        await self._finish(outbox, await self._claim(outbox), DeadLetter("y"))
        only_b = await outbox.retry_dead(T0 + LEASE, [b.id])
        assert [(n.id, n.state, n.attempts) for n in only_b] == [(b.id, S.PENDING, 0)]
        rest = await outbox.retry_dead(T0 + LEASE)
        assert [n.id for n in rest] == [a.id]
        assert await outbox.list_notices(S.DEAD) == []

    # listing

    async def test_list_filters_and_pages_in_enqueue_order(self, outbox: Outbox) -> None:
        made = [notice(f"c{i}") for i in range(5)]
        await outbox.enqueue("inbound-1", made, T0)
        await self._finish(outbox, await self._claim(outbox), ACKED)
        assert [n.id for n in await outbox.list_notices()] == [n.id for n in made]
        assert [n.id for n in await outbox.list_notices(limit=2, offset=1)] == [made[1].id, made[2].id]
        assert [n.id for n in await outbox.list_notices(S.ACKNOWLEDGED)] == [made[0].id]
        assert len(await outbox.list_notices(S.PENDING)) == 4
        assert await outbox.get("unknown") is None
