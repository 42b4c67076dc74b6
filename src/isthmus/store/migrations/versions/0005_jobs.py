"""Jobs: the participant's jobs and task runs, the scheduler's jobs, tasks and parties.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("job_id", sa.String(128), primary_key=True),
        sa.Column("flow_id", sa.String(128), nullable=False),
        sa.Column("scheduler_node_id", sa.String(128), nullable=False),
        sa.Column("initiator_node_id", sa.String(128), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("session_token", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "local_tasks",
        sa.Column("task_id", sa.String(128), primary_key=True),
        sa.Column("party", sa.String(64), primary_key=True),
        sa.Column("job_id", sa.String(128), nullable=False, index=True),
        sa.Column("task_name", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("runner", sa.String(32), nullable=False),
        sa.Column("handle", sa.Text, nullable=False),
        sa.Column("log_path", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("exit_code", sa.Integer, nullable=True),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("deadline_at", sa.BigInteger, nullable=False),
        sa.Column("finished_at", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "scheduled_jobs",
        sa.Column("job_id", sa.String(128), primary_key=True),
        sa.Column("flow_id", sa.String(128), nullable=False, index=True),
        sa.Column("initiator_node_id", sa.String(128), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("sync_type", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("finished_at", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "scheduled_job_parties",
        sa.Column("job_id", sa.String(128), primary_key=True),
        sa.Column("node_id", sa.String(128), primary_key=True),
        sa.Column("created", sa.Boolean, nullable=False),
        sa.Column("started", sa.Boolean, nullable=False),
        sa.Column("unreachable_since", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "scheduled_tasks",
        sa.Column("job_id", sa.String(128), primary_key=True),
        sa.Column("task_name", sa.String(128), primary_key=True),
        sa.Column("task_id", sa.String(128), nullable=True, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("started_at", sa.BigInteger, nullable=True),
        sa.Column("deadline_at", sa.BigInteger, nullable=True),
        sa.Column("finished_at", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "scheduled_task_parties",
        sa.Column("job_id", sa.String(128), primary_key=True),
        sa.Column("task_name", sa.String(128), primary_key=True),
        sa.Column("node_id", sa.String(128), primary_key=True),
        sa.Column("role", sa.String(32), primary_key=True),
        sa.Column("started", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("log_tail", sa.Text, nullable=True),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "scheduled_task_parties",
        "scheduled_tasks",
        "scheduled_job_parties",
        "scheduled_jobs",
        "local_tasks",
        "jobs",
    ):
        op.drop_table(table)
