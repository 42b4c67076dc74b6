"""Transport engine: receiver-side stream marks, spilled payloads; session counters go.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

The counters are now derived from the queues when the node loads them. The receiver
marks make resends harmless after their original was popped (the unique index alone
only caught resends of unread messages). Large payloads live in files beside the
database (``spilled``), written once instead of through the WAL and its checkpoint.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_COUNTERS = ("out_count", "out_bytes", "in_count", "in_bytes")


def upgrade() -> None:
    op.create_table(
        "transport_in_streams",
        sa.Column("session_id", sa.String(256), primary_key=True),
        sa.Column("peer_node_id", sa.String(128), primary_key=True),
        sa.Column("received_upto", sa.BigInteger, nullable=False),
    )
    # Streams already received from: their mark is the highest sequence still stored.
    op.execute(
        "INSERT INTO transport_in_streams (session_id, peer_node_id, received_upto) "
        "SELECT session_id, peer_node_id, MAX(seq) FROM transport_in WHERE seq > 0 "
        "GROUP BY session_id, peer_node_id"
    )
    with op.batch_alter_table("transport_sessions") as batch:
        for column in _COUNTERS:
            batch.drop_column(column)
    for table in ("transport_out", "transport_in"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("spilled", sa.Boolean, nullable=False, server_default=sa.false())
            )


def downgrade() -> None:
    for table in ("transport_out", "transport_in"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("spilled")
    with op.batch_alter_table("transport_sessions") as batch:
        for column in _COUNTERS:
            batch.add_column(sa.Column(column, sa.BigInteger, nullable=False, server_default="0"))
    op.drop_table("transport_in_streams")
