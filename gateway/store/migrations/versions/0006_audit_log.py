"""audit log: AuditEvents in an append-only table of their own, moved out of the FHIR resource tables

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:00:00

Creates `audit_event` and `audit_event_index` and moves the AuditEvents stored so far as FHIR resources (current
row, history rows, search index rows) into them, in batches. The columns are filled by
`gateway.store.audit_log.append`, the code that writes every new event.
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BATCH = 1000
_INDEX_TABLES = ("fhir_search_token", "fhir_search_reference", "fhir_search_date", "fhir_search_string")


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("recorded", sa.String(length=27), nullable=False),
        sa.Column("action", sa.String(length=1), nullable=True),
        sa.Column("outcome", sa.String(length=2), nullable=True),
        sa.Column("type_system", sa.String(length=200), nullable=True),
        sa.Column("type_code", sa.String(length=64), nullable=True),
        sa.Column("subtype_system", sa.String(length=200), nullable=True),
        sa.Column("subtype_code", sa.String(length=64), nullable=True),
        sa.Column("patient", sa.String(length=64), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index("ix_audit_event_patient", ["patient", "recorded"], unique=False)
        batch_op.create_index("ix_audit_event_recorded", ["recorded"], unique=False)
    op.create_table(
        "audit_event_index",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=32), nullable=False),
        sa.Column("system", sa.String(length=512), nullable=True),
        sa.Column("value", sa.String(length=512), nullable=False),
    )
    with op.batch_alter_table("audit_event_index", schema=None) as batch_op:
        batch_op.create_index("ix_audit_event_index_lookup", ["param", "value", "event_id"], unique=False)
    _move_stored_events()


def _move_stored_events() -> None:
    from gateway.store import audit_log

    bind = op.get_bind()
    resources = sa.table("fhir_resource", sa.column("resource_type"), sa.column("id"), sa.column("content"))
    while True:
        batch = bind.execute(
            sa.select(resources.c.id, resources.c.content)
            .where(resources.c.resource_type == "AuditEvent")
            .order_by(resources.c.id)
            .limit(_BATCH)
        ).all()
        if not batch:
            return
        for row in batch:
            if row.content is not None:
                event = orjson.loads(row.content)
                event.pop("meta", None)  # versionId/lastUpdated of the old storage; the new one adds its own
                event["id"] = row.id
                audit_log.append(bind, event, once=True)
        ids = [row.id for row in batch]
        for name in ("fhir_resource", "fhir_resource_version", *_INDEX_TABLES):
            table = sa.table(name, sa.column("resource_type"), sa.column("id"))
            bind.execute(sa.delete(table).where(table.c.resource_type == "AuditEvent", table.c.id.in_(ids)))


def downgrade() -> None:
    with op.batch_alter_table("audit_event_index", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_index_lookup")
    op.drop_table("audit_event_index")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_recorded")
        batch_op.drop_index("ix_audit_event_patient")
    op.drop_table("audit_event")
