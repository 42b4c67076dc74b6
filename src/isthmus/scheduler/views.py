"""What a participant shows: its jobs and task runs for the node's own operators (lists,
logs), and a task's status as its scheduler polls it (``answer``). Reading only; the
one check here, ``driven_job``, is the rule every call on a job obeys: only the node
that created it here (its scheduler), or this node itself, may drive or see it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from isthmus.scheduler import status as st
from isthmus.scheduler.jobdoc import job_row
from isthmus.scheduler.outcomes import shown
from isthmus.scheduler.reports import log_tail
from isthmus.store.db import Store
from isthmus.store.schema import JobRow, LocalTaskRow, ScheduledJobRow
from isthmus.wire.errors import NotFound
from isthmus.wire.status import Status

#: A party that plays no role in a task: nothing runs, and it reports SUCCESS.
NO_PARTY = "-"


class TaskViews:
    def __init__(self, store: Store, node_id: str = "") -> None:
        self.store = store
        self.node_id = node_id

    def task_rows(self, task_id: str) -> list[LocalTaskRow]:
        with self.store.session() as s:
            return list(s.query(LocalTaskRow).filter_by(task_id=task_id).all())

    def job(self, job_id: str) -> JobRow:
        return job_row(self.store, JobRow, job_id, f"no job {job_id} here")

    def jobs(self, flow_id: str | None = None) -> list[dict[str, Any]]:
        """Every job this node takes part in or schedules, newest first: its status as
        the operator sees it (an ended job's result, never FINISHED once known), when it
        started and ended, its initiator and scheduler, and why it did not succeed."""
        with self.store.session() as s:
            ours = s.query(JobRow)
            scheduled = s.query(ScheduledJobRow)
            if flow_id:
                ours, scheduled = (
                    ours.filter_by(flow_id=flow_id),
                    scheduled.filter_by(flow_id=flow_id),
                )
            listed = {r.job_id: _job_view(r, r.scheduler_node_id) for r in ours.all()}
            for row in scheduled.all():  # the scheduler's word wins where it has one
                listed[row.job_id] = _job_view(row, self.node_id)
        return sorted(listed.values(), key=lambda j: j["created_at"], reverse=True)

    def local_tasks(self, job_id: str) -> list[dict[str, Any]]:
        with self.store.session() as s:
            rows = s.query(LocalTaskRow).filter_by(job_id=job_id).order_by(LocalTaskRow.started_at)
            return [_task_view(r) for r in rows.all()]

    def local_tasks_by_id(self, task_id: str) -> list[dict[str, Any]]:
        return [_task_view(r) for r in self.task_rows(task_id)]

    def read_log(self, task_id: str, log_level: str = "info") -> list[str]:
        """The log lines of our parties of a task, at ``log_level`` or above when a line
        says its level (components log ``<time> <LEVEL> <logger> <message>``)."""
        rows = [r for r in self.task_rows(task_id) if r.party != NO_PARTY]
        if not rows:
            raise NotFound(f"no task {task_id} here")
        lines: list[str] = []
        for row in rows:
            try:
                text = Path(row.log_path).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            lines += [line for line in text.splitlines() if _at_level(line, log_level)]
        return lines


def answer(rows: list[LocalTaskRow], share_log_tail: bool) -> dict[str, Any]:
    """A task's status across our parties of it, as ``task/poll`` and a ``Report`` say
    it: the failure's reason and party and, if the operator shares them, its log tail."""
    result = st.aggregate(r.status for r in rows)
    found: dict[str, Any] = {"status": result}
    failed = [r for r in rows if r.status == Status.FAILED]
    ended = failed or [r for r in rows if r.status == Status.STOPPED]
    if ended:
        found["reason"] = ended[0].reason or ended[0].status.lower()
        found["party"] = ended[0].party
        if failed and share_log_tail:
            found["log_tail"] = log_tail(failed[0].log_path)
    return found


def driven_job(s: Any, me: str, caller: str, job_id: str) -> JobRow:
    """The job's row, if ``caller`` may drive it here (its scheduler, or this node)."""
    row: JobRow | None = s.get(JobRow, job_id)
    if row is None:
        raise NotFound(f"no job {job_id} here")
    if caller not in (row.scheduler_node_id, me):
        raise NotFound(f"no job {job_id} here for node {caller}")
    return row


def _job_view(row: JobRow | ScheduledJobRow, scheduler: str) -> dict[str, Any]:
    status = shown(row.status, row.result)
    return {
        "job_id": row.job_id,
        "flow_id": row.flow_id,
        "status": status,
        "scheduler": scheduler,
        "initiator": row.initiator_node_id,
        "created_at": row.created_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "reason": None if status == Status.SUCCESS else row.reason,
    }


def _task_view(row: LocalTaskRow) -> dict[str, Any]:
    return {
        "task_id": row.task_id,
        "task_name": row.task_name,
        "party": row.party,
        "status": row.status,
        "reason": row.reason,
        "exit_code": row.exit_code,
        "runner": row.runner,
        "log_path": row.log_path,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
    }


_LEVELS = {"debug": 0, "info": 1, "warning": 2, "error": 3}


def _at_level(line: str, wanted: str) -> bool:
    floor = _LEVELS.get(wanted.lower(), 0)
    for token in line.split(" ", 4)[:4]:
        level = _LEVELS.get(token.lower())
        if level is not None and token.isupper():
            return level >= floor
    return True  # lines without a level (tracebacks, a vendor's output) always show


def plays(party: str, role: str) -> bool:
    """FATE polls with ``role=""``, sends ``guest`` or ``guest.0``; all are fine."""
    return party == role or party.split(".", 1)[0] == role
