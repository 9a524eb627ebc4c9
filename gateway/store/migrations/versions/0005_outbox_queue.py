"""outbox queue heads: one row per (citizen, recipient) for an O(1) claim; dead notices hold their queue

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:00:00

Adds `outbox_queue` (filled from the notices already stored), `outbox_notice.corrects` and two partial indexes.
Old instances keep working while it runs and after it: they do not read the new table, and their claims (which
do not update it) are repaired by the next refresh of the key (gateway.delivery.outbox_queue).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_OPEN = ("pending", "sending", "dead")


def upgrade() -> None:
    op.create_table(
        "outbox_queue",
        sa.Column("citizen", sa.String(length=200), nullable=False),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("ready_at", sa.String(length=27), nullable=True),
        sa.Column("next_sequence", sa.Integer(), nullable=True),
        sa.Column("held_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("citizen", "recipient", name=op.f("pk_outbox_queue")),
    )
    with op.batch_alter_table("outbox_queue", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_queue_ready",
            ["ready_at", "next_sequence"],
            unique=False,
            postgresql_where=sa.text("ready_at IS NOT NULL"),
            sqlite_where=sa.text("ready_at IS NOT NULL"),
        )
    with op.batch_alter_table("outbox_notice", schema=None) as batch_op:
        batch_op.add_column(sa.Column("corrects", sa.String(length=128), nullable=True))
        batch_op.create_index(
            "ix_outbox_notice_open",
            ["citizen", "recipient", "sequence"],
            unique=False,
            postgresql_where=sa.text("state IN ('pending', 'sending', 'dead')"),
            sqlite_where=sa.text("state IN ('pending', 'sending', 'dead')"),
        )
        batch_op.create_index(
            "ix_outbox_notice_ack_due",
            ["ack_due_at"],
            unique=False,
            postgresql_where=sa.text("state = 'sent'"),
            sqlite_where=sa.text("state = 'sent'"),
        )
    _fill_queue()


def _fill_queue() -> None:
    """One queue row per key with open notices, derived as gateway.delivery.outbox_queue.refresh does."""
    bind = op.get_bind()
    notices = sa.table(
        "outbox_notice",
        *(
            sa.column(name)
            for name in ("sequence", "id", "citizen", "recipient", "state", "due_at", "lease_expires_at")
        ),
    )
    queue = sa.table(
        "outbox_queue", *(sa.column(c) for c in ("citizen", "recipient", "ready_at", "next_sequence", "held_by"))
    )
    heads: dict[tuple[str, str], sa.Row[tuple[int, str, str, str, str, str, str]]] = {}
    open_rows = bind.execute(sa.select(notices).where(notices.c.state.in_(_OPEN)).order_by(notices.c.sequence)).all()
    for row in open_rows:
        key = (row.citizen, row.recipient)
        if key not in heads or (row.state == "sending" and heads[key].state != "sending"):
            heads[key] = row
    for (citizen, recipient), head in sorted(heads.items()):
        ready_at = {"sending": head.lease_expires_at, "pending": head.due_at}.get(head.state)
        held_by = head.id if head.state == "dead" else None
        bind.execute(
            sa.insert(queue).values(
                citizen=citizen, recipient=recipient, ready_at=ready_at, next_sequence=head.sequence, held_by=held_by
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_notice", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_notice_ack_due", postgresql_where=sa.text("state = 'sent'"))
        batch_op.drop_index(
            "ix_outbox_notice_open", postgresql_where=sa.text("state IN ('pending', 'sending', 'dead')")
        )
        batch_op.drop_column("corrects")
    with op.batch_alter_table("outbox_queue", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_queue_ready", postgresql_where=sa.text("ready_at IS NOT NULL"))
    op.drop_table("outbox_queue")
