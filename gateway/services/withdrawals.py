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
restarts on it) must not wait behind follow-up the citizen withdrew. For the same reason a notice that is dead
already when the consent goes is withheld too. Giving consent again does not bring withheld
notices back; the plan goes to the team again after the next coordination meeting.

The outbox is used through its public methods only.

The gate runs before every send, so what it reads is kept (issue 18: it was 4.5 ms of a notice's ~21 ms): which
plan content a notice carries, per inbound message (intake's summary and its notices never change once stored),
and each "does the plan's consent grant this organisation this category?" answer, per (plan, category,
organisation), by `KeptWhileCurrent` (`gateway.services.plan_cache`): only while the store's write generation is
the same (any plan or consent write, by any instance on the database, makes it stale) and the instant asked about
lies in the span where none of the organisation's grants starts or ends (a consent that ends by its period stops
the very next send). Checking costs one SELECT of one row.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from gateway.clock import Clock
from gateway.delivery.outbox import NoticeRecord, NoticeState
from gateway.delivery.outbox_sql import SqlOutbox
from gateway.lru import Lru
from gateway.services.plan_cache import KeptWhileCurrent
from gateway.store.dates import format_instant
from gateway.store.ports import ResourceStore
from mappings.issues import IssueError

_PAGE = 500

#: An inbound message's notice ids in order and intake's summary entries for them.
_Carrying = tuple[tuple[str, ...], list[dict[str, Any]]]


class Withdrawals:
    """`kept`: how many inbound messages' summaries and consent decisions are kept (0: none, read every time)."""

    def __init__(self, outbox: SqlOutbox, store: ResourceStore, clock: Clock, *, kept: int = 4096) -> None:
        self.outbox = outbox
        self.store = store
        self.clock = clock
        self.decisions: KeptWhileCurrent[tuple[str, str, str], bool] = KeptWhileCurrent(store, kept)
        self._carrying: Lru[str, _Carrying] = Lru(kept)

    async def carried(self, notice: NoticeRecord) -> tuple[str, str] | None:
        """(plan id, data category) of the plan content `notice` carries, or None (intake's summary, in order)."""
        siblings, entries = await self._carrying_of(notice.inbound_message_id)
        if notice.id not in siblings or siblings.index(notice.id) >= len(entries):
            return None
        entry = entries[siblings.index(notice.id)]
        plan, data = entry.get("plan"), entry.get("data")
        return (plan, data) if isinstance(plan, str) and isinstance(data, str) else None

    async def _carrying_of(self, inbound_message_id: str) -> _Carrying:
        if (kept := self._carrying.get(inbound_message_id)) is not None:
            return kept
        found = await self.outbox.inbound_outline(inbound_message_id)
        if found is None:
            return (), []  # not kept: an inbound message not (yet) stored
        notice_ids, summary = found
        carrying = (notice_ids, summary.get("notices") or [])
        self._carrying.put(inbound_message_id, carrying)
        return carrying

    def granted(self, carried: tuple[str, str], notice: NoticeRecord, now: datetime) -> bool:
        plan_id, data = carried
        sor, at = notice.recipient.removeprefix("sor:"), format_instant(now)
        return self.decisions.kept((plan_id, data, sor), at, sor, lambda tx: tx.granted(plan_id, data, sor, at))

    async def refusal(self, notice: NoticeRecord) -> str | None:
        """Why `notice` may not be sent again now (its plan's consent no longer grants the recipient), or None."""
        carried = await self.carried(notice)
        # `granted` reads the database (one row when its decision is kept): on a worker thread, never on the loop.
        if carried is None or await asyncio.to_thread(self.granted, carried, notice, self.clock.now()):
            return None
        return _reason(carried, notice)

    async def stop_queued_plan_content(self, plan_id: str) -> list[NoticeRecord]:
        """Withhold the queued notices carrying `plan_id`'s content that its consent no longer permits: waiting
        ones, and dead ones too (a dead notice holds its queue, and no operator may send it now). One a worker
        claims meanwhile is left to the worker's gate, which asks the same question before it sends."""
        now = self.clock.now()
        stopped: list[NoticeRecord] = []
        for state in (NoticeState.PENDING, NoticeState.SENT, NoticeState.DEAD):
            for notice in await every_notice(self.outbox, state):
                carried = await self.carried(notice)
                if carried is None or carried[0] != plan_id:
                    continue
                if await asyncio.to_thread(self.granted, carried, notice, now):
                    continue
                try:
                    stopped.append(await self.outbox.withhold(notice.id, _reason(carried, notice), now))
                except IssueError as error:
                    if error.issues[0].message_id != "outbox.not-withholdable":
                        raise
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
