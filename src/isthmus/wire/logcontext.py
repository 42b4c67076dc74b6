"""The ids a log line carries, bound for the code that handles one request, job or task.

``x-trace-id`` is bound per request by the node's HTTP layer; the scheduler binds the
job and task it is working on. They live in context variables (copied into the asyncio
tasks and worker threads started under them), so every log call made while handling a
job picks its ids up without passing them through every function. Here, at the bottom
of the layers, so the scheduler and the node share them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

trace_id_var: ContextVar[str | None] = ContextVar("trace_id", default=None)
job_id_var: ContextVar[str | None] = ContextVar("job_id", default=None)
task_id_var: ContextVar[str | None] = ContextVar("task_id", default=None)


@contextlib.contextmanager
def bound(job_id: str | None = None, task_id: str | None = None) -> Iterator[None]:
    """Log lines inside the block carry ``job_id`` (and ``task_id`` when given); the
    previous ids come back when it ends."""
    job_token = job_id_var.set(job_id) if job_id is not None else None
    task_token = task_id_var.set(task_id) if task_id is not None else None
    try:
        yield
    finally:
        if task_token is not None:
            task_id_var.reset(task_token)
        if job_token is not None:
            job_id_var.reset(job_token)


def bind(job_id: str | None, task_id: str | None = None) -> None:
    """From here on in this context, log lines carry these ids (``None`` clears one).
    For a loop over jobs or runs, where a ``with bound(...)`` block would re-indent the
    loop: call it at the top of each turn, and ``bind(*current())``, taken before the
    loop, after it."""
    job_id_var.set(job_id)
    task_id_var.set(task_id)


def current() -> tuple[str | None, str | None]:
    """The ids bound now: ``(job_id, task_id)``."""
    return job_id_var.get(), task_id_var.get()
