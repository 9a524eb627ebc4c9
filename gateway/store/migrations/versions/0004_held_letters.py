"""held letters: XDIS91 letters waiting for their XBIN01 attachments (and XBIN01 waiting for their letter)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 12:00:00

Issue 15's own migration, kept apart from the access tables added in parallel: at merge, renumber the file and
point `down_revision` at whichever revision is then the head.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "held_inbound",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("object_keys", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.String(length=27), nullable=False),
        sa.Column("expires_at", sa.String(length=27), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_inbound")),
    )
    op.create_index("ix_held_inbound_sender_state", "held_inbound", ["sender", "state"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_held_inbound_sender_state", table_name="held_inbound")
    op.drop_table("held_inbound")
