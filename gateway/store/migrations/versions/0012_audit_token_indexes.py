"""AuditEvent searches by action, outcome, type and subtype are index-backed

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 23:50:00.000000

Issue 18: every advertised search parameter is index-backed. The audit trail's token parameters were answered by
reading every event. Each index leads with the code (what a search always gives; the system is optional in FHIR
token search) and ends with `recorded`, the trail's default order, so a page is read in order.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_INDEXES = {
    "ix_audit_event_action": ["action", "recorded"],
    "ix_audit_event_outcome": ["outcome", "recorded"],
    "ix_audit_event_type": ["type_code", "type_system", "recorded"],
    "ix_audit_event_subtype": ["subtype_code", "subtype_system", "recorded"],
}


def upgrade() -> None:
    for name, columns in _INDEXES.items():
        op.create_index(name, "audit_event", columns, unique=False)


def downgrade() -> None:
    for name in _INDEXES:
        op.drop_index(name, table_name="audit_event")
