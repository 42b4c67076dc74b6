"""A party's word on a task for the job's scheduler: what it says (``Report``), where it
goes (``ReportHook``, given to the participant at its construction) and how much of a
failed run's log goes with it (``log_tail``, bounded)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from isthmus.wire.status import on_the_wire

#: How much of a failed task's log travels to the scheduler (and so to the initiator).
LOG_TAIL_LINES = 20
LOG_TAIL_CHARS = 4000


def log_tail(path: str, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])[-LOG_TAIL_CHARS:]


@dataclass(frozen=True)
class Report:
    """A party's final (or first) word on a task, for the scheduler."""

    job_id: str
    scheduler_node_id: str
    sync_type: str
    task_id: str
    role: str
    status: str
    reason: str | None = None
    log_tail: str | None = None

    def callback_body(self) -> dict[str, Any]:
        """``task/callback``'s body: the status in the spec's words (STOPPED is FAILED,
        the reason says stopped)."""
        body: dict[str, Any] = {
            "task_id": self.task_id,
            "status": on_the_wire(self.status),
            "role": self.role,
        }
        if self.reason:
            body["reason"] = self.reason
        if self.log_tail:
            body["log_tail"] = self.log_tail
        return body


#: Sends a ``Report`` on its way (to this node's coordinator, or as ``task/callback``).
ReportHook = Callable[[Report], Awaitable[None]]
