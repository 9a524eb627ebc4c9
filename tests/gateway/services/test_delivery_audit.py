"""Every delivery attempt leaves an AuditEvent written in the attempt's own transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.clock import FixedClock, SequenceIds
from gateway.delivery.outbox import Acknowledge, AckRecord, Attempt, NewNotice
from gateway.delivery.outbox_sql import SqlOutbox
from gateway.delivery.outcome import OutcomeKind
from gateway.services.delivery import delivery_audit
from gateway.store.database import make_engine, upgrade
from gateway.store.search_query import SearchQuery
from gateway.store.sql import SqlResourceStore

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


async def test_attempt_and_audit_event_are_written_together(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    upgrade(engine)
    clock = FixedClock(T0)
    outbox = SqlOutbox(engine, on_attempt=delivery_audit(clock, SequenceIds()))
    notice = NewNotice("n1", "h1", "citizen", "sor:1", "http://127.0.0.1:9/x", {"resourceType": "Bundle"}, "hn")
    await outbox.enqueue("in-1", [notice], T0)
    claim = await outbox.claim(T0, timedelta(minutes=1), "token")
    assert claim is not None
    attempt = Attempt("bundle-1", T0, T0, OutcomeKind.DELIVERED, status=200)
    await outbox.record_attempt(claim, attempt, Acknowledge(AckRecord("ack-1", "b", "ok", T0)))
    store = SqlResourceStore(engine, clock)
    with store.reading() as tx:
        events = [m.resource for m in tx.search(SearchQuery("AuditEvent", count=10)).matches]
    assert len(events) == 1
    event = events[0]
    assert event is not None and event["outcome"] == "0"
    assert "h1" in event["outcomeDesc"] and "bundle-1" in event["outcomeDesc"]
    engine.dispose()
