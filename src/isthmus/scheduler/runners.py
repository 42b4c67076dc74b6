"""Runners: how a task's container environment becomes a running algorithm.

One interface (``Runner``): ``start`` returns a *handle*, a small JSON-able record the
participant stores with the task, and ``status`` / ``stop`` / ``logs`` work from that
handle alone. That is what lets a node restarted mid-task find its runs again instead
of orphaning them.

* ``ProcessRunner`` (the default) runs the component as a local process, through the
  supervisor in ``supervise.py``, in its own process group, output to the task's log;
  of ``job_params`` resources it applies the memory cap (a process has no CPU quota
  without cgroups: CPU limits take the Ray, Docker or Kubernetes runner).
* ``DockerRunner`` submits ``docker run -d`` (the spec from ``container_specs``), reads
  the outcome with ``docker inspect``, copies ``docker logs`` and removes the container.
* ``KubernetesRunner`` (``kube_runner.py``) and ``RayRunner`` (``ray_runner.py``) take
  the same interface to a cluster.

Status is RUNNING until the run ended; then SUCCESS for exit code 0, FAILED otherwise,
the code named in the reason (``ended``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from isthmus.scheduler.container_specs import (
    Resources,
    container_name,
    docker_run,
    env_file_text,
)
from isthmus.scheduler.exit_codes import describe_exit
from isthmus.wire.status import Status

Handle = dict[str, Any]


class RunnerError(Exception):
    """The runner could not start or reach a run (not: the algorithm failed)."""


@dataclass(frozen=True)
class TaskRun:
    """What a runner needs to start one party's task."""

    task_id: str
    env: dict[str, str]
    log_path: Path
    image: str = ""
    resources: Resources = field(default_factory=Resources)
    deadline_s: int = 86400


@dataclass(frozen=True)
class Outcome:
    status: str
    exit_code: int | None = None
    reason: str | None = None


class Runner(Protocol):
    name: str

    def start(self, run: TaskRun) -> Handle: ...

    def status(self, handle: Handle) -> Outcome: ...

    def stop(self, handle: Handle, grace_s: float = 5.0) -> None: ...

    def release(self, handle: Handle) -> None:
        """Called once the run's end is recorded: free what it still holds."""
        ...


def interpreter_env() -> dict[str, str]:
    """What a task's supervisor needs of this process's environment to be the same
    Isthmus as the node: ``PATH``, and ``PYTHONPATH`` when the node has one (a node run
    from a source tree runs its tasks from the same tree). Nothing else of the node's
    environment reaches a task."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def ended(code: int) -> Outcome:
    """A run's end by its exit code: SUCCESS for 0, else FAILED with the code named
    (``exit_codes``; the participant adds the component's own message from the log)."""
    if code == 0:
        return Outcome(Status.SUCCESS, 0)
    return Outcome(Status.FAILED, code, describe_exit(code))


# --- local processes ------------------------------------------------------------------


def _process_start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat):
    with the pid, it names one process even after pids are reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie has ended
        return None
    return int(fields[19])


class ProcessRunner:
    name = "process"

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, run: TaskRun) -> Handle:
        run.log_path.parent.mkdir(parents=True, exist_ok=True)
        exit_file = run.log_path.with_suffix(".exit")
        exit_file.unlink(missing_ok=True)
        argv = [self.python, "-m", "isthmus.scheduler.supervise", str(exit_file)]
        if run.resources.memory_gib > 0:
            argv.append(str(int(run.resources.memory_gib * 2**30)))
        with open(run.log_path, "ab") as log:
            process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
                argv,
                env={**run.env, **interpreter_env()},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop takes everything
            )
        self._children[process.pid] = process
        return {
            "pid": process.pid,
            "start_ticks": _process_start_ticks(process.pid),
            "exit_file": str(exit_file),
        }

    def status(self, handle: Handle) -> Outcome:
        pid = int(handle["pid"])
        child = self._children.get(pid)
        if child is not None and child.poll() is not None:
            del self._children[pid]  # reaped
        exit_file = Path(handle["exit_file"])
        if exit_file.exists():
            return ended(int(exit_file.read_text().strip() or "1"))
        if self._alive(handle):
            return Outcome(Status.RUNNING)
        if child is not None and child.returncode is not None and child.returncode >= 0:
            return ended(child.returncode)  # the supervisor itself failed to write
        return Outcome(
            Status.FAILED, None, "the task's process ended without an exit status (killed)"
        )

    def release(self, handle: Handle) -> None:
        """Nothing is held: the exit file stays beside the log, for the record."""

    def stop(self, handle: Handle, grace_s: float = 5.0) -> None:
        """TERM to the whole group, KILL after ``grace_s``: nothing it started survives."""
        if not self._alive(handle):
            self._signal(handle, signal.SIGKILL)  # stragglers of the group, if any
            return
        self._signal(handle, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while self._alive(handle) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._signal(handle, signal.SIGKILL)
        child = self._children.pop(int(handle["pid"]), None)
        if child is not None:
            child.wait()

    def _alive(self, handle: Handle) -> bool:
        pid = int(handle["pid"])
        child = self._children.get(pid)
        if child is not None:
            return child.poll() is None
        ticks = _process_start_ticks(pid)
        return ticks is not None and ticks == handle.get("start_ticks")

    def _signal(self, handle: Handle, sig: signal.Signals) -> None:
        pid = int(handle["pid"])
        if pid not in self._children and _process_start_ticks(pid) != handle.get("start_ticks"):
            return  # not ours any more: never signal a reused pid's group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)


# --- Docker ---------------------------------------------------------------------------


class DockerRunner:
    """``docker`` on PATH (or ``docker_bin``), talking to whatever engine it is set up
    for. The container is kept (``-d`` without ``--rm``) until its exit code and log
    are collected, then removed.

    The environment (session token included) goes through an ``--env-file`` that only
    the node's user can read, removed as soon as ``docker run`` returned: never on a
    command line. The container runs as ``user`` (the node's uid:gid by default), with
    no new privileges, seeing only the task's own storage directory."""

    name = "docker"

    def __init__(
        self, docker_bin: str = "docker", timeout_s: float = 60.0, user: str | None = None
    ) -> None:
        self.docker_bin = docker_bin
        self.timeout_s = timeout_s
        self.user = user if user is not None else f"{os.getuid()}:{os.getgid()}"

    def start(self, run: TaskRun) -> Handle:
        if not run.image:
            raise RunnerError(f"task {run.task_id}: the docker runner needs an image URL")
        run.log_path.parent.mkdir(parents=True, exist_ok=True)
        env_file = run.log_path.with_suffix(".env")
        try:
            text = env_file_text(run.env)
        except ValueError as exc:
            raise RunnerError(f"task {run.task_id}: {exc}") from exc
        env_file.unlink(missing_ok=True)
        fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            argv = docker_run(
                run.task_id,
                run.image,
                run.env,
                run.resources,
                env_file=str(env_file),
                detach=True,
                user=self.user or None,
            )
            argv[0] = self.docker_bin
            self._docker(argv[1:])
        finally:
            env_file.unlink(missing_ok=True)
        name = container_name(run.task_id, run.env.get("config.self_role", ""))
        return {"container": name, "log_path": str(run.log_path)}

    def status(self, handle: Handle) -> Outcome:
        name = handle["container"]
        state = self._docker(["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name])
        status, _, code = state.strip().partition(" ")
        if status in ("created", "running", "restarting", "paused"):
            return Outcome(Status.RUNNING)
        self._copy_log(handle)  # before the end is settled: its reason quotes the log
        return ended(int(code or "1"))

    def stop(self, handle: Handle, grace_s: float = 5.0) -> None:
        with contextlib.suppress(RunnerError):
            self._docker(["stop", "--time", str(max(1, int(grace_s))), handle["container"]])

    def release(self, handle: Handle) -> None:
        """Copy the container's log to the task's log file, then remove the container."""
        self._copy_log(handle)
        with contextlib.suppress(RunnerError):
            self._docker(["rm", "--force", handle["container"]])

    def _copy_log(self, handle: Handle) -> None:
        log_path = Path(handle["log_path"])
        with contextlib.suppress(RunnerError, OSError):
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_path.write_text(self._docker(["logs", handle["container"]], with_stderr=True))

    def _docker(self, args: list[str], *, with_stderr: bool = False) -> str:
        try:
            done = subprocess.run(  # noqa: S603 - the configured docker client
                [self.docker_bin, *args],
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RunnerError(f"docker {args[0]}: {exc}") from exc
        if done.returncode != 0:
            raise RunnerError(f"docker {args[0]} failed: {done.stderr.strip()[:300]}")
        return done.stdout + done.stderr if with_stderr else done.stdout
