"""The job page's event streams without a browser: the first event is the whole state,
then one event per move and none while nothing moves; ``end`` carries the summary and
closes; a read that fails is reported and retried; a log stream sends only new lines."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from isthmus.console import job_events
from isthmus.console.job_events import job_states, log_follow
from isthmus.wire.errors import PeerUnreachable


def _status(job: str, **tasks: str) -> dict[str, Any]:
    return {
        "job_status": job,
        "scheduler": "A",
        "tasks": [
            {"task_name": n, "status": s, "task_id": None if s == "PENDING" else f"j_{n}",
             "parties": [{"node_id": "B", "role": "host",
                                                        "status": s}]}
            for n, s in tasks.items()
        ],
    }  # fmt: skip


def _events(stream: AsyncIterator[str]) -> list[tuple[str, Any]]:
    async def drain() -> list[str]:
        return [chunk async for chunk in stream]

    # in a thread of its own: Playwright's sync API keeps a loop running in this one
    with ThreadPoolExecutor(1) as pool:
        chunks = pool.submit(lambda: asyncio.run(drain())).result()
    found = []
    for chunk in chunks:
        if chunk.startswith(":"):
            continue
        name, data = chunk.strip().split("\n")
        found.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return found


def test_only_changes_are_sent_then_end_with_the_summary(monkeypatch: Any) -> None:
    monkeypatch.setattr(job_events, "REMOTE_POLL_S", 0)
    reads: list[Any] = [
        _status("RUNNING", a="RUNNING", b="PENDING"),
        _status("RUNNING", a="RUNNING", b="PENDING"),  # nothing moved: nothing sent
        PeerUnreachable("scheduler away"),
        _status("RUNNING", a="SUCCESS", b="RUNNING"),
        _status("SUCCESS", a="SUCCESS", b="SUCCESS"),
    ]

    async def read() -> dict[str, Any]:
        got = reads.pop(0)
        if isinstance(got, Exception):
            raise got
        return dict(got)

    async def finale(status: dict[str, Any]) -> dict[str, Any]:
        return {"job_status": status["job_status"], "failures": []}

    events = _events(job_states(read, "A", finale, poll_s=0))
    assert events == [
        ("state", {"job_status": "RUNNING", "tasks": {"a": "RUNNING", "b": "PENDING"},
                   "parties": {"a|B|host": "RUNNING", "b|B|host": "PENDING"},
                   "task_ids": {"a": "j_a"}}),
        ("trouble", {"message": "scheduler away"}),
        ("state", {"tasks": {"a": "SUCCESS", "b": "RUNNING"},
                   "parties": {"a|B|host": "SUCCESS", "b|B|host": "RUNNING"},
                   "task_ids": {"b": "j_b"}}),
        ("state", {"job_status": "SUCCESS", "tasks": {"b": "SUCCESS"},
                   "parties": {"b|B|host": "SUCCESS"}}),
        ("end", {"job_status": "SUCCESS", "failures": []}),
    ]  # fmt: skip
    assert reads == []


def test_a_followed_log_sends_only_new_lines_and_ends_with_its_job() -> None:
    logs = [["one"], ["one", "two", "three"], ["one", "two", "three"]]
    over = [False, False, True]

    async def read() -> list[str]:
        return logs.pop(0)

    async def job_over() -> bool:
        return over.pop(0)

    assert _events(log_follow(read, job_over, poll_s=0)) == [
        ("lines", ["one"]),
        ("lines", ["two", "three"]),
        ("end", {}),
    ]


def test_a_node_serves_a_bounded_number_of_streams() -> None:
    gate = job_events.StreamGate(limit=1)

    async def one() -> AsyncIterator[str]:
        yield "x"

    first = gate.guarded(one())
    assert first is not None and gate.guarded(one()) is None

    async def drain() -> list[str]:
        assert first is not None
        return [chunk async for chunk in first]

    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(lambda: asyncio.run(drain())).result() == ["x"]
    assert gate.open == 0 and gate.guarded(one()) is not None


def test_a_stream_ends_once_its_viewer_is_revoked() -> None:
    answers = [True, True, False]

    async def alive() -> bool:
        return answers.pop(0)

    calls = []

    async def read() -> dict[str, Any]:
        calls.append(1)
        assert len(calls) < 5, "the stream outlived its viewer's revocation"
        return _status("RUNNING", a="RUNNING")

    async def lines() -> list[str]:
        calls.append(1)
        assert len(calls) < 10, "the log stream outlived its viewer's revocation"
        return ["one"]

    async def finale(status: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("a running job has no finale")

    async def running() -> bool:
        return False

    # two rounds watched, then the token is gone: the stream ends without an ``end``
    events = _events(job_states(read, "A", finale, poll_s=0, alive=alive))
    assert [name for name, _ in events] == ["state"]
    answers[:] = [True, False]
    assert _events(log_follow(lines, running, poll_s=0, alive=alive)) == [("lines", ["one"])]
