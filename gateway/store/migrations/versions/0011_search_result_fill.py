"""stored search results filled in passes: whether a result is complete, and its ids by resource

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 18:40:00.000000

Issue 18: a paged search stored the ids of every match with its first page (45,000 rows for a broad search at 50,000
plans), so a first page cost what all its matches cost. A result is now stored in passes, as HAPI FHIR's search
pre-fetch thresholds load it: the first pass as many as a few pages need, each later pass when a page beyond them is
asked for. `complete` says whether the last pass found the end; `ix_fhir_search_result_entry_resource` answers "is
this resource stored already?", which keeps a later pass from repeating a match that moved in the order.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fhir_search_result", schema=None) as batch_op:
        batch_op.add_column(sa.Column("complete", sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table("fhir_search_result_entry", schema=None) as batch_op:
        batch_op.create_index("ix_fhir_search_result_entry_resource", ["search_id", "resource_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("fhir_search_result_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_search_result_entry_resource")
    with op.batch_alter_table("fhir_search_result", schema=None) as batch_op:
        batch_op.drop_column("complete")
