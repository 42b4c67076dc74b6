"""Contracts record the attestation they require of the partner (issue 17): the policy
the partner's report was checked against (NULL: none required), the platform and status
of the last check, when it was made and when its proof lapses (epoch ms).

Contracts made before this revision require no attestation.

Revision ID: 0010_contract_attestation
Revises: 0009_tee_access_keys
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_contract_attestation"
down_revision = "0009_tee_access_keys"
branch_labels = None
depends_on = None

_NAMES = (
    "tee_policy",
    "peer_tee_platform",
    "peer_tee_valid_until",
    "peer_tee_checked_at",
    "peer_tee_status",
)


def upgrade() -> None:
    op.add_column("contracts", sa.Column("tee_policy", sa.Text, nullable=True))
    op.add_column("contracts", sa.Column("peer_tee_platform", sa.String(32), nullable=True))
    op.add_column("contracts", sa.Column("peer_tee_valid_until", sa.BigInteger, nullable=True))
    op.add_column("contracts", sa.Column("peer_tee_checked_at", sa.BigInteger, nullable=True))
    op.add_column("contracts", sa.Column("peer_tee_status", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contracts") as batch:
        for name in reversed(_NAMES):
            batch.drop_column(name)
