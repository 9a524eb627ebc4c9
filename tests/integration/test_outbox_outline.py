"""`SqlOutbox.inbound_outline`: what the consent gate reads of an inbound message (its notice ids in intake's order
and intake's summary), on SQLite and on PostgreSQL, without reading the notices themselves."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, update

from gateway.delivery.outbox import NewNotice
from gateway.delivery.outbox_sql import InboundRecord, SqlOutbox
from gateway.store import tables as t

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _notice(number: int, recipient: str) -> NewNotice:
    message = {"resourceType": "Bundle", "id": f"bundle-{number}"}
    return NewNotice(f"notice-{number}", f"header-{number}", "citizen-1", recipient, "http://x/fhir", message)


async def test_the_outline_keeps_intakes_order_and_summary(outbox_engine: Engine) -> None:
    outbox = SqlOutbox(outbox_engine)
    summary = {"notices": [{"plan": "plan-1", "data": "careplan"}, {"plan": "plan-1", "data": "team"}, {}]}
    notices = [_notice(3, "sor:b"), _notice(1, "sor:a"), _notice(2, "sor:a")]
    await outbox.enqueue("inbound-1", notices, T0, inbound=InboundRecord("application/xml", summary))
    assert await outbox.inbound_outline("inbound-1") == (("notice-3", "notice-1", "notice-2"), summary)


async def test_an_unknown_message_has_no_outline_and_one_without_a_summary_an_empty_one(outbox_engine: Engine) -> None:
    outbox = SqlOutbox(outbox_engine)
    assert await outbox.inbound_outline("nothing-here") is None
    await outbox.enqueue("inbound-2", [_notice(4, "sor:a")], T0)
    assert await outbox.inbound_outline("inbound-2") == (("notice-4",), {})


async def test_a_summary_that_is_not_an_object_is_an_error_not_an_empty_outline(outbox_engine: Engine) -> None:
    # An empty outline would tell the consent gate that the notices carry no plan content: they would go unchecked.
    outbox = SqlOutbox(outbox_engine)
    await outbox.enqueue("inbound-3", [_notice(5, "sor:a")], T0, inbound=InboundRecord("application/xml", {}))
    with outbox_engine.begin() as connection:
        connection.execute(update(t.inbound_message).where(t.inbound_message.c.id == "inbound-3").values(summary="[1]"))
    with pytest.raises(ValueError, match="not an object"):
        await outbox.inbound_outline("inbound-3")
