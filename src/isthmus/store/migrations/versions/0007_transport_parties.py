"""Transport sessions know their job's parties: the partners they accept messages from
and send to. Sessions opened before this revision have none recorded, so no partner may
push into them (an operator can open a new session naming its parties).

Revision ID: 0007_transport_parties
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_transport_parties"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "transport_sessions",
        sa.Column("parties", sa.Text, nullable=False, server_default=""),
    )


def downgrade() -> None:
    with op.batch_alter_table("transport_sessions") as batch:
        batch.drop_column("parties")
