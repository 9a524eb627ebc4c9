"""plan.first_active: when a plan for its citizen was first active, kept on the plan's row

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 13:40:00.000000

Which of a citizen's plans is theirs is decided by which organisation had a plan in force for them first
(`gateway.services.plans.citizens_plan`). Reading that from each plan's CarePlan history parsed every version on
every lookup, which a plan of many versions made as slow as its author liked (a review found about 2 ms a version).
The row now keeps it, written by every plan write; the upgrade fills it from the history once.
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("plan", sa.Column("first_active", sa.String(length=27), nullable=True))
    connection = op.get_bind()
    plan = sa.table("plan", sa.column("plan_id", sa.String), sa.column("first_active", sa.String))
    version = sa.table(
        "fhir_resource_version",
        sa.column("resource_type", sa.String),
        sa.column("id", sa.String),
        sa.column("version_id", sa.Integer),
        sa.column("last_updated", sa.String),
        sa.column("content", sa.Text),
    )
    plan_ids = list(connection.execute(sa.select(plan.c.plan_id)).scalars())
    for plan_id in plan_ids:
        first = _first_active(connection, version, plan_id)
        if first is not None:
            connection.execute(sa.update(plan).where(plan.c.plan_id == plan_id).values(first_active=first))


def _first_active(connection: sa.Connection, version: sa.TableClause, plan_id: str) -> str | None:
    """The lastUpdated of the plan's first CarePlan version with status active. The database picks the candidates
    (content as stored, compact JSON, holding `"status":"active"`); only those are parsed, in order, so a plan of
    many versions costs one parse, not one a version, while the upgrade holds the `plan` table."""
    candidates = connection.execute(
        sa.select(version.c.last_updated, version.c.content)
        .where(
            version.c.resource_type == "CarePlan",
            version.c.id == plan_id,
            version.c.content.like('%"status":"active"%'),
        )
        .order_by(version.c.version_id)
    )
    for last_updated, content in candidates:
        if orjson.loads(content).get("status") == "active":  # not a nested element's status
            return str(last_updated)
    return None


def downgrade() -> None:
    op.drop_column("plan", "first_active")
