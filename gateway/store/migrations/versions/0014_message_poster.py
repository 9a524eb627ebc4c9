"""inbound_message.poster, held_inbound.poster: the organisation that posted a message

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 11:30:00.000000

`/messages` shows a caller the messages its organisation posted, and no others (a security review found every
client with `system/Messages.r` reading and changing every organisation's messages, raw HL7 with the CPR number
included). The column is the poster's SOR code; rows from before are NULL, which no organisation's caller sees
(the local CLI sees everything).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("inbound_message", sa.Column("poster", sa.String(length=64), nullable=True))
    op.create_index("ix_inbound_message_poster", "inbound_message", ["poster"], unique=False)
    op.add_column("held_inbound", sa.Column("poster", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("held_inbound", "poster")
    op.drop_index("ix_inbound_message_poster", table_name="inbound_message")
    op.drop_column("inbound_message", "poster")
