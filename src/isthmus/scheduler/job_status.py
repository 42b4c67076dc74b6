"""What a scheduler knows about a job it schedules, as its operator is shown it: the
``job_status`` (the job's result once it ended: SUCCESS, FAILED or STOPPED) and
``status`` (task name → status, STOPPED included), and what Isthmus adds: every task
with its id, its parties and, for each party that failed, why (the reason and the log
tail it shared). A partner is sent it through ``outcomes.to_wire``.

A read of the scheduler's rows in the caller's transaction; it changes nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from isthmus.scheduler.outcomes import shown
from isthmus.store.schema import ScheduledJobRow, ScheduledTaskPartyRow, ScheduledTaskRow
from isthmus.wire.dag import Job
from isthmus.wire.status import Status


def _task_detail(task: ScheduledTaskRow, own: list[ScheduledTaskPartyRow]) -> dict[str, Any]:
    return {
        "task_name": task.task_name,
        "task_id": task.task_id,
        "status": task.status,
        "reason": task.reason,
        "started_at": task.started_at,
        "finished_at": task.finished_at,
        "parties": [{"node_id": p.node_id, "role": p.role, "status": p.status} for p in own],
    }


def _failures(task: ScheduledTaskRow, own: list[ScheduledTaskPartyRow]) -> list[dict[str, Any]]:
    return [
        {
            "task_name": task.task_name,
            "task_id": task.task_id,
            "node_id": p.node_id,
            "role": p.role,
            "reason": p.reason,
            "log_tail": p.log_tail,
        }
        for p in own
        if p.status == Status.FAILED
    ]


def scheduled_status(session: Session, row: ScheduledJobRow, job: Job, me: str) -> dict[str, Any]:
    """The job's status document, tasks in the DAG's order."""
    job_id = row.job_id
    tasks = {t.task_name: t for t in session.query(ScheduledTaskRow).filter_by(job_id=job_id)}
    parties = session.query(ScheduledTaskPartyRow).filter_by(job_id=job_id).all()
    details: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for component in job.components:
        task = tasks[component.name]
        own = [p for p in parties if p.task_name == component.name]
        details.append(_task_detail(task, own))
        failures += _failures(task, own)
    return {
        "job_id": job_id,
        "job_status": shown(row.status, row.result),
        "result": row.result,
        "status": {t["task_name"]: t["status"] for t in details},
        "reason": row.reason,
        "scheduler": me,
        "initiator": row.initiator_node_id,
        "created_at": row.created_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "tasks": details,
        "failures": failures,
    }
