"""Management plane: datasets, approvals (audits) of every resource type, permits, and
the admin API's named tokens and roles.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "scheduled_jobs",
        sa.Column("mprac_token_set", sa.Text, nullable=False, server_default=""),
    )
    op.add_column(
        "scheduled_jobs",
        sa.Column("initiator_sign", sa.Text, nullable=False, server_default=""),
    )
    op.create_table(
        "datasets",
        sa.Column("dataset_id", sa.String(256), primary_key=True),
        sa.Column("namespace", sa.String(128), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("table_name", sa.String(256), nullable=False),
        sa.Column("column_metas", sa.Text, nullable=False),
        sa.Column("join_columns", sa.Text, nullable=False),
        sa.Column("label_columns", sa.Text, nullable=False),
        sa.Column("row_count", sa.BigInteger, nullable=False),
        sa.Column("public", sa.Boolean, nullable=False),
        sa.Column("schema_fingerprint", sa.String(64), nullable=False),
        sa.Column("registered_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "audits",
        sa.Column("direction", sa.String(16), primary_key=True),
        sa.Column("peer_node_id", sa.String(128), primary_key=True),
        sa.Column("audit_id", sa.String(128), primary_key=True),
        sa.Column("resource_type", sa.String(16), nullable=False, index=True),
        sa.Column("resource_id", sa.String(256), nullable=False, index=True),
        sa.Column("contract_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("permit", sa.Text, nullable=True),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "permits",
        sa.Column("token_sha256", sa.String(64), primary_key=True),
        sa.Column("audit_id", sa.String(128), nullable=False, index=True),
        sa.Column("resource_type", sa.String(16), nullable=False),
        sa.Column("resource_id", sa.String(256), nullable=False),
        sa.Column("resource_level", sa.Integer, nullable=False),
        sa.Column("request_node_id", sa.String(128), nullable=False, index=True),
        sa.Column("time_limit", sa.BigInteger, nullable=False),
        sa.Column("times_limit", sa.Integer, nullable=False),
        sa.Column("times_used", sa.Integer, nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False),
        sa.Column("standing", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_used_at", sa.BigInteger, nullable=True),
    )

    op.create_table(
        "api_tokens",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("roles", sa.String(256), nullable=False),
        sa.Column("service", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
        sa.Column("last_used_at", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
    for table in ("permits", "audits", "datasets"):
        op.drop_table(table)
    op.drop_column("scheduled_jobs", "mprac_token_set")
    op.drop_column("scheduled_jobs", "initiator_sign")
