"""Real node processes on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from isthmus.node.admin_client import AdminClient
from isthmus.node.config import NodeConfig, load_config
from isthmus.node.home import init_home
from isthmus.node.logs import open_log_file
from isthmus.wire import paths
from isthmus.wire.errors import IsthmusError


def free_port() -> int:
    """A port the kernel just handed out and released; good enough on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout_s: float = 20.0,
    interval_s: float = 0.05,
    what: str = "condition",
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")


class ProcessNode:
    """One node process and its home."""

    def __init__(self, home: Path, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self._admin: AdminClient | None = None
        self._config: NodeConfig | None = None

    @property
    def config(self) -> NodeConfig:
        """The node's configuration as its process sees it (file plus this harness's
        environment), read once: a running node does not re-read it either."""
        if self._config is None:
            previous = {k: os.environ.get(k) for k in self.env}
            os.environ.update(self.env)
            try:
                self._config = load_config(self.home)
            finally:
                for key, value in previous.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
        return self._config

    @property
    def node_id(self) -> str:
        return self.config.node.node_id

    @property
    def address(self) -> str:
        return self.config.public_address

    @property
    def admin(self) -> AdminClient:
        if self._admin is None:
            self._admin = AdminClient.for_home(self.home)
        return self._admin

    @property
    def log_path(self) -> Path:
        return self.home / "logs" / "node.log"

    def start(self, *, timeout_s: float = 30.0) -> None:
        env = {**os.environ, **self.env}
        with open_log_file(self.log_path) as log:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
                [sys.executable, "-m", "isthmus", "node", "start", "--home", str(self.home)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        try:
            wait_until(self._ready, timeout_s=timeout_s, what=f"node {self.home.name} ready")
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}; log tail:\n{self.log_tail()}") from exc

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"node {self.home.name} exited with {self.process.returncode}:\n{self.log_tail()}"
            )
        try:
            self.admin.request("GET", paths.READYZ)
        except IsthmusError:
            return False
        return True

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def stop(self, *, timeout_s: float = 15.0) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not go."""
        self._close_admin()  # an idle keep-alive connection would delay graceful shutdown
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=timeout_s)

    def kill(self) -> None:
        """SIGKILL: no shutdown path runs, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=15)

    def close(self) -> None:
        self.stop()

    def _close_admin(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None


class ProcessCluster:
    """N nodes in temporary homes. Use as a context manager; everything is torn down."""

    def __init__(
        self,
        base_dir: Path | None = None,
        *,
        auth_types: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if base_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="isthmus-cluster-")
            base_dir = Path(self._tmp.name)
        self.base_dir = base_dir
        self.auth_types = auth_types
        self.env = env
        self.nodes: list[ProcessNode] = []

    def add_node(
        self,
        node_id: str | None = None,
        *,
        auth_type: str = "ED25519",
        start: bool = True,
        **init_options: Any,
    ) -> ProcessNode:
        index = len(self.nodes)
        node_id = node_id or f"NODE_{chr(ord('A') + index)}"
        for attempt in range(2):
            home = init_home(
                self.base_dir / node_id,
                node_id=node_id,
                inst_id=f"INST_{node_id}",
                auth_type=auth_type,
                interconn_port=free_port(),
                admin_port=free_port(),
                transport_port=free_port(),
                force=attempt > 0,
                **init_options,
            )
            node = ProcessNode(home, env=self.env)
            if not start:
                break
            try:
                node.start()
                break
            except RuntimeError:
                # A port handed out by free_port() can be taken by someone else's
                # ephemeral connection before the node binds it: retry once with new ones.
                node.close()
                if attempt:
                    raise
        self.nodes.append(node)
        return node

    def start(self, count: int) -> list[ProcessNode]:
        types = self.auth_types or ["ED25519"] * count
        return [self.add_node(auth_type=types[i % len(types)]) for i in range(count)]

    def connect(
        self, applicant: ProcessNode, approver: ProcessNode, *, timeout_s: float = 20.0
    ) -> str:
        """Apply from ``applicant``, approve at ``approver``, wait until both say APPROVED."""
        view = applicant.admin.post("/contracts/apply", {"address": approver.address})
        contract_id = str(view["contract_id"])
        approver.admin.post(f"/contracts/{contract_id}/approve", {})

        def both_approved() -> bool:
            return all(
                node.admin.get(f"/contracts/{contract_id}")["status"] == "APPROVED"
                for node in (applicant, approver)
            )

        wait_until(both_approved, timeout_s=timeout_s, what=f"contract {contract_id} approved")
        return contract_id

    def connect_all(self) -> None:
        for i, left in enumerate(self.nodes):
            for right in self.nodes[i + 1 :]:
                self.connect(left, right)

    def close(self) -> None:
        for node in self.nodes:
            node.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> ProcessCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
