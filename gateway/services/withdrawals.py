"""Queued plan content follows the consent: a withdrawal or an expiry stops what has not been sent yet.

A notice may carry a shared plan's content (the follow-up in a discharge letter, the municipality's follow-up, the
coordinator's admission and discharge notices, a crisis plan at admission); intake records which plan and which
data category in the inbound summary. After every plan write, `stop_queued_plan_content` withholds the queued
notices (pending, or sent and awaiting a resend) that carry that plan's content to an organisation the plan's own
Consent no longer grants that category (the grants the access rule reads, `may_disclose` materialised); `refusal`
decides again before every send (the worker's gate: a consent also ends by its period, with no write to notice it),
and before a replay or a retry of a dead notice.

A stopped notice is withheld (`skipped`, with the reason), not dead: a dead notice holds the later notices of its
citizen and recipient until an operator acts, and the admission notice the municipality must have (housing support
restarts on it) must not wait behind follow-up the citizen withdrew. Giving consent again does not bring withheld
notices back; the plan goes to the team again after the next coordination meeting.

The outbox is used through its public methods only.
"""

from __future__ import annotations

from datetime import datetime

from gateway.clock import Clock
from gateway.delivery.outbox import NoticeRecord, NoticeState
from gateway.delivery.outbox_sql import SqlOutbox
from gateway.store.dates import format_instant
from gateway.store.ports import ResourceStore

_PAGE = 500


class Withdrawals:
    def __init__(self, outbox: SqlOutbox, store: ResourceStore, clock: Clock) -> None:
        self.outbox = outbox
        self.store = store
        self.clock = clock

    async def carried(self, notice: NoticeRecord) -> tuple[str, str] | None:
        """(plan id, data category) of the plan content `notice` carries, or None (intake's summary, in order)."""
        found = await self.outbox.inbound(notice.inbound_message_id)
        siblings = [record.id for record in await self.outbox.for_inbound(notice.inbound_message_id)]
        entries = ((found[0] if found else {}).get("summary") or {}).get("notices") or []
        if notice.id not in siblings or siblings.index(notice.id) >= len(entries):
            return None
        entry = entries[siblings.index(notice.id)]
        plan, data = entry.get("plan"), entry.get("data")
        return (plan, data) if isinstance(plan, str) and isinstance(data, str) else None

    def granted(self, carried: tuple[str, str], notice: NoticeRecord, now: datetime) -> bool:
        plan_id, data = carried
        with self.store.reading() as tx:
            return tx.granted(plan_id, data, notice.recipient.removeprefix("sor:"), format_instant(now))

    async def refusal(self, notice: NoticeRecord) -> str | None:
        """Why `notice` may not be sent again now (its plan's consent no longer grants the recipient), or None."""
        carried = await self.carried(notice)
        if carried is None or self.granted(carried, notice, self.clock.now()):
            return None
        return _reason(carried, notice)

    async def stop_queued_plan_content(self, plan_id: str) -> list[NoticeRecord]:
        """Withhold the queued notices carrying `plan_id`'s content that its consent no longer permits."""
        now = self.clock.now()
        stopped: list[NoticeRecord] = []
        for state in (NoticeState.PENDING, NoticeState.SENT):
            for notice in await every_notice(self.outbox, state):
                carried = await self.carried(notice)
                if carried is not None and carried[0] == plan_id and not self.granted(carried, notice, now):
                    stopped.append(await self.outbox.withhold(notice.id, _reason(carried, notice), now))
        return stopped


def _reason(carried: tuple[str, str], notice: NoticeRecord) -> str:
    return f"consent: the plan {carried[0]} no longer permits {carried[1]} to {notice.recipient}"


async def every_notice(outbox: SqlOutbox, state: NoticeState) -> list[NoticeRecord]:
    """All notices in `state`, in enqueue order, read a page at a time."""
    found: list[NoticeRecord] = []
    while page := await outbox.list_notices(state, limit=_PAGE, offset=len(found)):
        found += page
        if len(page) < _PAGE:
            break
    return found
