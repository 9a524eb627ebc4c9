"""stored search results: the ordered ids of a paged search, so its pages stay stable under writes

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 15:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fhir_search_result",
        sa.Column("search_id", sa.String(length=64), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=80), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("expires", sa.String(length=27), nullable=False),
        sa.PrimaryKeyConstraint("search_id", name=op.f("pk_fhir_search_result")),
    )
    with op.batch_alter_table("fhir_search_result", schema=None) as batch_op:
        batch_op.create_index("ix_fhir_search_result_expires", ["expires"], unique=False)
    op.create_table(
        "fhir_search_result_entry",
        sa.Column("search_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("search_id", "position", name=op.f("pk_fhir_search_result_entry")),
    )


def downgrade() -> None:
    op.drop_table("fhir_search_result_entry")
    with op.batch_alter_table("fhir_search_result", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_search_result_expires")
    op.drop_table("fhir_search_result")
