"""The ray runner on a local Ray cluster: the same entry as the process runner, as a
detached named actor, found again by a new runner (what a restarted node does), stopped
with everything it started; and a job whose component is registered with ``ray``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from isthmus.components.builtin.column_select import SPEC as COLUMN_SELECT
from isthmus.scheduler.container_env import container_env
from isthmus.scheduler.container_specs import Resources
from isthmus.scheduler.ray_runner import RayRunner
from isthmus.scheduler.runners import TaskRun
from isthmus.testing import ProcessCluster
from isthmus.testing.cluster import wait_until
from isthmus.testing.jobs import submit, task_processes, wait_finished
from isthmus.wire.status import Status
from tests.scheduler.test_runners import pipeline, placement, wait, waiting_psi
from tests.support.ray_cluster import local_ray

pytestmark = pytest.mark.multinode


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    with local_ray() as address:
        yield address


def test_a_task_runs_as_a_ray_actor_and_a_new_runner_finds_it(
    ray_address: str, tmp_path: Path
) -> None:
    (tmp_path / "storage" / "data").mkdir(parents=True)
    (tmp_path / "storage" / "data" / "people").write_text("id,name,age\n1,ann,30\n2,bob,41\n")
    job = pipeline({"guest": {"0": {"select_0": {"dataset_id": "data#people", "columns": "id"}}}})
    env = container_env(job, "select_0", "guest", 0, COLUMN_SELECT, placement(tmp_path))
    log = tmp_path / "ray.log"
    runner = RayRunner(ray_address)
    handle = runner.start(TaskRun("job-9_select_0", env, log, resources=Resources(cpu=1)))
    stored = json.loads(json.dumps(handle))  # what the participant keeps
    assert wait(RayRunner(ray_address), stored) == Status.SUCCESS, log.read_text()
    out = tmp_path / "storage" / "job-9-guest-0" / "job-9_select_0-data" / "data_0"
    assert out.read_text() == "id\n1\n2\n"
    runner.release(stored)
    assert runner.status(stored).status == Status.FAILED  # released: the actor is gone


def test_stopping_a_ray_task_leaves_no_process(ray_address: str, tmp_path: Path) -> None:
    env = waiting_psi(tmp_path, recv_timeout_s=600)
    runner = RayRunner(ray_address)
    handle = runner.start(TaskRun("ray-stop", env, tmp_path / "psi.log"))
    wait_until(lambda: len(task_processes(env["config.task_id"])) >= 2, what="the PSI running")
    runner.stop(handle, grace_s=2.0)
    assert task_processes(env["config.task_id"]) == []
    outcome = runner.status(handle)
    assert outcome.status == Status.FAILED and outcome.exit_code == 128 + 15


def test_a_job_runs_its_component_on_ray_when_registered_so(ray_address: str) -> None:
    with ProcessCluster(env={"ISTHMUS_SCHEDULER__RAY_ADDRESS": ray_address}) as cluster:
        a = cluster.add_node()
        description = {**COLUMN_SELECT.self_description(), "provider": "isthmus-on-ray"}
        a.admin.post("/components", {"component_info": description, "runner": "ray"})
        (a.home / "data" / "demo").mkdir(parents=True)
        (a.home / "data" / "demo" / "t.csv").write_text("id,x\n1,2\n")
        job = {
            "dag": {"components": [
                {"name": "select_0", "componentName": "column_select", "provider": "isthmus-on-ray",
                 "version": "0.1.0", "input": [], "output": [{"key": "data", "type": "dataset"}]},
            ]},
            "config": {
                "initiator": {"role": "guest", "node_id": a.node_id},
                "role": {"guest": [a.node_id]},
                "task_params": {"common": {"select_0": {"columns": "x",
                                                        "namespace": "demo", "name": "t.csv"}}},
            },
        }  # fmt: skip
        job_id = submit(a, job)
        assert wait_finished(a, job_id, timeout_s=120)["result"] == "SUCCESS"
        (run,) = a.admin.get(f"/jobs/{job_id}/tasks")
        assert run["runner"] == "ray" and run["status"] == "SUCCESS"
        out = a.home / "data" / f"{job_id}-guest-0" / f"{run['task_id']}-data" / "data_0"
        assert out.read_text() == "x\n2\n"
