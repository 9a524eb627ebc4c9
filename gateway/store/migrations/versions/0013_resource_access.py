"""resource_access: the organisations that may reach each resource, in sort order per organisation

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 02:30:00.000000

Issue 18: a search by an organisation that sees a part of the plans walked that part (up to 1,000 ids) and sorted
it, so its cost grew with the number of plans. Each row names an organisation that may reach a resource (its
author, or a SOR some grant of one of its plans names) with the resource's `last_updated`; a search walks its
caller's rows in order and stops at the page's end, the access rule deciding each row as before. Backfilled here
from `fhir_resource.author`, `plan_member` and `plan_grant`; kept by every write from now on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resource_access",
        sa.Column("sor", sa.String(length=32), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("last_updated", sa.String(length=27), nullable=False),
        sa.PrimaryKeyConstraint("sor", "resource_type", "id", name=op.f("pk_resource_access")),
    )
    op.create_index(
        "ix_resource_access_updated", "resource_access", ["sor", "resource_type", "last_updated", "id"], unique=False
    )
    op.create_index("ix_resource_access_resource", "resource_access", ["resource_type", "id"], unique=False)
    op.execute(
        "INSERT INTO resource_access (sor, resource_type, id, last_updated) "
        "SELECT author, resource_type, id, last_updated FROM fhir_resource WHERE author IS NOT NULL "
        "UNION "
        "SELECT g.sor, m.resource_type, m.id, r.last_updated FROM plan_member m "
        "JOIN plan_grant g ON g.plan_id = m.plan_id AND g.category = m.category "
        "JOIN fhir_resource r ON r.resource_type = m.resource_type AND r.id = m.id"
    )


def downgrade() -> None:
    op.drop_index("ix_resource_access_resource", table_name="resource_access")
    op.drop_index("ix_resource_access_updated", table_name="resource_access")
    op.drop_table("resource_access")
