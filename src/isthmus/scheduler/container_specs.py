"""What the Docker and Kubernetes runners submit, generated from the same container
environment the process runner uses (digest §2.7: one container per task party, created
at task start, destroyed after the run).

* ``docker_run``: the ``docker run`` argument list: ``--rm`` (or ``-d`` for the runner),
  a name from the task, the environment from an ``--env-file`` (never ``-e NAME=VALUE``:
  a command line is readable by every local user, and the environment holds the
  session token), ``--cpus`` / ``--memory`` from ``job_params`` resources, the user to
  run as, no new privileges, the task's own storage directory mounted when it is a
  local ``file://`` path and each of its input tables mounted read-only over it, and
  the image.
* ``kubernetes_job``: a ``batch/v1`` Job: ``restartPolicy: Never``, ``backoffLimit: 0``
  (a failed task is the scheduler's to retry, not Kubernetes'),
  ``activeDeadlineSeconds`` from the task timeout, ``ttlSecondsAfterFinished`` so pods
  do not pile up, resources as requests and limits, and the environment; Kubernetes
  accepts the dotted names (it only refuses names with characters outside
  ``[-._a-zA-Z0-9]``).

Resources follow ``job_params.<role>.<index>.resources {cpu, memory, disk}``: cores,
GiB, GiB, -1 for unlimited (the guide's Kubernetes example writes memory as ``<n>Gi``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

_NAME = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class Resources:
    cpu: float = -1
    memory_gib: float = -1
    disk_gib: float = -1

    @classmethod
    def from_job_params(cls, params: dict[str, Any] | None) -> Resources:
        given = (params or {}).get("resources", {}) or {}
        return cls(
            cpu=float(given.get("cpu", -1)),
            memory_gib=float(given.get("memory", -1)),
            disk_gib=float(given.get("disk", -1)),
        )


def container_name(task_id: str, role: str) -> str:
    """A DNS-1123 label (Kubernetes' rule, which Docker accepts too): lower case,
    digits and '-', at most 63 characters."""
    name = _NAME.sub("-", f"{task_id}-{role}".lower()).strip("-")
    return name[:63].rstrip("-") or "task"


def docker_run(
    task_id: str,
    image: str,
    env: dict[str, str],
    resources: Resources,
    *,
    env_file: str,
    detach: bool = False,
    user: str | None = None,
) -> list[str]:
    """``env_file``: where ``env`` was written (``env_file_text``); ``detach``: start in
    the background and keep the container after it exits (the runner reads its exit
    code and log, then removes it) instead of ``--rm``; ``user``: ``uid:gid`` to run
    as, so what the task writes is the node's to publish and remove."""
    role = env.get("config.self_role", "")
    argv = ["docker", "run", "-d" if detach else "--rm", "--name", container_name(task_id, role)]
    if resources.cpu > 0:
        argv += ["--cpus", _number(resources.cpu)]
    if resources.memory_gib > 0:
        argv += ["--memory", f"{_number(resources.memory_gib)}g"]
    if user:
        argv += ["--user", user]
    argv += ["--security-opt", "no-new-privileges"]
    storage = urlsplit(env.get("system.storage", ""))
    if storage.scheme == "file" and storage.path:
        root = unquote(storage.path)
        argv += ["--volume", f"{root}:{root}"]
        for name in sorted(env):
            if name.startswith("runtime.component.input."):
                table = json.loads(env[name])
                path = f"{root}/{table['namespace']}/{table['name']}"
                argv += ["--volume", f"{path}:{path}:ro"]
    argv += ["--env-file", env_file]
    argv.append(image)
    return argv


def env_file_text(env: dict[str, str]) -> str:
    """``env`` in Docker's ``--env-file`` format, one ``NAME=VALUE`` a line. Docker
    reads values verbatim to the end of the line, so a value with a line break cannot
    be carried and is refused rather than cut."""
    lines = []
    for name in sorted(env):
        value = env[name]
        if "\n" in value or "\r" in value or "\n" in name or "=" in name:
            raise ValueError(f"environment variable {name[:60]!r} cannot go in an env file")
        lines.append(f"{name}={value}\n")
    return "".join(lines)


def kubernetes_job(
    task_id: str,
    image: str,
    env: dict[str, str],
    resources: Resources,
    *,
    namespace: str,
    deadline_s: int,
    ttl_s: int = 3600,
) -> dict[str, Any]:
    role = env.get("config.self_role", "")
    quantities: dict[str, str] = {}
    if resources.cpu > 0:
        quantities["cpu"] = _number(resources.cpu)
    if resources.memory_gib > 0:
        quantities["memory"] = f"{_number(resources.memory_gib)}Gi"
    if resources.disk_gib > 0:
        quantities["ephemeral-storage"] = f"{_number(resources.disk_gib)}Gi"
    container: dict[str, Any] = {
        "name": "component",
        "image": image,
        "env": [{"name": name, "value": env[name]} for name in sorted(env)],
    }
    if quantities:
        container["resources"] = {"requests": dict(quantities), "limits": dict(quantities)}
    name = container_name(task_id, role)
    labels = {"app.kubernetes.io/managed-by": "isthmus", "isthmus/task": name}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline_s,
            "ttlSecondsAfterFinished": ttl_s,
            "template": {
                "metadata": {"labels": labels},
                "spec": {"restartPolicy": "Never", "containers": [container]},
            },
        },
    }


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
