"""Access keys of the TEE verification service (UAS, ``/v1/interconn/tee/uas/verify``):
the key id, the SHA-256 of its secret (never the secret), a label, and when it was made
and revoked.

Revision ID: 0009_tee_access_keys
Revises: 0008_job_results
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_tee_access_keys"
down_revision = "0008_job_results"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tee_access_keys",
        sa.Column("access_key", sa.String(64), primary_key=True),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("label", sa.String(256), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("tee_access_keys")
