"""The rules of job and task statuses (digest §2.3); the statuses themselves are
``isthmus.wire.status.Status``, shared with the runners and the container's callback.

The transitions are FATE-Flow's, which is what a partner scheduler or participant will
hold us to: a status never moves backwards and terminal ones never move at all, so a
late or repeated report (a poll answered after a callback, a callback delivered twice)
cannot undo a decision.
"""

from __future__ import annotations

from collections.abc import Iterable

from isthmus.wire.status import Status

JOB_STATUSES = (Status.PENDING, Status.READY, Status.REJECTED, Status.RUNNING, Status.FINISHED)
TASK_STATUSES = (Status.PENDING, Status.READY, Status.RUNNING, Status.SUCCESS, Status.FAILED)
TASK_DONE = frozenset({Status.SUCCESS, Status.FAILED})
JOB_DONE = frozenset({Status.REJECTED, Status.FINISHED})

JOB_MOVES: dict[str, frozenset[str]] = {
    Status.PENDING: frozenset({Status.READY, Status.REJECTED, Status.FINISHED}),
    Status.READY: frozenset({Status.RUNNING, Status.FINISHED}),
    Status.RUNNING: frozenset({Status.FINISHED}),
    Status.REJECTED: frozenset(),
    Status.FINISHED: frozenset(),
}
TASK_MOVES: dict[str, frozenset[str]] = {
    Status.PENDING: frozenset({Status.READY, Status.RUNNING, Status.SUCCESS, Status.FAILED}),
    Status.READY: frozenset({Status.RUNNING, Status.SUCCESS, Status.FAILED}),
    Status.RUNNING: frozenset({Status.SUCCESS, Status.FAILED}),
    Status.SUCCESS: frozenset(),
    Status.FAILED: frozenset(),
}

#: How one task's parties combine when they differ: a failure anywhere is the task's,
#: and SUCCESS needs everyone (FATE's order).
_PRECEDENCE = (Status.FAILED, Status.RUNNING, Status.READY, Status.PENDING, Status.SUCCESS)


def job_may_move(current: str, new: str) -> bool:
    return new in JOB_MOVES.get(current, frozenset())


def task_may_move(current: str, new: str) -> bool:
    return new in TASK_MOVES.get(current, frozenset())


def aggregate(statuses: Iterable[str]) -> str:
    """The status of a task from its parties' statuses."""
    seen = set(statuses)
    if not seen:
        return Status.PENDING
    if len(seen) == 1:
        return seen.pop()
    return next(s for s in _PRECEDENCE if s in seen)


def normalize_task_status(value: object) -> str | None:
    """A partner's task status in our vocabulary, or None when it is not one. Tolerates
    case and the spellings other platforms use for the same states."""
    text = str(value or "").strip().upper()
    aliases = {
        "SUCCEEDED": Status.SUCCESS,
        "SUCCESSFUL": Status.SUCCESS,
        "FAIL": Status.FAILED,
        "ERROR": Status.FAILED,
    }
    text = aliases.get(text, text)
    return Status(text) if text in TASK_STATUSES else None
