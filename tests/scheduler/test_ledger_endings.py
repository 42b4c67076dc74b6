"""The scheduler's rows when a job ends (``Ledger`` on SQLite and PostgreSQL): what it
came to, and no task or party of it left PENDING, READY or RUNNING."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from isthmus.scheduler.ledger import CoordinatorSettings, Ledger
from isthmus.scheduler.outcomes import to_wire
from isthmus.scheduler.registry import ComponentRegistry
from isthmus.store import Store
from isthmus.wire.dag import Job, parse_job
from isthmus.wire.status import WIRE_JOB_STATUSES, WIRE_TASK_STATUSES, Status
from tests.scheduler.jobs_support import psi_pipeline

LIVE = {Status.PENDING, Status.READY, Status.RUNNING}


@pytest.fixture
def ledger(store_url: str) -> Iterator[Ledger]:
    store = Store(store_url)
    store.migrate()
    components = ComponentRegistry(store)
    components.register_builtins()
    yield Ledger(store, components, CoordinatorSettings())
    store.dispose()


def started(ledger: Ledger) -> tuple[Job, str]:
    """A job recorded, running, with its first task (psi_0) started on A and B."""
    document: dict[str, Any] = {**psi_pipeline("A", "B"), "job_id": "job-end"}
    job = parse_job(document)
    ledger.record(job, document, "", "")
    ledger.set_job("job-end", Status.READY, None)
    ledger.set_job("job-end", Status.RUNNING, None)
    ((name, task_id, nodes),) = ledger.ready_tasks(job)
    assert (name, nodes) == ("psi_0", ["A", "B"])
    return job, task_id


def settled(ledger: Ledger) -> dict[str, Any]:
    document = ledger.status("job-end", "C")
    for task in document["tasks"]:
        assert task["status"] not in LIVE, task
        assert not {p["status"] for p in task["parties"]} & LIVE, task
    return document


def test_a_failed_party_fails_the_job_and_the_tasks_never_started_settle(
    ledger: Ledger,
) -> None:
    job, task_id = started(ledger)
    ledger.update_party("B", task_id, "host", Status.FAILED, "exit 65 (parameter error)", None)
    verdict = ledger.fold(job)
    assert verdict is not None and verdict.result == Status.FAILED
    assert verdict.reason == "task psi_0 failed on B (host): exit 65 (parameter error)"
    assert ledger.close("job-end", verdict)
    document = settled(ledger)
    assert document["job_status"] == document["result"] == Status.FAILED
    tasks = {t["task_name"]: t for t in document["tasks"]}
    assert tasks["psi_0"]["status"] == Status.FAILED
    guest = next(p for p in tasks["psi_0"]["parties"] if p["node_id"] == "A")
    assert guest["status"] == Status.STOPPED  # left waiting for its partner: stopped
    assert (tasks["split_0"]["status"], tasks["split_0"]["reason"]) == (
        Status.STOPPED,
        "not started: the job failed",
    )
    wired = to_wire(document)
    assert wired["job_status"] == Status.FINISHED and wired["job_status"] in WIRE_JOB_STATUSES
    assert set(wired["status"].values()) <= WIRE_TASK_STATUSES
    assert not ledger.close("job-end", verdict)  # an ended job ends once


def test_a_stopped_task_stops_its_downstream_and_the_job_ends_stopped(ledger: Ledger) -> None:
    job, task_id = started(ledger)
    assert ledger.stop_tasks(job, {"psi_0"} | job.downstream("psi_0"), "A") == []
    verdict = ledger.fold(job)
    assert verdict is not None and verdict.result == Status.STOPPED
    assert verdict.reason == "task psi_0: stopped by A"
    ledger.update_party("B", task_id, "host", Status.FAILED, "exit 143", None)  # too late
    ledger.close("job-end", verdict)
    document = settled(ledger)
    assert document["job_status"] == Status.STOPPED and document["failures"] == []
    assert {t["status"] for t in document["tasks"]} == {Status.STOPPED}
    assert {t["reason"] for t in document["tasks"]} == {"stopped by A"}


def test_every_task_succeeding_is_success(ledger: Ledger) -> None:
    job, _ = started(ledger)
    while plan := ledger.ready_tasks(job):  # each wave's tasks succeed on every party
        for _, task_id, nodes in plan:
            for node in nodes:
                role = "guest" if node == "A" else "host"
                ledger.update_party(node, task_id, role, Status.SUCCESS, None, None)
        ledger.fold(job)
    verdict = ledger.fold(job)
    assert verdict is not None and (verdict.result, verdict.reason) == (Status.SUCCESS, None)
    ledger.close("job-end", verdict)
    assert settled(ledger)["job_status"] == Status.SUCCESS


def test_a_rejected_job_leaves_no_task_pending(ledger: Ledger) -> None:
    document: dict[str, Any] = {**psi_pipeline("A", "B"), "job_id": "job-end"}
    ledger.record(parse_job(document), document, "", "")
    ledger.set_job("job-end", Status.REJECTED, "B refused: no contract")
    shown = settled(ledger)
    assert shown["job_status"] == Status.REJECTED
    assert {t["reason"] for t in shown["tasks"]} == {"not started: the job was rejected"}
