"""Foundation: contracts, nonce cache, audit log, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64


def upgrade() -> None:
    op.create_table(
        "contracts",
        sa.Column("contract_id", sa.String(128), primary_key=True),
        sa.Column("peer_node_id", sa.String(128), nullable=False, index=True),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("peer_address", sa.String(512), nullable=False),
        sa.Column("peer_name", sa.String(256), nullable=False),
        sa.Column("peer_inst_id", sa.String(128), nullable=False),
        sa.Column("peer_institution", sa.String(256), nullable=False),
        sa.Column("peer_system", sa.String(64), nullable=False),
        sa.Column("peer_system_version", sa.String(64), nullable=False),
        sa.Column("peer_description", sa.Text, nullable=True),
        sa.Column("peer_auth_type", sa.String(64), nullable=True),
        sa.Column("peer_auth_credential", sa.Text, nullable=True),
        sa.Column("peer_tls_fingerprint", sa.String(64), nullable=True),
        sa.Column("expired_time", sa.BigInteger, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "seen_nonces",
        sa.Column("source_node_id", sa.String(128), primary_key=True),
        sa.Column("nonce", sa.String(128), primary_key=True),
        sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("action", sa.String(128), nullable=False, index=True),
        sa.Column("subject", sa.String(256), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "last_seq": 0, "last_hash": GENESIS_HASH}])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("peer_node_id", sa.String(128), nullable=False),
        sa.Column("address", sa.String(512), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("signed", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("delivered_at", sa.BigInteger, nullable=True),
        sa.Column("dead", sa.Integer, nullable=False),
    )
    op.create_index("ix_outbox_due", "outbox", ["delivered_at", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_due", "outbox")
    for table in ("outbox", "audit_head", "audit_events", "seen_nonces", "contracts"):
        op.drop_table(table)
