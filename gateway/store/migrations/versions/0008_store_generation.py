"""store generation: one row moved by every write of resources or plan access data

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 15:30:00.000000

Readers keep what they derived from the store (the citizen's plan for discharges) while the number is unchanged
(`gateway.store.generation`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "store_generation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_generation")),
    )
    op.bulk_insert(table, [{"id": 1, "value": 0}])


def downgrade() -> None:
    op.drop_table("store_generation")
