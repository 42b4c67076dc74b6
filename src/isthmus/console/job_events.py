"""The job page's live streams, as Server-Sent Events: a job's task states, and a task's
log as it grows.

``job_states`` reads the job's status every ``POLL_S`` (the scheduler's own rows when it
is this node: one small read; ``REMOTE_POLL_S`` when another node schedules it, since each
read is then a call to that node) and sends only what changed (``job_state.changes``):
the first event is the whole state, so a page rendered a moment earlier catches up, then
one event per move. A comment every ``KEEPALIVE_S`` keeps proxies from closing a quiet
stream. When the job ends the stream sends ``end`` (with the failure summary's words) and
closes; a stream also closes after ``MAX_STREAM_S`` (the browser's EventSource reconnects
and gets the whole state again), so no stream lives forever.

``log_follow`` sends the lines added to a task's log since the last read, every
``LOG_POLL_S``, until its job ended and the log stopped growing.

Each open stream costs a read every fraction of a second, so a node serves at most
``MAX_STREAMS`` at once (``StreamGate``): one more is refused (503) rather than let a
forgotten wall of tabs slow the scheduler's store.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from isthmus.console.job_state import changes, ended, snapshot
from isthmus.wire.errors import IsthmusError

POLL_S = 0.2
REMOTE_POLL_S = 1.0
LOG_POLL_S = 0.5
KEEPALIVE_S = 15.0
MAX_STREAM_S = 1800.0
MAX_STREAMS = 64


class StreamGate:
    """Counts a node's open streams; ``enter`` refuses one over the limit."""

    def __init__(self, limit: int = MAX_STREAMS) -> None:
        self.limit = limit
        self.open = 0

    def guarded(self, stream: AsyncIterator[str]) -> AsyncIterator[str] | None:
        """``stream``, counted while it runs; None when the node serves enough already."""
        if self.open >= self.limit:
            return None
        self.open += 1

        async def counted() -> AsyncIterator[str]:
            try:
                async for chunk in stream:
                    yield chunk
            finally:
                self.open -= 1

        return counted()


def event(name: str, data: Any) -> str:
    """One SSE event; JSON has no raw newline, so ``data`` is one line."""
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def job_states(
    read: Callable[[], Awaitable[dict[str, Any]]],
    me: str,
    finale: Callable[[dict[str, Any]], Awaitable[Any]],
    *,
    poll_s: float = POLL_S,
    alive: Callable[[], Awaitable[bool]] | None = None,
) -> AsyncIterator[str]:
    """``read()``: the job's status document; ``finale(status)``: what ``end`` carries;
    ``alive()``: whether the viewer may still watch (its token not revoked)."""
    last: dict[str, Any] | None = None
    started = quiet_since = time.monotonic()
    while time.monotonic() - started < MAX_STREAM_S:
        if alive is not None and not await alive():
            return
        try:
            status = await read()
        except IsthmusError as exc:  # the scheduler unreachable for a moment: say so, go on
            yield event("trouble", {"message": exc.message})
            await asyncio.sleep(REMOTE_POLL_S)
            continue
        now = snapshot(status)
        moved = changes(last, now)
        if moved:
            yield event("state", moved)
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since > KEEPALIVE_S:
            yield ": keepalive\n\n"
            quiet_since = time.monotonic()
        if ended(now):
            yield event("end", await finale(status))
            return
        await asyncio.sleep(poll_s if status.get("scheduler") in (None, me) else REMOTE_POLL_S)


async def log_follow(
    read: Callable[[], Awaitable[list[str]]],
    job_over: Callable[[], Awaitable[bool]],
    *,
    poll_s: float = LOG_POLL_S,
    alive: Callable[[], Awaitable[bool]] | None = None,
) -> AsyncIterator[str]:
    """``read()``: the log's lines now; ``job_over()``: whether its job ended;
    ``alive()``: whether the viewer may still watch (its token not revoked)."""
    sent = 0
    started = quiet_since = time.monotonic()
    while time.monotonic() - started < MAX_STREAM_S:
        if alive is not None and not await alive():
            return
        try:
            lines = await read()
        except IsthmusError as exc:
            yield event("trouble", {"message": exc.message})
            return
        over = await job_over()
        if len(lines) > sent:
            yield event("lines", lines[sent:])
            sent, quiet_since = len(lines), time.monotonic()
        elif over:
            yield event("end", {})
            return
        elif time.monotonic() - quiet_since > KEEPALIVE_S:
            yield ": keepalive\n\n"
            quiet_since = time.monotonic()
        await asyncio.sleep(poll_s)
