"""What a job came to, on the wire and to the operator: the one place the two
vocabularies meet.

The spec's job statuses end in FINISHED (or REJECTED) and its task statuses in SUCCESS
or FAILED; that is all a partner is ever sent (``to_wire``). The operator is told the
truth: an ended job is SUCCESS, FAILED or STOPPED (REJECTED stays REJECTED) and a task
stopped on purpose is STOPPED (``shown``, ``from_wire``).

**Where the result is kept.** In a column, ``result``, beside the spec's status on the
scheduler's job row and on each participant's (migration 0008), not derived on every
read: the scheduler knows it only at the moment it ends the job (a stop asked for, a
party's failure, every task done), which no later read of the task rows can tell
apart for certain (a stopped task and a failed one both end the job early); and a
participant that is not the scheduler learns the end only through ``job/stop``, so it
asks the scheduler's ``status_all`` once and keeps the answer. Only for a foreign
scheduler, whose answer has the spec's fields alone, is the result derived
(``result_of``): every task SUCCESS → SUCCESS; else a stop this side asked for →
STOPPED; else FAILED.
"""

from __future__ import annotations

import copy
from typing import Any

from isthmus.scheduler import status as st
from isthmus.wire.status import Status, job_on_the_wire, on_the_wire


def shown(status: str, result: str | None) -> str:
    """A job's status as the operator sees it: its result once it ended (FINISHED only
    for a job whose result is not known yet, e.g. one ended before results were kept)."""
    if status == Status.FINISHED and result in st.JOB_RESULTS:
        return str(result)
    return status


def result_of(document: dict[str, Any], stop_asked: bool) -> str | None:
    """What a job came to, from a scheduler's ``status_all``: the ``result`` Isthmus
    adds when present, else derived from the spec's fields; None while it runs."""
    added = str(document.get("result") or "")
    if added in st.JOB_RESULTS:
        return added
    job_status = str(document.get("job_status") or "").upper()
    if job_status in st.JOB_RESULTS:
        return job_status  # a scheduler that already says the truth (or REJECTED)
    if job_status != Status.FINISHED:
        return None
    tasks = document.get("status") or {}
    values = list(tasks.values()) if isinstance(tasks, dict) else []
    if values and all(st.normalize_task_status(v) == Status.SUCCESS for v in values):
        return Status.SUCCESS
    return Status.STOPPED if stop_asked else Status.FAILED


def to_wire(document: dict[str, Any]) -> dict[str, Any]:
    """A ``status_all`` answer for a partner: ``job_status`` and every task status in
    the spec's words; the truth rides along in what Isthmus adds: ``result`` (the
    job's), ``task_results`` (task name → its status, STOPPED included), and a
    ``result`` beside the status of each task and party in ``tasks``."""
    wired = copy.deepcopy(document)
    job_status = str(document.get("job_status") or "")
    if job_status in st.JOB_RESULTS:
        wired["result"] = job_status
    wired["job_status"] = job_on_the_wire(job_status)
    tasks = document.get("status") or {}
    wired["task_results"] = dict(tasks)
    wired["status"] = {name: on_the_wire(value) for name, value in tasks.items()}
    for task in wired.get("tasks") or []:
        task["result"], task["status"] = task["status"], on_the_wire(task["status"])
        for party in task.get("parties") or []:
            party["result"], party["status"] = party["status"], on_the_wire(party["status"])
    return wired


def from_wire(document: dict[str, Any], stop_asked: bool) -> dict[str, Any]:
    """A scheduler's ``status_all`` answer as the operator is shown it: the job's
    result for FINISHED, and each task's own status where the answer carries it."""
    truth = dict(document)
    result = result_of(document, stop_asked)
    if result is not None:
        truth["job_status"] = result
        truth["result"] = result
    own = document.get("task_results")
    if isinstance(own, dict) and own:
        truth["status"] = dict(own)
    tasks = [_told(t) for t in document.get("tasks") or [] if isinstance(t, dict)]
    for task in tasks:
        task["parties"] = [_told(p) for p in task.get("parties") or [] if isinstance(p, dict)]
    if tasks:
        truth["tasks"] = tasks
    return truth


def _told(item: dict[str, Any]) -> dict[str, Any]:
    """A task or party of a ``status_all`` answer with its own status (``result``)
    where the answer carries one."""
    told = {k: v for k, v in item.items() if k != "result"}
    if item.get("result") in st.TASK_STATUSES:
        told["status"] = item["result"]
    return told
