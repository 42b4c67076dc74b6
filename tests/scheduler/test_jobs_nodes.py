"""Jobs across real node processes: A initiates, C (a third node) schedules, A and B
compute an ECDH-PSI and the data components, with two branches after the PSI."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from isthmus.node.admin_client import AdminApiError
from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.testing.cluster import wait_until
from isthmus.testing.jobs import (
    signed_call,
    status,
    submit,
    task_processes,
    wait_finished,
    wait_task,
)
from isthmus.wire import paths
from tests.scheduler.jobs_support import offer, output_rows, psi_pipeline, write_dataset

Trio = tuple[ProcessCluster, ProcessNode, ProcessNode, ProcessNode]


@pytest.fixture(scope="module")
def trio() -> Iterator[Trio]:
    env = {"ISTHMUS_SCHEDULER__PARTY_TIMEOUT_S": "20"}
    with ProcessCluster(env=env) as cluster:
        a, b, c = cluster.start(3)
        cluster.connect_all()
        write_dataset(a, "guest.csv", list(range(0, 1500)), "x")
        write_dataset(b, "host.csv", list(range(500, 2500)), "y")
        offer(b, a, "host.csv")
        yield cluster, a, b, c


def test_a_third_node_schedules_a_job_that_two_parties_compute(trio: Trio) -> None:
    _, a, b, c = trio
    job_id = submit(a, psi_pipeline(a.node_id, b.node_id), scheduler=c.node_id)
    summary = wait_finished(a, job_id)
    assert summary["result"] == "SUCCESS", summary
    assert summary["scheduler"] == c.node_id
    tasks = {t["task_name"]: t for t in summary["tasks"]}
    assert {t["status"] for t in tasks.values()} == {"SUCCESS"}
    # the two branches after the PSI were started together, not one after the other
    stats, split = tasks["stats_0"], tasks["split_0"]
    assert (
        stats["started_at"] <= split["finished_at"] and split["started_at"] <= stats["finished_at"]
    )
    assert {(p["node_id"], p["role"]) for p in tasks["psi_0"]["parties"]} == {
        (a.node_id, "guest"),
        (b.node_id, "host"),
    }
    # both parties hold the same 1000 intersecting ids, split identically by key
    for node, role in ((a, "guest"), (b, "host")):
        psi = output_rows(node, job_id, role, tasks["psi_0"]["task_id"], "train_data")
        assert len(psi) == 1001
        train = output_rows(node, job_id, role, tasks["select_0"]["task_id"], "data")
        assert train[0] == "id" and 700 < len(train) - 1 < 800
    train_a = output_rows(a, job_id, "guest", tasks["select_0"]["task_id"], "data")
    train_b = output_rows(b, job_id, "host", tasks["select_0"]["task_id"], "data")
    assert sorted(train_a) == sorted(train_b)
    # every party sees the job succeeded; the initiator and the host through C
    assert status(b, job_id)["job_status"] == "SUCCESS"
    for task in tasks.values():
        assert task_processes(task["task_id"]) == []
    # what each node lists: C schedules it, A and B learned the result from C
    for node in (a, b, c):
        listed = wait_listed(node, job_id, "SUCCESS")
        assert listed["initiator"] == a.node_id and listed["reason"] is None
        assert listed["started_at"] <= listed["finished_at"]
    for node in (a, b):
        assert {t["status"] for t in node.admin.get(f"/jobs/{job_id}/tasks")} == {"SUCCESS"}


def test_a_failed_party_stops_the_job_everywhere_and_why_says_where(trio: Trio) -> None:
    _, a, b, c = trio
    job = psi_pipeline(a.node_id, b.node_id)
    job["config"]["task_params"]["host"]["0"]["psi_0"]["field_names"] = "no_such_column"
    job_id = submit(a, job, scheduler=c.node_id)
    summary = wait_finished(a, job_id, timeout_s=60)
    assert summary["result"] == "FAILED"
    (failure,) = [f for f in summary["failures"] if f["node_id"] == b.node_id]
    assert failure["task_name"] == "psi_0" and failure["role"] == "host"
    # the exit code named, then the component's own message (from B's log)
    assert failure["reason"] == (
        "exit 65 (parameter error): parameter 'field_names': not in the input: no_such_column"
    )
    assert "no_such_column" in failure["log_tail"]
    assert f"task psi_0 failed on {b.node_id} (host)" in summary["reason"]
    # A's side of the PSI, left waiting for its partner, was stopped, not left running
    psi = next(t for t in summary["tasks"] if t["task_name"] == "psi_0")
    assert task_processes(psi["task_id"]) == []
    # the tasks that never started settled too: nothing of the job stays PENDING
    later = {t["task_name"]: t for t in summary["tasks"] if t["task_name"] != "psi_0"}
    for task in later.values():
        assert (task["status"], task["reason"]) == ("STOPPED", "not started: the job failed")
        assert {p["status"] for p in task["parties"]} == {"STOPPED"}
    for node in (a, b, c):  # C schedules it; A and B learned the result from C
        assert f"task psi_0 failed on {b.node_id}" in wait_listed(node, job_id, "FAILED")["reason"]
    a_runs = {t["status"] for t in a.admin.get(f"/jobs/{job_id}/tasks")}
    assert a_runs <= {"STOPPED", "FAILED"}, a_runs  # settled, whichever came first


def wait_listed(node: ProcessNode, job_id: str, wanted: str) -> dict[str, Any]:
    """The job as ``node`` lists it (``isthmus job list``'s source), once it shows
    ``wanted``: a participant learns the result from the scheduler after job/stop."""
    seen: dict[str, Any] = {}

    def listed() -> bool:
        seen.clear()
        seen.update(next(j for j in node.admin.get("/jobs") if j["job_id"] == job_id))
        return seen["status"] == wanted

    wait_until(listed, timeout_s=15, what=f"{node.node_id} to list {job_id} as {wanted}")
    assert node.admin.get(paths.PLATFORM_JOB_LIST)["job_list"][job_id] == wanted
    return dict(seen)


def big_psi(trio: Trio) -> dict[str, object]:
    """A PSI that runs for several seconds (200k by 200k rows), to act on mid-task."""
    _, a, b, _ = trio
    if not (a.home / "data" / "demo" / "big_guest.csv").exists():
        write_dataset(a, "big_guest.csv", list(range(0, 200_000)), "x")
        write_dataset(b, "big_host.csv", list(range(100_000, 300_000)), "y")
        offer(b, a, "big_host.csv")
    job = psi_pipeline(a.node_id, b.node_id)
    params = job["config"]["task_params"]  # type: ignore[index]
    params["guest"]["0"]["psi_0"]["name"] = "big_guest.csv"
    params["host"]["0"]["psi_0"]["name"] = "big_host.csv"
    return job


def test_stopping_a_task_stops_it_and_its_downstream_leaving_no_process(trio: Trio) -> None:
    _, a, b, c = trio
    job_id = submit(a, big_psi(trio), scheduler=c.node_id)
    wait_task(a, job_id, "psi_0", "RUNNING")
    psi_id = next(t["task_id"] for t in status(a, job_id)["tasks"] if t["task_name"] == "psi_0")
    wait_until(lambda: len(task_processes(psi_id)) >= 4, what="both PSI parties running")
    a.admin.post(paths.PLATFORM_JOB_STOP_TASK, {"job_id": job_id, "task_name": "psi_0"})
    wait_until(lambda: task_processes(psi_id) == [], timeout_s=10, what="the PSI processes gone")
    summary = wait_finished(a, job_id, timeout_s=10)
    assert summary["result"] == "STOPPED", summary
    assert summary["reason"] == f"task psi_0: stopped by {a.node_id}"
    tasks = {t["task_name"]: t for t in summary["tasks"]}
    for name in ("psi_0", "stats_0", "split_0", "select_0"):  # the task and its downstream
        assert tasks[name]["status"] == "STOPPED"
        assert tasks[name]["reason"] == f"stopped by {a.node_id}"
        assert {p["status"] for p in tasks[name]["parties"]} == {"STOPPED"}
    assert tasks["stats_0"]["task_id"] is None  # never started
    assert summary["failures"] == []
    # a stopped run is STOPPED on each party, not FAILED with SIGTERM's 143
    for node in (a, b):
        (run,) = [t for t in node.admin.get(f"/jobs/{job_id}/tasks") if t["task_id"] == psi_id]
        assert run["status"] == "STOPPED", run
        assert run["reason"] == f"stopped by the scheduler ({c.node_id})"
    # what the wire carries stays the spec's: C tells a party FINISHED and FAILED
    wired = signed_call(b, c, paths.JOB_STATUS_ALL, {"job_id": job_id})
    assert wired["job_status"] == "FINISHED" and wired["result"] == "STOPPED"
    assert set(wired["status"].values()) == {"FAILED"}
    for node in (a, b, c):
        assert wait_listed(node, job_id, "STOPPED")["reason"] == (
            f"task psi_0: stopped by {a.node_id}"
        )


def test_the_scheduler_killed_and_restarted_mid_job_carries_on(trio: Trio) -> None:
    _, a, _, c = trio
    job_id = submit(a, big_psi(trio), scheduler=c.node_id)
    wait_task(a, job_id, "psi_0", "RUNNING")
    c.kill()
    c.start()
    summary = wait_finished(a, job_id, timeout_s=120)
    assert summary["result"] == "SUCCESS", summary


def test_a_participant_killed_and_restarted_mid_task_leaves_nothing_behind(trio: Trio) -> None:
    _, a, b, c = trio
    job_id = submit(a, big_psi(trio), scheduler=c.node_id)
    wait_task(a, job_id, "psi_0", "RUNNING")
    psi_id = next(t["task_id"] for t in status(a, job_id)["tasks"] if t["task_name"] == "psi_0")
    b.kill()  # SIGKILL: its task's process lives on, outside the node
    b.start()
    summary = wait_finished(a, job_id, timeout_s=120)
    # B found its run again after the restart: the job either completed or failed
    # cleanly, and in both cases nothing of it runs any more
    assert summary["result"] in ("SUCCESS", "FAILED"), summary
    for task in summary["tasks"]:
        if task["task_id"]:
            wait_until(lambda t=task: task_processes(t["task_id"]) == [], timeout_s=15)
    tasks = b.admin.get(f"/jobs/{job_id}/tasks")
    psi_runs = [t for t in tasks if t["task_id"] == psi_id]
    assert psi_runs and all(t["status"] in ("SUCCESS", "FAILED") for t in psi_runs)


def _cyclic(job: dict[str, Any]) -> None:
    job["dag"]["components"][0]["input"] = [{"key": "select_0.data", "type": "dataset"}]


def _unknown(job: dict[str, Any]) -> None:
    job["dag"]["components"][1]["componentName"] = "no_such_component"


def _bad_parameter(job: dict[str, Any]) -> None:
    job["config"]["task_params"]["common"]["split_0"]["test_ratio"] = 2


def _dangling(job: dict[str, Any]) -> None:
    job["dag"]["components"][3]["input"] = [{"key": "split_9.train_data", "type": "dataset"}]


def _stranger(job: dict[str, Any]) -> None:
    job["config"]["role"]["arbiter"] = ["NODE_Z"]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_cyclic, "inputs form a cycle: psi_0 <- select_0 <- split_0 <- psi_0"),
        (_unknown, "dag.components[1].componentName: no_such_component 0.1.0 from isthmus"),
        (_bad_parameter, "config.task_params.common.split_0.test_ratio"),
        (_dangling, "dag.components[3].input[0].key"),
        (_stranger, "config.role: no approved contract with NODE_Z"),
    ],
    ids=["cycle", "unknown-component", "bad-parameter", "dangling-input", "no-contract"],
)
def test_an_invalid_job_is_refused_naming_the_field(
    trio: Trio, mutate: Callable[[dict[str, Any]], None], expected: str
) -> None:
    _, a, b, c = trio
    job = psi_pipeline(a.node_id, b.node_id)
    mutate(job)
    with pytest.raises(AdminApiError) as refused:
        submit(a, job, scheduler=c.node_id)
    assert expected in refused.value.message, refused.value.message


def test_a_disabled_component_is_refused_by_the_party_that_disabled_it(trio: Trio) -> None:
    _, a, b, c = trio
    key = {"componentName": "summary_stats", "provider": "isthmus", "version": "0.1.0"}
    b.admin.post("/components/state", {**key, "state": "DISABLED"})
    try:
        with pytest.raises(AdminApiError) as refused:
            submit(a, psi_pipeline(a.node_id, b.node_id), scheduler=c.node_id)
        message = refused.value.message
        assert f"{b.node_id} refused" in message and "summary_stats is DISABLED" in message
    finally:
        b.admin.post("/components/state", {**key, "state": "ENABLED"})


def test_callback_mode_with_the_initiator_as_scheduler(trio: Trio) -> None:
    """No ``scheduler``: A schedules its own job; B reports by ``task/callback``."""
    _, a, b, _ = trio
    job_id = submit(a, psi_pipeline(a.node_id, b.node_id, sync_type="callback"))
    summary = wait_finished(a, job_id, timeout_s=60)
    assert summary["result"] == "SUCCESS", summary
    assert summary["scheduler"] == a.node_id
    # B's reports travelled as signed task/callback calls through its outbox
    assert b.admin.get("/outbox") == []


def test_a_task_over_its_timeout_is_stopped_and_fails_the_job(trio: Trio) -> None:
    _, a, _, c = trio
    job = big_psi(trio)
    job["config"]["job_params"]["common"]["timeout"] = 1  # type: ignore[index]
    job_id = submit(a, job, scheduler=c.node_id)
    summary = wait_finished(a, job_id, timeout_s=60)
    assert summary["result"] == "FAILED"
    reasons = {f["reason"] for f in summary["failures"]}
    assert "timed out after 1 s" in reasons, summary["failures"]
    psi = next(t for t in summary["tasks"] if t["task_name"] == "psi_0")
    wait_until(lambda: task_processes(psi["task_id"]) == [], timeout_s=15)


def test_a_party_that_keeps_its_logs_sends_the_reason_only(tmp_path: Path) -> None:
    env = {"ISTHMUS_SCHEDULER__SHARE_LOG_TAIL": "false"}
    with ProcessCluster(tmp_path, env=env) as cluster:
        a, b = cluster.start(2)
        cluster.connect(a, b)
        write_dataset(a, "guest.csv", list(range(100)), "x")
        write_dataset(b, "host.csv", list(range(100)), "y")
        offer(b, a, "host.csv")
        job = psi_pipeline(a.node_id, b.node_id)
        job["config"]["task_params"]["host"]["0"]["psi_0"]["field_names"] = "no_such_column"
        summary = wait_finished(a, submit(a, job))
    (failure,) = [f for f in summary["failures"] if f["node_id"] == b.node_id]
    assert failure["reason"].startswith("exit 65 (parameter error): parameter 'field_names'")
    assert not failure["log_tail"]
