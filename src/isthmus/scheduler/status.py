"""Job and task statuses and their rules (digest §2.3), in one place.

The transitions are FATE-Flow's, which is what a partner scheduler or participant will
hold us to: a status never moves backwards and terminal ones never move at all, so a
late or repeated report (a poll answered after a callback, a callback delivered twice)
cannot undo a decision.
"""

from __future__ import annotations

from collections.abc import Iterable

# Job statuses: there is no job-level success or failure; task statuses tell.
PENDING, READY, REJECTED, RUNNING, FINISHED = "PENDING", "READY", "REJECTED", "RUNNING", "FINISHED"
# Task statuses (PENDING, READY and RUNNING shared with jobs).
SUCCESS, FAILED = "SUCCESS", "FAILED"

JOB_STATUSES = (PENDING, READY, REJECTED, RUNNING, FINISHED)
TASK_STATUSES = (PENDING, READY, RUNNING, SUCCESS, FAILED)
TASK_DONE = frozenset({SUCCESS, FAILED})
JOB_DONE = frozenset({REJECTED, FINISHED})

JOB_MOVES: dict[str, frozenset[str]] = {
    PENDING: frozenset({READY, REJECTED, FINISHED}),
    READY: frozenset({RUNNING, FINISHED}),
    RUNNING: frozenset({FINISHED}),
    REJECTED: frozenset(),
    FINISHED: frozenset(),
}
TASK_MOVES: dict[str, frozenset[str]] = {
    PENDING: frozenset({READY, RUNNING, SUCCESS, FAILED}),
    READY: frozenset({RUNNING, SUCCESS, FAILED}),
    RUNNING: frozenset({SUCCESS, FAILED}),
    SUCCESS: frozenset(),
    FAILED: frozenset(),
}

#: How one task's parties combine when they differ: a failure anywhere is the task's,
#: and SUCCESS needs everyone (FATE's order).
_PRECEDENCE = (FAILED, RUNNING, READY, PENDING, SUCCESS)


def job_may_move(current: str, new: str) -> bool:
    return new in JOB_MOVES.get(current, frozenset())


def task_may_move(current: str, new: str) -> bool:
    return new in TASK_MOVES.get(current, frozenset())


def aggregate(statuses: Iterable[str]) -> str:
    """The status of a task from its parties' statuses."""
    seen = set(statuses)
    if not seen:
        return PENDING
    if len(seen) == 1:
        return seen.pop()
    return next(s for s in _PRECEDENCE if s in seen)


def normalize_task_status(value: object) -> str | None:
    """A partner's task status in our vocabulary, or None when it is not one. Tolerates
    case and the spellings other platforms use for the same states."""
    text = str(value or "").strip().upper()
    aliases = {"SUCCEEDED": SUCCESS, "SUCCESSFUL": SUCCESS, "FAIL": FAILED, "ERROR": FAILED}
    text = aliases.get(text, text)
    return text if text in TASK_STATUSES else None
