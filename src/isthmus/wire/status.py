"""Job and task statuses: one vocabulary for the wire, the database, the runners and the
container's callback (digest §2.3).

The values are exactly the strings FATE-Flow and the spec use, and what Isthmus has
always stored and sent: a ``StrEnum`` member *is* its string, so a row, a JSON body or
a comparison with a partner's text sees no difference. The rules (which status may
follow which, how parties combine) live with the scheduler (``scheduler.status``).

What the wire carries is the spec's vocabulary only (``WIRE_TASK_STATUSES``,
``WIRE_JOB_STATUSES``); ``on_the_wire`` and ``job_on_the_wire`` are the one boundary
every east-west answer and report passes (``task/poll``, ``task/callback``,
``job/status_all``). Inside the node, and to its operators, a task stopped on purpose
is STOPPED and an ended job SUCCESS, FAILED or STOPPED.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """On the wire jobs move PENDING → READY → RUNNING → FINISHED (or PENDING →
    REJECTED), tasks PENDING → READY → RUNNING → SUCCESS or FAILED. Inside the node a
    task stopped on purpose (or never started because its job ended) is STOPPED, and an
    ended job's result (what the operator sees instead of FINISHED) is SUCCESS, FAILED
    or STOPPED."""

    PENDING = "PENDING"
    READY = "READY"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    REJECTED = "REJECTED"
    FINISHED = "FINISHED"
    STOPPED = "STOPPED"


#: The task statuses the spec defines: the only ones ``on_the_wire`` emits.
WIRE_TASK_STATUSES = frozenset(
    {Status.PENDING, Status.READY, Status.RUNNING, Status.SUCCESS, Status.FAILED}
)
#: The job statuses the spec defines: the only ones ``job_on_the_wire`` emits.
WIRE_JOB_STATUSES = frozenset(
    {Status.PENDING, Status.READY, Status.REJECTED, Status.RUNNING, Status.FINISHED}
)


def on_the_wire(status: str) -> Status:
    """A task status as a partner may be told it: STOPPED is the spec's FAILED (the
    reason that goes with it says stopped); anything unknown is FAILED too, never sent
    as it is."""
    try:
        known = Status(status)
    except ValueError:
        return Status.FAILED
    return known if known in WIRE_TASK_STATUSES else Status.FAILED


def job_on_the_wire(status: str) -> Status:
    """A job status as a partner may be told it: an ended job's result (SUCCESS,
    FAILED, STOPPED) is the spec's FINISHED."""
    try:
        known = Status(status)
    except ValueError:
        return Status.FINISHED
    return known if known in WIRE_JOB_STATUSES else Status.FINISHED
