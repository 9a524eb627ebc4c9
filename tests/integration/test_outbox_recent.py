"""`SqlOutbox.recent_for_key`: the newest notices of one kind for one ordering key (intake's look back over a stay,
plan sharing's "sent already?"), on SQLite and on PostgreSQL: newest first, at most `limit`, only that key and kind,
its ids only; `stored_message` reads the one message that is wanted."""

from __future__ import annotations

import dataclasses

from sqlalchemy import Engine

from gateway.delivery.outbox_sql import SqlOutbox
from tests.gateway.delivery.outbox_contract import T0, notice


async def test_newest_first_within_the_limit_of_that_key_and_kind_only(outbox_engine: Engine) -> None:
    outbox = SqlOutbox(outbox_engine)
    mine = [notice(citizen="citizen-r", recipient="sor:a", id=f"mine-{n}") for n in range(5)]
    for index, item in enumerate(mine):
        await outbox.enqueue(f"inbound-mine-{index}", [item], T0)
    await outbox.enqueue("inbound-other-key", [notice(citizen="citizen-r", recipient="sor:b", id="other-key")], T0)
    await outbox.enqueue("inbound-other-citizen", [notice(citizen="citizen-s", recipient="sor:a", id="other-c")], T0)
    other_kind = dataclasses.replace(notice(citizen="citizen-r", recipient="sor:a", id="other-kind"), kind="shared")
    await outbox.enqueue("inbound-other-kind", [other_kind], T0)

    found = outbox.recent_for_key("citizen-r", "sor:a", "hospital-notification", limit=3)

    assert [record.id for record in found] == ["mine-4", "mine-3", "mine-2"]
    assert [record.inbound_message_id for record in found] == ["inbound-mine-4", "inbound-mine-3", "inbound-mine-2"]
    assert [record.message_header_id for record in found] == [mine[4].message_header_id, mine[3].message_header_id,
                                                              mine[2].message_header_id]  # fmt: skip
    assert len(outbox.recent_for_key("citizen-r", "sor:a", "hospital-notification")) == 5


async def test_a_stored_message_is_the_notices_bundle_and_none_for_an_unknown_notice(outbox_engine: Engine) -> None:
    outbox = SqlOutbox(outbox_engine)
    item = notice(citizen="citizen-m", recipient="sor:a", id="stored-1")
    await outbox.enqueue("inbound-stored", [item], T0)
    assert outbox.stored_message("stored-1") == item.message
    assert outbox.stored_message("no-such-notice") is None
