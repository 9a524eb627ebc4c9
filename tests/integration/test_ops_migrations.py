"""The operations migrations on data written before them: outbox queue rows derived, AuditEvents moved out of the
FHIR resource tables into the audit trail's own table (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from alembic import command
from sqlalchemy import Engine, func, select, text

from gateway.delivery.outbox_sql import SqlOutbox
from gateway.store import audit_log
from gateway.store import tables as t
from gateway.store.database import alembic_config, make_engine, upgrade
from mappings.audit import AuditAgent, audit_event

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
BEFORE = "0002"  # the schema as the previous release left it


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def old_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'old.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, BEFORE)
    yield engine
    engine.dispose()


def _old_rows(engine: Engine) -> None:
    """What the previous release wrote: an AuditEvent as a FHIR resource, and a backlog of one citizen."""
    event = audit_event(
        action="R",
        subtype="read",
        outcome="0",
        recorded=T0,
        agent=AuditAgent("region"),
        observer="http://gateway.test/",
        what=["CarePlan/p"],
        event_id="old-event",
    )
    # Written as that release wrote its rows (today's store writes columns that schema does not have yet).
    content, at = orjson.dumps(event).decode(), "2026-03-01T09:00:00.000000Z"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO fhir_resource (resource_type, id, version_id, last_updated, deleted, content) "
                "VALUES ('AuditEvent', 'old-event', 1, :at, :deleted, :content)"
            ),
            {"at": at, "deleted": False, "content": content},
        )
        connection.execute(
            text(
                "INSERT INTO fhir_resource_version (resource_type, id, version_id, last_updated, method, content) "
                "VALUES ('AuditEvent', 'old-event', 1, :at, 'POST', :content)"
            ),
            {"at": at, "content": content},
        )
        for n, state in enumerate(("acknowledged", "dead", "pending", "pending")):
            connection.execute(
                text(
                    "INSERT INTO outbox_notice (id, inbound_message_id, message_header_id, citizen, recipient, "
                    "endpoint, kind, message, state, created_at, due_at, attempts, resends) VALUES "
                    f"('n{n}', 'in', 'h{n}', 'c', 'r', 'http://x', 'k', '{{}}', '{state}', "
                    "'2026-03-01T09:00:00.000000Z', '2026-03-01T09:00:00.000000Z', 0, 0)"
                )
            )


async def test_upgrade_moves_audit_events_and_builds_the_queues(old_engine: Engine) -> None:
    _old_rows(old_engine)
    upgrade(old_engine)
    with old_engine.connect() as connection:
        moved = audit_log.read(connection, "old-event")
        left = connection.execute(
            select(func.count()).select_from(t.resource).where(t.resource.c.resource_type == "AuditEvent")
        ).scalar_one()
        (citizen, recipient, _ready, next_sequence, held_by) = connection.execute(select(t.outbox_queue)).one()
    assert moved is not None and moved.resource is not None and moved.resource["subtype"][0]["code"] == "read"
    assert left == 0, "nothing of it stays in the resource tables"
    assert (citizen, recipient, held_by) == ("c", "r", "n1"), "the dead notice holds the queue"
    outbox = SqlOutbox(old_engine)
    assert await outbox.claim(T0 + timedelta(hours=1), timedelta(minutes=1), "w") is None
    listed = await outbox.list_notices()
    assert [n.held_behind for n in listed] == [None, None, "n1", "n1"]
    assert next_sequence == listed[1].sequence
