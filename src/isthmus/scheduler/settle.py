"""Ending a scheduled job's rows: what it came to (``Verdict``) and every task and party
of it brought to an end (``settle_tasks``), so that no row of an ended job, or of a
stopped task, stays PENDING, READY or RUNNING on the scheduler.

A task never started because its job ended (or its upstream was stopped) is STOPPED
with the reason ``not started: …``: one of the statuses the node already knows
(``wire.status``), not a new one, and FAILED to a partner like any stopped task.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from isthmus.scheduler import status as st
from isthmus.store.schema import ScheduledTaskPartyRow, ScheduledTaskRow
from isthmus.wire.clock import now_ms
from isthmus.wire.status import Status


@dataclass(frozen=True)
class Verdict:
    """What an ended job came to: SUCCESS, FAILED or STOPPED, and why (None for
    SUCCESS)."""

    result: str
    reason: str | None


def settle_tasks(s: Session, job_id: str, why: str, names: set[str] | None = None) -> None:
    """Every task of the job (of ``names``) and every party of one that has not ended,
    STOPPED: a started one "stopped: <why>" (a stop's own reason as it is), one never
    started "not started: <why>". Nothing stays PENDING, READY or RUNNING."""
    stamp = now_ms()
    stop = why if why.startswith("stopped") else f"stopped: {why}"
    for task in s.query(ScheduledTaskRow).filter_by(job_id=job_id).all():
        if task.status in st.TASK_DONE or (names is not None and task.task_name not in names):
            continue
        started = task.task_id is not None
        task.status, task.finished_at = Status.STOPPED, stamp
        task.reason = task.reason or (stop if started or names else f"not started: {why}")
    for party in s.query(ScheduledTaskPartyRow).filter_by(job_id=job_id).all():
        if party.status in st.TASK_DONE or (names is not None and party.task_name not in names):
            continue
        party.status, party.updated_at = Status.STOPPED, stamp
        party.reason = stop if party.started else f"not started: {why}"
