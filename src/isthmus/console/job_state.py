"""A job's live state as the job page shows it, and what changed between two reads.

``snapshot`` reduces the scheduler's status document (``JobService.status``: the same
answer ``isthmus job status`` prints) to what the page draws: the job's status and, per
task, its status and each party's. ``changes`` compares two snapshots and keeps only
what differs, so the page's event stream sends a task only when its state moved, and
nothing at all while a job sits still. Both are pure: the stream (``job_events``) does
the reading and the timing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from isthmus.wire.status import Status

#: A job in one of these will not change again: its stream says ``end`` and closes.
JOB_ENDED = frozenset(
    {Status.SUCCESS, Status.FAILED, Status.STOPPED, Status.REJECTED, Status.FINISHED}
)


#: The maps a snapshot holds, each sent as the entries that changed.
PARTS = ("tasks", "parties", "task_ids")


def party_key(task: str, node_id: str, role: str) -> str:
    """The one id of a party's cell, on the page and in the stream."""
    return f"{task}|{node_id}|{role}"


def snapshot(status: Mapping[str, Any]) -> dict[str, Any]:
    """``{"job_status": ..., "tasks": {name: status}, "parties": {key: status},
    "task_ids": {name: task id}}`` (a task gets its id when it is first started)."""
    tasks: dict[str, str] = {}
    parties: dict[str, str] = {}
    ids: dict[str, str] = {}
    for task in status.get("tasks") or []:
        name = str(task.get("task_name"))
        tasks[name] = str(task.get("status"))
        if task.get("task_id"):
            ids[name] = str(task["task_id"])
        for p in task.get("parties") or []:
            key = party_key(name, str(p.get("node_id")), str(p.get("role")))
            parties[key] = str(p.get("status"))
    for name, value in (status.get("status") or {}).items():
        tasks.setdefault(str(name), str(value))
    return {
        "job_status": str(status.get("job_status")),
        "tasks": tasks,
        "parties": parties,
        "task_ids": ids,
    }


def changes(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> dict[str, Any]:
    """What ``after`` says that ``before`` did not (everything when there is no
    ``before``); empty when nothing moved."""
    if before is None:
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in after.items()}
    found: dict[str, Any] = {}
    if before.get("job_status") != after.get("job_status"):
        found["job_status"] = after.get("job_status")
    for part in PARTS:
        old: Mapping[str, str] = before.get(part) or {}
        moved = {k: v for k, v in (after.get(part) or {}).items() if old.get(k) != v}
        if moved:
            found[part] = moved
    return found


def apply(state: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    """``state`` with ``change`` laid over it (what the page does with each event)."""
    merged: dict[str, Any] = {"job_status": change.get("job_status", state.get("job_status"))}
    for part in PARTS:
        merged[part] = {**(state.get(part) or {}), **(change.get(part) or {})}
    return merged


def ended(state: Mapping[str, Any]) -> bool:
    return state.get("job_status") in JOB_ENDED
