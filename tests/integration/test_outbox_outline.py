"""`SqlOutbox.inbound_outline`: what the consent gate reads of an inbound message (its notice ids in intake's order
and intake's summary), on SQLite and on PostgreSQL, without reading the notices themselves."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, update

from gateway.delivery.outbox_sql import InboundRecord, SqlOutbox
from gateway.store import tables as t
from tests.gateway.delivery.outbox_contract import T0, notice


async def test_the_outline_keeps_intakes_order_and_summary(outbox_engine: Engine) -> None:
    outbox = SqlOutbox(outbox_engine)
    summary = {"notices": [{"plan": "plan-1", "data": "careplan"}, {"plan": "plan-1", "data": "team"}, {}]}
    notices = [
        notice(recipient="sor:b", id="notice-3"),
        notice(recipient="sor:a", id="notice-1"),
        notice(recipient="sor:a", id="notice-2"),
    ]
    await outbox.enqueue("inbound-1", notices, T0, inbound=InboundRecord("application/xml", summary))
    assert await outbox.inbound_outline("inbound-1") == (("notice-3", "notice-1", "notice-2"), summary)


async def test_an_unknown_message_has_no_outline_and_one_without_a_summary_an_empty_one(outbox_engine: Engine) -> None:
    outbox = SqlOutbox(outbox_engine)
    assert await outbox.inbound_outline("nothing-here") is None
    await outbox.enqueue("inbound-2", [notice(recipient="sor:a", id="notice-4")], T0)
    assert await outbox.inbound_outline("inbound-2") == (("notice-4",), {})


async def test_a_summary_that_is_not_an_object_is_an_error_not_an_empty_outline(outbox_engine: Engine) -> None:
    # An empty outline would tell the consent gate that the notices carry no plan content: they would go unchecked.
    outbox = SqlOutbox(outbox_engine)
    await outbox.enqueue(
        "inbound-3", [notice(recipient="sor:a", id="notice-5")], T0, inbound=InboundRecord("application/xml", {})
    )
    with outbox_engine.begin() as connection:
        connection.execute(update(t.inbound_message).where(t.inbound_message.c.id == "inbound-3").values(summary="[1]"))
    with pytest.raises(ValueError, match="not an object"):
        await outbox.inbound_outline("inbound-3")
