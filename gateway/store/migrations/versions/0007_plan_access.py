"""plan access: resource authors, plans, plan members and consent grants

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 10:00:00.000000

`fhir_resource.author` is backfilled from `meta.source` (`https://sor2.sum.dsdn.dk/#id=<SOR>`), which the gateway
stamped on the first write of every resource before this revision. Plans stored before it get their `plan` rows,
members and grants at their next `PUT /plans`; until then only their author sees them.
"""

from __future__ import annotations

import json
import re

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_SOR_SOURCE = re.compile(r"https://sor2\.sum\.dsdn\.dk/#id=(\d{11,18})")


def upgrade() -> None:
    with op.batch_alter_table("fhir_resource", schema=None) as batch_op:
        batch_op.add_column(sa.Column("author", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_fhir_resource_type_author", ["resource_type", "author"], unique=False)

    op.create_table(
        "plan",
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=32), nullable=True),
        sa.Column("source_system", sa.String(length=512), nullable=False),
        sa.Column("source_value", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("plan_id", name=op.f("pk_plan")),
        sa.UniqueConstraint("source_system", "source_value", name=op.f("uq_plan_source_system_source_value")),
    )
    with op.batch_alter_table("plan", schema=None) as batch_op:
        batch_op.create_index("ix_plan_patient_id", ["patient_id"], unique=False)

    op.create_table(
        "plan_member",
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("resource_type", "id", "plan_id", "category", name=op.f("pk_plan_member")),
    )
    with op.batch_alter_table("plan_member", schema=None) as batch_op:
        batch_op.create_index("ix_plan_member_plan", ["plan_id", "category", "resource_type", "id"], unique=False)

    op.create_table(
        "plan_grant",
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("sor", sa.String(length=32), nullable=False),
        sa.Column("valid_from", sa.String(length=27), nullable=False),
        sa.Column("valid_to", sa.String(length=27), nullable=False),
        sa.PrimaryKeyConstraint("plan_id", "category", "sor", "valid_from", name=op.f("pk_plan_grant")),
    )
    with op.batch_alter_table("plan_grant", schema=None) as batch_op:
        batch_op.create_index("ix_plan_grant_sor", ["sor", "category", "plan_id"], unique=False)

    _backfill_authors()


def _backfill_authors() -> None:
    resource = sa.table(
        "fhir_resource", sa.column("resource_type"), sa.column("id"), sa.column("content"), sa.column("author")
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(resource.c.resource_type, resource.c.id, resource.c.content).where(
            resource.c.content.like("%sor2.sum.dsdn.dk/#id=%")
        )
    ).all()
    for resource_type, resource_id, content in rows:
        source = (json.loads(content).get("meta") or {}).get("source")
        match = _SOR_SOURCE.fullmatch(source) if isinstance(source, str) else None
        if match:
            connection.execute(
                sa.update(resource)
                .where(resource.c.resource_type == resource_type, resource.c.id == resource_id)
                .values(author=match.group(1))
            )


def downgrade() -> None:
    with op.batch_alter_table("plan_grant", schema=None) as batch_op:
        batch_op.drop_index("ix_plan_grant_sor")
    op.drop_table("plan_grant")
    with op.batch_alter_table("plan_member", schema=None) as batch_op:
        batch_op.drop_index("ix_plan_member_plan")
    op.drop_table("plan_member")
    with op.batch_alter_table("plan", schema=None) as batch_op:
        batch_op.drop_index("ix_plan_patient_id")
    op.drop_table("plan")
    with op.batch_alter_table("fhir_resource", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_resource_type_author")
        batch_op.drop_column("author")
