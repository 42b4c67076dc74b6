"""A job's tasks become container environments and run as processes: a two-stage
pipeline on one party, the contract's variables exactly, and a stop that leaves no
process behind."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from isthmus.components.builtin.column_select import SPEC as COLUMN_SELECT
from isthmus.components.builtin.ecdh_psi.component import SPEC as ECDH_PSI
from isthmus.scheduler.container_env import Placement, container_env
from isthmus.scheduler.container_specs import Resources
from isthmus.scheduler.runners import Handle, ProcessRunner, TaskRun
from isthmus.testing.cluster import wait_until
from isthmus.testing.jobs import task_processes
from isthmus.wire.dag import Job, parse_job
from isthmus.wire.errors import ValidationFailed
from isthmus.wire.status import Status


def pipeline(task_params: dict[str, Any]) -> Job:
    return parse_job(
        {
            "job_id": "job-9",
            "dag": {"components": [
                {"name": "select_0", "componentName": "column_select", "version": "0.1.0",
                 "input": [], "output": [{"type": "dataset", "key": "data"}]},
                {"name": "select_1", "componentName": "column_select", "version": "0.1.0",
                 "input": [{"type": "dataset", "key": "select_0.data"}],
                 "output": [{"type": "dataset", "key": "data"}]},
                {"name": "psi_0", "componentName": "ecdh_psi", "version": "0.1.0",
                 "input": [{"type": "dataset", "key": "select_1.data"}],
                 "output": [{"type": "dataset", "key": "train_data"}]},
            ]},
            "config": {
                "initiator": {"role": "guest", "node_id": "NODE_A"},
                "role": {"guest": ["NODE_A"], "host": ["NODE_B"]},
                "task_params": task_params,
            },
        }
    )  # fmt: skip


def placement(tmp_path: Path) -> Placement:
    return Placement(
        storage_url=f"file://{tmp_path / 'storage'}",
        transport_address="127.0.0.1:9",
        callback_url=None,
        token="tok",
        log_path=str(tmp_path / "logs"),
        inst_ids={"NODE_A": "INST_A"},
    )


def wait(runner: Any, handle: Handle, timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while runner.status(handle).status == Status.RUNNING and time.monotonic() < deadline:
        time.sleep(0.05)
    return str(runner.status(handle).status)


def test_a_two_stage_pipeline_runs_on_one_party(tmp_path: Path) -> None:
    (tmp_path / "storage" / "data").mkdir(parents=True)
    (tmp_path / "storage" / "data" / "people").write_text("id,name,age\n1,ann,30\n2,bob,41\n")
    job = pipeline(
        {
            "common": {"select_1": {"columns": "id"}},
            "guest": {"0": {"select_0": {"dataset_id": "data#people", "columns": "id,age"}}},
        }
    )
    runner = ProcessRunner()
    for component in ("select_0", "select_1"):
        env = container_env(job, component, "guest", 0, COLUMN_SELECT, placement(tmp_path))
        log = tmp_path / f"{component}.log"
        handle = runner.start(TaskRun(env["config.task_id"], env, log))
        assert wait(runner, handle) == Status.SUCCESS, log.read_text()
    out = tmp_path / "storage" / "job-9-guest-0"
    assert (out / "job-9_select_0-data" / "data_0").read_text() == "id,age\n1,30\n2,41\n"
    assert (out / "job-9_select_1-data" / "data_0").read_text() == "id\n1\n2\n"


def test_the_environment_is_the_contract(tmp_path: Path) -> None:
    job = pipeline({"common": {"psi_0": {"curve_type": "sm2", "extra": {"k": [1]}, "flag": True}}})
    env = container_env(job, "psi_0", "host", 0, ECDH_PSI, placement(tmp_path))
    assert env["config.self_role"] == "host.0"
    assert env["config.node_id.guest.0"] == "NODE_A" and env["config.inst_id.guest.0"] == "INST_A"
    assert env["config.inst_id.host.0"] == "NODE_B"  # no institution known: the node id
    assert env["config.session_id"] == "session_job-9"
    assert env["runtime.component.name"] == "ecdh_psi"
    assert env["runtime.component.parameter.curve_type"] == "sm2"
    assert env["runtime.component.parameter.extra"] == '{"k": [1]}'
    assert env["runtime.component.parameter.flag"] == "true"
    assert json.loads(env["runtime.component.input.train_data"]) == {
        "namespace": "job-9-host-0",
        "name": "job-9_select_1-data",
    }
    assert json.loads(env["runtime.component.output.train_data"]) == {
        "namespace": "job-9-host-0",
        "name": "job-9_psi_0-train_data",
    }
    assert "system.callback" not in env


def test_a_first_task_without_a_dataset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed, match="name no dataset"):
        container_env(pipeline({}), "select_0", "guest", 0, COLUMN_SELECT, placement(tmp_path))


def waiting_psi(tmp_path: Path, recv_timeout_s: float = 3) -> dict[str, str]:
    """A PSI party waiting for a partner that never comes (it gives up after
    ``recv_timeout_s``)."""
    (tmp_path / "storage" / "data").mkdir(parents=True, exist_ok=True)
    (tmp_path / "storage" / "data" / "ids").write_text("id\n1\n")
    job = parse_job(
        {
            "job_id": "job-adopt",
            "dag": {"components": [{"name": "psi_0", "componentName": "ecdh_psi",
                                    "version": "0.1.0", "input": [],
                                    "output": [{"type": "dataset", "key": "train_data"}]}]},
            "config": {
                "initiator": {"role": "guest", "node_id": "NODE_A"},
                "role": {"guest": ["NODE_A"], "host": ["NODE_B"]},
                "task_params": {"common": {"psi_0": {"recv_timeout_s": recv_timeout_s}},
                                "guest": {"0": {"psi_0": {"namespace": "data", "name": "ids"}}}},
            },
        }
    )  # fmt: skip
    return container_env(job, "psi_0", "guest", 0, ECDH_PSI, placement(tmp_path))


def test_stop_ends_the_task_and_everything_it_started(tmp_path: Path) -> None:
    """A PSI task waiting for a partner that never comes is stopped within seconds."""
    env = waiting_psi(tmp_path, recv_timeout_s=600)
    runner = ProcessRunner()
    handle = runner.start(TaskRun("job-stop_psi_0", env, tmp_path / "psi.log"))
    time.sleep(1.5)
    assert runner.status(handle).status == Status.RUNNING
    started = time.monotonic()
    runner.stop(handle, grace_s=2.0)
    assert time.monotonic() - started < 5
    outcome = runner.status(handle)
    assert outcome.status == Status.FAILED and outcome.exit_code == 128 + 15, outcome  # SIGTERM
    with pytest.raises(ProcessLookupError):
        os.killpg(handle["pid"], 0)  # the whole group is gone


def test_a_runner_that_did_not_start_a_run_follows_it_from_its_handle(tmp_path: Path) -> None:
    """What a restarted node does: a new runner, the stored handle, the same run; the
    outcome comes from the supervisor's exit file even though it is not our child."""
    handle = ProcessRunner().start(TaskRun("t", waiting_psi(tmp_path), tmp_path / "a.log"))
    stored = json.loads(json.dumps(handle))
    other = ProcessRunner()
    assert other.status(stored).status == Status.RUNNING
    # the partner never comes: the component gives up after recv_timeout_s and fails
    assert wait(other, stored) == Status.FAILED
    assert other.status(stored).exit_code not in (None, 0)


def test_a_run_killed_outright_fails_without_an_exit_code(tmp_path: Path) -> None:
    runner = ProcessRunner()
    handle = runner.start(TaskRun("t", waiting_psi(tmp_path), tmp_path / "k.log"))
    time.sleep(0.5)
    os.killpg(handle["pid"], 9)  # SIGKILL to the group: the supervisor cannot write
    assert wait(runner, handle) == Status.FAILED
    outcome = runner.status(handle)
    assert outcome.exit_code is None and "without an exit status" in (outcome.reason or "")


def test_a_reused_pid_is_not_mistaken_for_the_run(tmp_path: Path) -> None:
    handle: Handle = {"pid": os.getpid(), "start_ticks": -1, "exit_file": str(tmp_path / "x")}
    outcome = ProcessRunner().status(handle)
    assert outcome.status == Status.FAILED  # our own pid, but not the run's start time
    ProcessRunner().stop(handle)  # and never signalled


def test_the_memory_of_job_params_caps_the_component(tmp_path: Path) -> None:
    runner = ProcessRunner()
    env = waiting_psi(tmp_path)
    handle = runner.start(TaskRun("t", env, tmp_path / "m.log", resources=Resources(memory_gib=2)))
    try:
        wait_until(lambda: len(task_processes(env["config.task_id"])) == 2, what="both processes")
        for pid in task_processes(env["config.task_id"]):  # the supervisor and the component
            limits = Path(f"/proc/{pid}/limits").read_text()
            line = next(x for x in limits.splitlines() if x.startswith("Max data size"))
            assert line.split()[3:5] == [str(2 * 2**30), str(2 * 2**30)]
    finally:
        runner.stop(handle, grace_s=1)
