"""The Ray runner: a task runs on a Ray cluster, for when one machine is not enough.

Each party's run is a *detached, named* Ray actor (``isthmus/<task>/<party>``) that
starts the very same entry as the process runner (the supervisor, then
``python -m isthmus.components`` with exactly the container environment) on whichever
Ray node has room, and reports its exit code. Being named and detached, the actor
outlives this node's connection: a node restarted mid-task finds it again by name,
which is all the handle holds. ``job_params`` resources become the actor's Ray
resources (``num_cpus``, ``memory``), so Ray places the run where they are free.

Ray is optional (``pip install 'isthmus[ray]'``). The Ray workers must have Isthmus
installed, and the task's log path must be writable where the actor runs (the same
host, or a shared file system), as with the process runner.

**Who may reach the cluster runs code as its workers' user.** Ray without
authentication accepts any client that reaches its ports. So the runner connects only
to a cluster on this host's loopback address, or, elsewhere, with Ray's token
authentication (``RAY_AUTH_MODE=token``, as in Ray 2.60) and TLS (``RAY_USE_TLS=1`` with its
certificate variables) both set in the node's environment, where Ray reads them;
anything else is refused when the node starts (``check_address``).

**The component knows the cluster it runs on.** The actor adds
``system.compute=ray+gcs://<GCS address>`` (the address as seen from inside the cluster,
so right on every host) to the component's environment unless the task already has a
``system.compute``, with the worker's Ray authentication and TLS variables so that it
can join; a component that can spread its work (``ecdh_psi`` with ``shards`` > 1) joins
that cluster and runs its parts as Ray tasks. The Ray workers therefore need
Isthmus installed, as the actor itself does.

**The session token is not an argument Ray records.** Actor names and creation
arguments are kept by Ray's control store and shown by its state API and dashboard; the
token goes in a file only the node's user can read (``<party>.token`` beside the log),
whose path is the argument, and the supervisor reads it into the component's
environment and removes it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from isthmus.scheduler.runners import (
    Handle,
    Outcome,
    RunnerError,
    TaskRun,
    ended,
    interpreter_env,
)
from isthmus.scheduler.supervise import TOKEN_FILE
from isthmus.wire.errors import ConfigError
from isthmus.wire.status import Status

NAMESPACE = "isthmus"
#: The contract's compute-engine variable (digest §2.7, ``system.compute``) and the
#: scheme that says it is a Ray cluster's GCS address.
COMPUTE_VARIABLE = "system.compute"
RAY_GCS_SCHEME = "ray+gcs://"
TOKEN_VARIABLE = "config.token"  # noqa: S105 - a variable name, not a secret


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_address(address: str, environ: Mapping[str, str]) -> None:
    """Refuse a Ray address that is not on this host's loopback unless Ray's token
    authentication and TLS are both on (``ConfigError``, at node start). ``auto`` and
    ``local`` are refused too: which interfaces such a cluster listens on is not known
    here."""
    parts = urlsplit(address if "://" in address else f"gcs://{address}")
    try:
        host = parts.hostname or ""
    except ValueError:
        host = ""
    if host and _is_loopback(host):
        return
    authenticated = environ.get("RAY_AUTH_MODE", "").lower() == "token"
    encrypted = environ.get("RAY_USE_TLS", "").lower() in ("1", "true")
    if authenticated and encrypted:
        return
    missing = [
        name
        for name, on in (("RAY_AUTH_MODE=token", authenticated), ("RAY_USE_TLS=1", encrypted))
        if not on
    ]
    raise ConfigError(
        f"scheduler.ray_address {address!r} is not a loopback address, and the node runs "
        f"without {' and '.join(missing)}: anyone who reaches such a Ray cluster runs code "
        "as its workers' user; use a cluster on 127.0.0.1 or turn on Ray's token "
        "authentication and TLS (docs/operator-guide.md, Ray)"
    )


class TaskActor:
    """What runs inside Ray (wrapped with ``ray.remote`` at first use)."""

    def __init__(self, env: dict[str, str], log_path: str, token_file: str = "") -> None:
        path = Path(log_path)
        if token_file:  # the supervisor reads it into the component's environment
            env = {**env, TOKEN_FILE: token_file}
        if not env.get(COMPUTE_VARIABLE) and (address := _cluster_address()):
            env = {**env, **ray_client_env(os.environ), COMPUTE_VARIABLE: RAY_GCS_SCHEME + address}
        path.parent.mkdir(parents=True, exist_ok=True)
        self.exit_file = path.with_suffix(".exit")
        self.exit_file.unlink(missing_ok=True)
        with open(path, "ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - the worker's interpreter, our module
                [sys.executable, "-m", "isthmus.scheduler.supervise", str(self.exit_file)],
                env={**env, **interpreter_env()},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._lock = threading.Lock()

    def status(self) -> int | None:
        """The exit code once the run ended, else None."""
        if self.process.poll() is None:
            return None
        if self.exit_file.exists():
            return int(self.exit_file.read_text().strip() or "1")
        return 128 + signal.SIGKILL

    def stop(self, grace_s: float) -> int | None:
        with self._lock:
            if self.process.poll() is None:
                _killpg(self.process.pid, signal.SIGTERM)
                deadline = time.monotonic() + grace_s
                while self.process.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.05)
            _killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        return self.status()


def ray_client_env(environ: Mapping[str, str]) -> dict[str, str]:
    """What a process needs of this Ray worker's environment to join its cluster too:
    Ray's token authentication and TLS settings (``RAY_AUTH_*``, ``RAY_USE_TLS``,
    ``RAY_TLS_*``), nothing else. No new exposure: the component runs as this worker's
    user, who can read the same token file."""
    return {
        name: value
        for name, value in environ.items()
        if name.startswith(("RAY_AUTH_", "RAY_TLS_")) or name == "RAY_USE_TLS"
    }


def _cluster_address() -> str:
    """The GCS address of the Ray cluster this process is a worker of, or ""."""
    try:
        import ray

        return str(ray.get_runtime_context().gcs_address)
    except Exception:  # not inside Ray (or no Ray): the component runs without it
        return ""


def _write_private(path: Path, text: str) -> None:
    """``text`` in a new file only this user can read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def _killpg(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class RayRunner:
    name = "ray"

    def __init__(
        self,
        address: str,
        *,
        namespace: str = NAMESPACE,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        check_address(address, os.environ if environ is None else environ)
        self.address = address
        self.namespace = namespace
        self._ray: Any = None
        self._actor: Any = None
        self._lock = threading.Lock()

    def _connect(self) -> Any:
        with self._lock:
            if self._ray is None:
                try:
                    import ray
                except ImportError as exc:
                    raise RunnerError(
                        "the ray runner needs Ray: pip install 'isthmus[ray]'"
                    ) from exc
                try:
                    ray.init(
                        address=self.address,
                        namespace=self.namespace,
                        log_to_driver=False,
                        ignore_reinit_error=True,
                        configure_logging=False,
                    )
                except Exception as exc:  # Ray raises ConnectionError and others
                    raise RunnerError(
                        f"cannot reach the Ray cluster at {self.address}: {exc}"
                    ) from exc
                self._actor = ray.remote(TaskActor)
                self._ray = ray
            return self._ray

    def start(self, run: TaskRun) -> Handle:
        ray = self._connect()
        party = run.env.get("config.self_role", "")
        name = f"isthmus/{run.task_id}/{party}"
        options: dict[str, Any] = {
            "name": name,
            "lifetime": "detached",
            "get_if_exists": True,  # a retried start finds the first run
            "num_cpus": run.resources.cpu if run.resources.cpu > 0 else 0,
            "max_restarts": 0,
        }
        if run.resources.memory_gib > 0:
            options["memory"] = int(run.resources.memory_gib * 2**30)
        env = dict(run.env)
        token = env.pop(TOKEN_VARIABLE, "")
        token_file = run.log_path.with_suffix(".token")
        try:
            if token:
                _write_private(token_file, token)
            actor = self._actor.options(**options).remote(
                env, str(run.log_path), str(token_file) if token else ""
            )
            ray.get(actor.status.remote(), timeout=60)  # started (or failed to) for sure
        except Exception as exc:
            token_file.unlink(missing_ok=True)
            raise RunnerError(f"Ray could not start {name}: {exc}") from exc
        return {"actor": name}

    def status(self, handle: Handle) -> Outcome:
        ray = self._connect()
        try:
            actor = ray.get_actor(handle["actor"])
        except ValueError:
            return Outcome(Status.FAILED, None, f"the Ray actor {handle['actor']} is gone")
        try:
            code = ray.get(actor.status.remote(), timeout=30)
        except Exception as exc:
            if type(exc).__name__ in ("RayActorError", "ActorDiedError"):
                return Outcome(Status.FAILED, None, f"the Ray actor {handle['actor']} died: {exc}")
            raise RunnerError(f"Ray: no status for {handle['actor']}: {exc}") from exc
        if code is None:
            return Outcome(Status.RUNNING)
        return ended(code)

    def release(self, handle: Handle) -> None:
        """The run's end is recorded: free its actor."""
        ray = self._connect()
        with contextlib.suppress(ValueError):  # gone already
            ray.kill(ray.get_actor(handle["actor"]))

    def stop(self, handle: Handle, grace_s: float = 5.0) -> None:
        ray = self._connect()
        try:
            actor = ray.get_actor(handle["actor"])
        except ValueError:
            return
        ray.get(actor.stop.remote(grace_s), timeout=grace_s + 30)
