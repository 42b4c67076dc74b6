"""The secure operator tasks one node holds, and the state machine each one follows.

A task is keyed by ``(taskId, subTaskId)``. Its life (docs/protocol.md §17):

    PREPAR ──> CALCULATE ──> RETRIEVE ──> SUCCESS
      │  ▲         │  ▲          │
      │  └─WAITING─┘  └─WAITING──┘        (a request's ``phases`` ended here; the next
      │                                    ``execute`` of the same task goes on)
      └──────────────┴──────────────┴──> FAILED | KILLED | TIMEOUT (terminal)

``status`` is ``RUNNING`` while a phase runs, ``WAITING`` between phases a request did not
ask for, then one of the terminal statuses; ``phase`` is the phase running or last done.

**Guarantees.** A ``taskId`` is accepted once (a second ``execute`` is refused unless it
continues a WAITING task at its next phase); at most ``max_active`` tasks are not
terminal at any time (beyond that ``execute`` is refused with BUSY, nothing started);
terminal tasks stay queryable, the oldest forgotten past ``keep_finished``. The registry
only records: running, killing and freeing are the service's (``service.py``).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from isthmus.wire.errors import SecopBusy, SecopDuplicateTask, SecopError, SecopUnknownTask
from isthmus.wire.secure_operate import PHASES, DataValue, ExecuteRequest, Phase

TaskKey = tuple[str, str | None]


class Status(StrEnum):
    RUNNING = "RUNNING"
    WAITING = "WAITING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    KILLED = "KILLED"
    TIMEOUT = "TIMEOUT"


TERMINAL = frozenset({Status.SUCCESS, Status.FAILED, Status.KILLED, Status.TIMEOUT})


@dataclass
class Task:
    key: TaskKey
    request: ExecuteRequest
    allowed: set[Phase]
    status: Status = Status.RUNNING
    phase: Phase = Phase.PREPAR
    error: SecopError | None = None
    result: list[DataValue] | None = None
    runner: asyncio.Task[Any] | None = None
    #: Set whenever the task stops running (WAITING or terminal): sync callers wake.
    paused: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set when a WAITING task may run its next phase.
    proceed: asyncio.Event = field(default_factory=asyncio.Event)
    #: What the task holds that must be freed (the service fills and empties it).
    held: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    def next_phase(self) -> Phase | None:
        index = PHASES.index(self.phase) + 1
        return PHASES[index] if index < len(PHASES) else None

    def may_run(self, phase: Phase) -> bool:
        return phase in self.allowed

    def wait_for(self, phase: Phase) -> None:
        """The runner reached ``phase`` without leave to run it: WAITING."""
        self.status = Status.WAITING
        self.proceed.clear()
        self.paused.set()

    def resume(self, phases: list[Phase]) -> None:
        self.allowed.update(phases)
        self.status = Status.RUNNING
        self.paused.clear()
        self.proceed.set()

    def end(self, status: Status, error: SecopError | None = None) -> None:
        if self.finished:
            return
        self.status, self.error = status, error
        self.paused.set()
        self.proceed.set()


def key_of(task_id: str, sub_task_id: str | None) -> TaskKey:
    return (task_id, sub_task_id or None)


def requested_phases(request: ExecuteRequest) -> list[Phase]:
    return list(PHASES) if not request.phases else list(request.phases)


class TaskRegistry:
    def __init__(self, *, max_active: int = 8, keep_finished: int = 256) -> None:
        self.max_active = max_active
        self.keep_finished = keep_finished
        self._tasks: OrderedDict[TaskKey, Task] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tasks)

    def active(self) -> list[Task]:
        return [t for t in self._tasks.values() if not t.finished]

    def get(self, key: TaskKey) -> Task:
        task = self._tasks.get(key)
        if task is None:
            raise SecopUnknownTask(f"no secure operator task {_show(key)} on this node")
        return task

    def find(self, key: TaskKey) -> Task | None:
        return self._tasks.get(key)

    def continuation(self, request: ExecuteRequest) -> Task | None:
        """The WAITING task this request continues, None for a new task, or a refusal
        (DUPLICATE_TASK) for a taskId already taken."""
        key = key_of(request.task_id, request.sub_task_id)
        known = self._tasks.get(key)
        if known is None:
            return None
        phases = requested_phases(request)
        if known.status == Status.WAITING and request.phases and phases[0] == known.phase:
            return known
        raise SecopDuplicateTask(
            f"task {_show(key)} exists ({known.status}, phase {known.phase})",
            details={"status": str(known.status)},
        )

    def add(self, request: ExecuteRequest) -> Task:
        key = key_of(request.task_id, request.sub_task_id)
        if key in self._tasks:
            raise SecopDuplicateTask(f"task {_show(key)} exists")
        if len(self.active()) >= self.max_active:
            raise SecopBusy(f"{self.max_active} secure operator tasks are running; try later")
        task = Task(key, request, set(requested_phases(request)))
        self._tasks[key] = task
        self._forget_old()
        return task

    def _forget_old(self) -> None:
        finished = [k for k, t in self._tasks.items() if t.finished]
        for key in finished[: max(0, len(finished) - self.keep_finished)]:
            del self._tasks[key]


def _show(key: TaskKey) -> str:
    return key[0] if key[1] is None else f"{key[0]}/{key[1]}"
