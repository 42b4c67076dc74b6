"""Transport: sessions, sender streams, outbound and inbound queues, fragments.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "transport_sessions",
        sa.Column("session_id", sa.String(256), primary_key=True),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_activity_at", sa.BigInteger, nullable=False),
        sa.Column("released_at", sa.BigInteger, nullable=True),
        sa.Column("out_count", sa.BigInteger, nullable=False),
        sa.Column("out_bytes", sa.BigInteger, nullable=False),
        sa.Column("in_count", sa.BigInteger, nullable=False),
        sa.Column("in_bytes", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "transport_streams",
        sa.Column("session_id", sa.String(256), primary_key=True),
        sa.Column("peer_node_id", sa.String(128), primary_key=True),
        sa.Column("next_seq", sa.BigInteger, nullable=False),
    )
    for table in ("transport_out", "transport_in"):
        op.create_table(
            table,
            sa.Column("id", _ID, primary_key=True, autoincrement=True),
            sa.Column("session_id", sa.String(256), nullable=False),
            sa.Column("peer_node_id", sa.String(128), nullable=False),
            sa.Column("topic", sa.String(512), nullable=False),
            sa.Column("seq", sa.BigInteger, nullable=False),
            sa.Column("payload", sa.LargeBinary, nullable=False),
            sa.Column("created_at", sa.BigInteger, nullable=False),
        )
        op.create_index(
            f"ux_{table}_seq", table, ["session_id", "peer_node_id", "seq"], unique=True
        )
    op.create_index(
        "ix_transport_in_queue", "transport_in", ["session_id", "peer_node_id", "topic", "id"]
    )
    op.create_table(
        "transport_fragments",
        sa.Column("session_id", sa.String(256), primary_key=True),
        sa.Column("peer_node_id", sa.String(128), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("index", sa.Integer, primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("topic", sa.String(512), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "transport_fragments",
        "transport_in",
        "transport_out",
        "transport_streams",
        "transport_sessions",
    ):
        op.drop_table(table)
