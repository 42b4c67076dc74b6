"""Job and task statuses: one vocabulary for the wire, the database, the runners and the
container's callback (digest §2.3).

The values are exactly the strings FATE-Flow and the spec use, and what Isthmus has
always stored and sent: a ``StrEnum`` member *is* its string, so a row, a JSON body or
a comparison with a partner's text sees no difference. The rules (which status may
follow which, how parties combine) live with the scheduler (``scheduler.status``).
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Jobs move PENDING → READY → RUNNING → FINISHED (or PENDING → REJECTED), with no
    job-level success or failure; tasks move PENDING → READY → RUNNING → SUCCESS or
    FAILED. STOPPED is only the one-word outcome of a job stopped before it succeeded
    or failed (``why``); no row holds it."""

    PENDING = "PENDING"
    READY = "READY"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    REJECTED = "REJECTED"
    FINISHED = "FINISHED"
    STOPPED = "STOPPED"
