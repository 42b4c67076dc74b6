"""The Docker and Kubernetes runners' submission, without an engine here.

Each runner is driven through its real interface (start, status, stop, release) and
what it sends is checked exactly: the docker CLI calls (against a recording ``docker``
on PATH that answers as the CLI does) and the Kubernetes API requests (through an
``httpx`` transport that answers as the API server does).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from isthmus.scheduler.container_specs import Resources, docker_run, kubernetes_job
from isthmus.scheduler.kube_runner import KubernetesApi, KubernetesRunner
from isthmus.scheduler.runners import (
    DockerRunner,
    RunnerError,
    TaskRun,
)
from isthmus.wire.status import Status

ENV = {
    "config.self_role": "host.0",
    "config.task_id": "job-1_psi_0",
    "system.storage": "s3://minio:9000",
    "runtime.component.name": "ecdh_psi",
}


def recording_docker(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A ``docker`` that logs each call as a JSON line and answers ``inspect`` with the
    content of the state file (``running 0`` / ``exited 3``…)."""
    calls, state = tmp_path / "calls.jsonl", tmp_path / "state"
    state.write_text("running 0")
    script = tmp_path / "docker"
    script.write_text(
        f"""#!{sys.executable}
import json, sys
with open({str(calls)!r}, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1] == "inspect":
    print(open({str(state)!r}).read())
elif sys.argv[1] == "logs":
    print("component output line")
    print("component error line", file=sys.stderr)
elif sys.argv[1] == "run":
    print("0123abcd")
"""
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, calls, state


def test_the_docker_runner_submits_follows_and_cleans_up(tmp_path: Path) -> None:
    docker, calls, state = recording_docker(tmp_path)
    runner = DockerRunner(str(docker))
    log = tmp_path / "logs" / "host.0.log"
    run = TaskRun("job-1_psi_0", ENV, log, "registry/isthmus:0.1", Resources(2, 4, -1))
    handle = runner.start(run)
    assert handle == {"container": "job-1-psi-0-host-0", "log_path": str(log)}
    assert runner.status(handle).status == Status.RUNNING
    state.write_text("exited 3")
    outcome = runner.status(handle)
    assert (outcome.status, outcome.exit_code) == (Status.FAILED, 3)
    assert outcome.reason == "exit 3 (error)"
    assert log.read_text() == "component output line\ncomponent error line\n"
    runner.release(handle)
    state.write_text("exited 0")
    assert runner.status(handle).status == Status.SUCCESS
    runner.stop(handle, grace_s=7)
    recorded = [json.loads(line) for line in calls.read_text().splitlines()]
    env_file = str(log.with_suffix(".env"))
    user = f"{os.getuid()}:{os.getgid()}"
    expected_run = docker_run(
        run.task_id, run.image, ENV, run.resources, env_file=env_file, detach=True, user=user
    )[1:]
    inspect = ["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", handle["container"]]
    logs = ["logs", handle["container"]]
    assert recorded == [
        expected_run,
        inspect,
        inspect,
        logs,  # copied as soon as the end is seen: the failure's reason quotes it
        logs,
        ["rm", "--force", handle["container"]],
        inspect,
        logs,
        ["stop", "--time", "7", handle["container"]],
    ]
    assert expected_run[:2] == ["run", "-d"] and "--rm" not in expected_run
    assert not Path(env_file).exists()  # read by docker run, then removed
    assert log.read_text() == "component output line\ncomponent error line\n"


def test_the_docker_runner_without_an_engine_fails_the_start_clearly(tmp_path: Path) -> None:
    runner = DockerRunner(str(tmp_path / "no-docker-here"))
    with pytest.raises(RunnerError, match="docker run"):
        runner.start(TaskRun("t", ENV, tmp_path / "l.log", "img"))
    with pytest.raises(RunnerError, match="needs an image"):
        runner.start(TaskRun("t", ENV, tmp_path / "l.log"))


class ApiServer:
    """Answers as the Kubernetes API server would, and records every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.job_status: dict[str, Any] = {"active": 1}
        self.created = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body))
        assert request.headers["authorization"] == "Bearer secret-token"
        path = request.url.path
        if request.method == "POST" and path.endswith("/jobs"):
            if self.created:
                return httpx.Response(409, json={"message": "already exists"})
            self.created = True
            return httpx.Response(201, json=body)
        if request.method == "GET" and "/jobs/" in path:
            return httpx.Response(200, json={"status": self.job_status})
        if request.method == "GET" and path.endswith("/pods"):
            assert request.url.params["labelSelector"] == "job-name=job-1-psi-0-host-0"
            return httpx.Response(200, json={"items": [{"metadata": {"name": "pod-x"}}]})
        if request.method == "GET" and path.endswith("/pods/pod-x/log"):
            return httpx.Response(200, text="pod log line\n")
        if request.method == "DELETE":
            return httpx.Response(200, json={"status": "Success"})
        return httpx.Response(404, json={"message": "not found"})


def test_the_kubernetes_runner_submits_the_job_spec_and_follows_it(tmp_path: Path) -> None:
    server = ApiServer()
    api = KubernetesApi("https://k8s.example:6443", "secret-token", namespace="privacy")
    runner = KubernetesRunner(api, transport=httpx.MockTransport(server), ttl_s=600)
    log = tmp_path / "host.0.log"
    run = TaskRun("job-1_psi_0", ENV, log, "registry/isthmus:0.1", Resources(2, 4, 10), 900)
    handle = runner.start(run)
    assert handle == {"job": "job-1-psi-0-host-0", "log_path": str(log)}
    method, path, manifest = server.requests[0]
    assert (method, path) == ("POST", "/apis/batch/v1/namespaces/privacy/jobs")
    assert manifest == kubernetes_job(
        run.task_id, run.image, ENV, run.resources, namespace="privacy", deadline_s=900, ttl_s=600
    )
    assert runner.start(run) == handle  # a retried start finds the Job already there
    assert runner.status(handle).status == Status.RUNNING
    condition = {"reason": "DeadlineExceeded", "message": "Job was active longer"}
    server.job_status = {"failed": 1, "conditions": [condition]}
    outcome = runner.status(handle)
    assert outcome.status == Status.FAILED and outcome.reason == "Job was active longer"
    server.job_status = {"succeeded": 1}
    assert runner.status(handle).status == Status.SUCCESS
    runner.release(handle)
    assert log.read_text() == "pod log line\n"
    runner.stop(handle, grace_s=3)
    method, path, body = server.requests[-1]
    assert (method, path) == ("DELETE", "/apis/batch/v1/namespaces/privacy/jobs/job-1-psi-0-host-0")
    assert body == {"propagationPolicy": "Background", "gracePeriodSeconds": 3}


def test_the_kubernetes_runner_outside_a_cluster_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(RunnerError, match="not in a Kubernetes pod"):
        KubernetesApi.from_service_account()
