"""Jobs keep what they came to: ``result`` (SUCCESS, FAILED, STOPPED, REJECTED) beside
the spec's status on the scheduler's and the participant's rows, when they started,
and, on the participant's row, when it ended and when this side asked for a stop.

Jobs ended before this revision have no result; they show as the spec's FINISHED.

Revision ID: 0008_job_results
Revises: 0007_transport_parties
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_job_results"
down_revision = "0007_transport_parties"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for name in ("started_at", "finished_at", "stop_requested_at"):
        op.add_column("jobs", sa.Column(name, sa.BigInteger, nullable=True))
    op.add_column("jobs", sa.Column("result", sa.String(16), nullable=True))
    op.add_column("scheduled_jobs", sa.Column("started_at", sa.BigInteger, nullable=True))
    op.add_column("scheduled_jobs", sa.Column("result", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        for name in ("started_at", "finished_at", "stop_requested_at", "result"):
            batch.drop_column(name)
    with op.batch_alter_table("scheduled_jobs") as batch:
        for name in ("started_at", "result"):
            batch.drop_column(name)
