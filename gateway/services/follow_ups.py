"""Queued plan content follows the consent: a withdrawal or expiry stops what has not been sent yet.

A discharge notice may carry a shared plan's follow-up (`care-communication-discharge` to the GP when the consent
permitted it, `care-communication-followup` to the municipality): intake records which plan in the inbound
summary. After every plan write, `stop_follow_ups_no_longer_consented` dead-letters the queued notices (pending,
or sent and awaiting a resend) that carry that plan's follow-up to an organisation the plan's own Consent no
longer grants `followup` (the same grants the access rule reads); `refusal` decides again before a replay or a
retry of a dead notice. The outbox itself is only used through its public methods.
"""

from __future__ import annotations

from datetime import datetime

from gateway.clock import Clock
from gateway.delivery.outbox import NoticeRecord, NoticeState
from gateway.delivery.outbox_sql import SqlOutbox
from gateway.store.dates import format_instant
from gateway.store.ports import ResourceStore

#: Notices that carry a plan's follow-up when their inbound summary names the plan.
FOLLOW_UP_KINDS = frozenset({"care-communication-discharge", "care-communication-followup"})
_PAGE = 500


class FollowUpConsent:
    def __init__(self, outbox: SqlOutbox, store: ResourceStore, clock: Clock) -> None:
        self.outbox = outbox
        self.store = store
        self.clock = clock

    async def carried_plan(self, notice: NoticeRecord) -> str | None:
        """The shared plan whose follow-up `notice` carries, or None (intake's summary, entry for entry)."""
        if notice.kind not in FOLLOW_UP_KINDS:
            return None
        inbound = await self.outbox.inbound(notice.inbound_message_id)
        siblings = [record.id for record in await self.outbox.for_inbound(notice.inbound_message_id)]
        entries = ((inbound or {}).get("summary") or {}).get("notices") or []
        if notice.id not in siblings or siblings.index(notice.id) >= len(entries):
            return None
        plan = entries[siblings.index(notice.id)].get("plan")
        return plan if isinstance(plan, str) else None

    def granted(self, plan_id: str, notice: NoticeRecord, now: datetime) -> bool:
        sor = notice.recipient.removeprefix("sor:")
        with self.store.reading() as tx:
            return tx.granted(plan_id, "followup", sor, format_instant(now))

    async def refusal(self, notice: NoticeRecord) -> str | None:
        """Why `notice` may not be sent again now (its plan's consent no longer grants the recipient), or None."""
        plan_id = await self.carried_plan(notice)
        if plan_id is None or self.granted(plan_id, notice, self.clock.now()):
            return None
        return f"consent: the plan {plan_id} no longer permits its follow-up to {notice.recipient}"

    async def stop_follow_ups_no_longer_consented(self, plan_id: str) -> list[NoticeRecord]:
        """Dead-letter the queued notices carrying `plan_id`'s follow-up to organisations it no longer grants."""
        now = self.clock.now()
        stopped: list[NoticeRecord] = []
        for state in (NoticeState.PENDING, NoticeState.SENT):
            queued = [notice for notice in await every_notice(self.outbox, state) if notice.kind in FOLLOW_UP_KINDS]
            for notice in queued:
                if await self.carried_plan(notice) == plan_id and not self.granted(plan_id, notice, now):
                    reason = f"consent: the plan {plan_id} no longer permits its follow-up to {notice.recipient}"
                    stopped.append(await self.outbox.dead_letter(notice.id, reason, now))
        return stopped


async def every_notice(outbox: SqlOutbox, state: NoticeState) -> list[NoticeRecord]:
    """All notices in `state`, in enqueue order, read a page at a time."""
    found: list[NoticeRecord] = []
    while page := await outbox.list_notices(state, limit=_PAGE, offset=len(found)):
        found += page
        if len(page) < _PAGE:
            break
    return found
