"""The Docker and Kubernetes specs a task becomes, checked exactly (no engine here)."""

from __future__ import annotations

import re

import pytest

from isthmus.scheduler.container_specs import (
    Resources,
    container_name,
    docker_run,
    env_file_text,
    kubernetes_job,
)

ENV = {
    "config.self_role": "host.0",
    "system.storage": "file:///data/isthmus",
    "runtime.component.name": "ecdh_psi",
    "runtime.component.parameter.curve_type": "sm2",
}


def test_resources_come_from_job_params_with_unlimited_defaults() -> None:
    assert Resources.from_job_params({"resources": {"cpu": 2, "memory": 4}}) == Resources(2, 4, -1)
    assert Resources.from_job_params(None) == Resources()


def test_docker_run_carries_the_contract_and_limits() -> None:
    env = {**ENV, "runtime.component.input.data": '{"namespace": "demo", "name": "a.csv"}'}
    argv = docker_run(
        "job-1_psi_0", "registry/isthmus:0.1", env, Resources(2, 4.5, -1),
        env_file="/home/jobs/host.0.env", user="1000:1000",
    )  # fmt: skip
    assert argv == [
        "docker", "run", "--rm", "--name", "job-1-psi-0-host-0",
        "--cpus", "2", "--memory", "4.5g",
        "--user", "1000:1000", "--security-opt", "no-new-privileges",
        "--volume", "/data/isthmus:/data/isthmus",
        "--volume", "/data/isthmus/demo/a.csv:/data/isthmus/demo/a.csv:ro",
        "--env-file", "/home/jobs/host.0.env",
        "registry/isthmus:0.1",
    ]  # fmt: skip
    unlimited = docker_run("t", "img", {"system.storage": "s3://minio:9000"}, Resources(),
                           env_file="e")  # fmt: skip
    assert "--cpus" not in unlimited and "--memory" not in unlimited and "--volume" not in unlimited


def test_the_environment_goes_in_a_file_never_on_the_command_line() -> None:
    env = {**ENV, "config.token": "secret-session-token"}
    argv = docker_run("t", "img", env, Resources(), env_file="/x/host.0.env")
    assert not any("secret-session-token" in a or "config." in a for a in argv)
    assert "config.token=secret-session-token\n" in env_file_text(env)
    with pytest.raises(ValueError, match="env file"):
        env_file_text({"runtime.component.parameter.x": "two\nlines"})


def test_kubernetes_job_runs_once_with_deadline_ttl_and_resources() -> None:
    job = kubernetes_job(
        "job-1_psi_0", "registry/isthmus:0.1", ENV, Resources(1, 2, 10),
        namespace="isthmus", deadline_s=3600, ttl_s=600,
    )  # fmt: skip
    spec = job["spec"]
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    assert job["metadata"]["name"] == "job-1-psi-0-host-0"
    assert job["metadata"]["namespace"] == "isthmus"
    assert spec["backoffLimit"] == 0
    assert spec["activeDeadlineSeconds"] == 3600 and spec["ttlSecondsAfterFinished"] == 600
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    quantities = {"cpu": "1", "memory": "2Gi", "ephemeral-storage": "10Gi"}
    assert container["resources"] == {"requests": quantities, "limits": quantities}
    assert container["env"][0] == {"name": "config.self_role", "value": "host.0"}
    assert {e["name"] for e in container["env"]} == set(ENV)
    for variable in container["env"]:  # Kubernetes' rule for environment variable names
        assert re.fullmatch(r"[-._a-zA-Z][-._a-zA-Z0-9]*", variable["name"])


def test_names_are_dns_labels() -> None:
    long = container_name("JOB_" + "x" * 80, "guest.0")
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", long) and len(long) <= 63
    assert container_name("Job_1", "host.10") == "job-1-host-10"
