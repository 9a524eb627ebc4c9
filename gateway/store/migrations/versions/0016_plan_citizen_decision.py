"""plan.citizen_decision: the day up to which the citizen's own consent decision holds against the author's writes

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 16:00:00.000000

When the citizen changes who may see what on their own page, the plan's author's system still holds the consent as
it was; sending it again undid the citizen's decision (`tests/security/test_citizens_withdrawal.py`). The row now
keeps the day an organisation's decision must be after to replace the citizen's (`PlanService.accept`). Plans
written before have none: their stored consent is held to its own decision day, as for any organisation's.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("plan", sa.Column("citizen_decision", sa.String(length=10), nullable=True))


def downgrade() -> None:
    op.drop_column("plan", "citizen_decision")
