"""What a participant shows: its jobs and task runs for the node's own operators (lists,
logs), and a task's status as its scheduler polls it (``answer``). Reading only; the
one check here, ``driven_job``, is the rule every call on a job obeys: only the node
that created it here (its scheduler), or this node itself, may drive or see it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from isthmus.scheduler import status as st
from isthmus.scheduler.jobdoc import job_row
from isthmus.scheduler.reports import log_tail
from isthmus.store.db import Store
from isthmus.store.schema import JobRow, LocalTaskRow
from isthmus.wire.errors import NotFound
from isthmus.wire.status import Status

#: A party that plays no role in a task: nothing runs, and it reports SUCCESS.
NO_PARTY = "-"


class TaskViews:
    def __init__(self, store: Store) -> None:
        self.store = store

    def task_rows(self, task_id: str) -> list[LocalTaskRow]:
        with self.store.session() as s:
            return list(s.query(LocalTaskRow).filter_by(task_id=task_id).all())

    def job(self, job_id: str) -> JobRow:
        return job_row(self.store, JobRow, job_id, f"no job {job_id} here")

    def jobs(self, flow_id: str | None = None) -> list[dict[str, Any]]:
        with self.store.session() as s:
            query = s.query(JobRow).order_by(JobRow.created_at.desc())
            if flow_id:
                query = query.filter_by(flow_id=flow_id)
            return [
                {
                    "job_id": r.job_id,
                    "flow_id": r.flow_id,
                    "status": r.status,
                    "scheduler": r.scheduler_node_id,
                    "initiator": r.initiator_node_id,
                    "created_at": r.created_at,
                }
                for r in query.all()
            ]

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
    if failed:
        found["reason"] = failed[0].reason or "failed"
        found["party"] = failed[0].party
        if share_log_tail:
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
