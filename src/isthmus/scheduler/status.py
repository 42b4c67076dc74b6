"""The rules of job and task statuses (digest §2.3); the statuses themselves are
``isthmus.wire.status.Status``, shared with the runners and the container's callback.

The transitions are FATE-Flow's, which is what a partner scheduler or participant will
hold us to: a status never moves backwards and terminal ones never move at all, so a
late or repeated report (a poll answered after a callback, a callback delivered twice)
cannot undo a decision.

One status is ours and not the spec's: a task (a party's run, or the scheduler's task)
stopped on purpose, or never started because its job ended, is STOPPED, terminal like
SUCCESS and FAILED. Partners never see it: ``wire.status.on_the_wire`` makes it FAILED.
A job's rows keep the spec's statuses (FINISHED when it ended); what it came to, the
result the operator sees, is kept beside them (``scheduler.outcomes``).
"""

from __future__ import annotations

from collections.abc import Iterable

from isthmus.wire.status import Status

JOB_STATUSES = (Status.PENDING, Status.READY, Status.REJECTED, Status.RUNNING, Status.FINISHED)
TASK_STATUSES = (
    Status.PENDING,
    Status.READY,
    Status.RUNNING,
    Status.SUCCESS,
    Status.FAILED,
    Status.STOPPED,
)
TASK_DONE = frozenset({Status.SUCCESS, Status.FAILED, Status.STOPPED})
#: What an ended job came to (the operator's word for FINISHED), and REJECTED.
JOB_RESULTS = frozenset({Status.SUCCESS, Status.FAILED, Status.STOPPED, Status.REJECTED})
JOB_DONE = frozenset({Status.REJECTED, Status.FINISHED})

JOB_MOVES: dict[str, frozenset[str]] = {
    Status.PENDING: frozenset({Status.READY, Status.REJECTED, Status.FINISHED}),
    Status.READY: frozenset({Status.RUNNING, Status.FINISHED}),
    Status.RUNNING: frozenset({Status.FINISHED}),
    Status.REJECTED: frozenset(),
    Status.FINISHED: frozenset(),
}
TASK_MOVES: dict[str, frozenset[str]] = {
    Status.PENDING: frozenset(
        {Status.READY, Status.RUNNING, Status.SUCCESS, Status.FAILED, Status.STOPPED}
    ),
    Status.READY: frozenset({Status.RUNNING, Status.SUCCESS, Status.FAILED, Status.STOPPED}),
    Status.RUNNING: frozenset({Status.SUCCESS, Status.FAILED, Status.STOPPED}),
    Status.SUCCESS: frozenset(),
    Status.FAILED: frozenset(),
    Status.STOPPED: frozenset(),
}

#: How one task's parties combine when they differ: a failure anywhere is the task's,
#: and SUCCESS needs everyone (FATE's order); a stop is the task's unless a party failed.
_PRECEDENCE = (
    Status.FAILED,
    Status.STOPPED,
    Status.RUNNING,
    Status.READY,
    Status.PENDING,
    Status.SUCCESS,
)


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
    case and the spellings other platforms use for the same states (a partner that says
    STOPPED, which the spec does not, is taken at its word)."""
    text = str(value or "").strip().upper()
    aliases = {
        "SUCCEEDED": Status.SUCCESS,
        "SUCCESSFUL": Status.SUCCESS,
        "FAIL": Status.FAILED,
        "ERROR": Status.FAILED,
        "KILLED": Status.STOPPED,
        "CANCELLED": Status.STOPPED,
    }
    text = aliases.get(text, text)
    return Status(text) if text in TASK_STATUSES else None
