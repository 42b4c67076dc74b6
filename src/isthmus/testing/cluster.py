"""Real node processes on 127.0.0.1.

Every node is its own ``python -m isthmus node start`` process with its own home and ports,
so a multi-node test crosses real sockets and real process boundaries. What a cluster
does at once, it does in parallel: nodes started together (``start(n)``, ``together()``)
are all launched before any is waited for, and closing signals every node before waiting
for any, because a node's start-up (imports, migrations) and shutdown are mostly one
process's CPU and the machine has more than one core. Each node is still individually
ready (``/readyz``) before ``start`` returns or ``together()`` ends, so what a test sees
is the same as starting them one by one.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
        self.launch()
        self.wait_ready(timeout_s=timeout_s)

    def launch(self) -> None:
        """Start the process and return at once (``wait_ready`` waits for it)."""
        env = {**os.environ, **self.env}
        with open_log_file(self.log_path) as log:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
                [sys.executable, "-m", "isthmus", "node", "start", "--home", str(self.home)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )

    def wait_ready(self, *, timeout_s: float = 30.0) -> None:
        """Wait until the launched node answers ``/readyz``; RuntimeError (with its log's
        tail) if it exits or does not get there in time."""
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
        if not self.signal_stop():
            return None if self.process is None else self.process.returncode
        return self.wait_stopped(timeout_s=timeout_s)

    def signal_stop(self) -> bool:
        """SIGTERM a running node without waiting (``wait_stopped`` waits); False when
        there was no running process to signal."""
        self._close_admin()  # an idle keep-alive connection would delay graceful shutdown
        if self.process is None or self.process.poll() is not None:
            return False
        self.process.send_signal(signal.SIGTERM)
        return True

    def wait_stopped(self, *, timeout_s: float = 15.0) -> int | None:
        """Wait for a signalled node to exit; SIGKILL if it does not go in time."""
        if self.process is None:
            return None
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

    def reset(self, home: Path) -> None:
        """Point this stopped node at a re-made home (its ports may have changed)."""
        self.home = home
        self.process = None
        self._config = None
        self._close_admin()

    def _close_admin(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None


#: A node being started, with what its home was made from (to remake it for a retry).
_Planned = tuple[ProcessNode, str, dict[str, Any]]


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
        self._launched: list[_Planned] | None = None

    def add_node(
        self,
        node_id: str | None = None,
        *,
        auth_type: str = "ED25519",
        start: bool = True,
        **init_options: Any,
    ) -> ProcessNode:
        """A node in ``base_dir/node_id``, started (ready) unless ``start`` is False.
        Inside ``together()`` it is only launched: the block's end waits for it."""
        node_id = node_id or f"NODE_{chr(ord('A') + len(self.nodes))}"
        node = ProcessNode(self._init_home(node_id, auth_type, init_options), env=self.env)
        self.nodes.append(node)
        if start:
            if self._launched is None:
                self._start_all([(node, auth_type, init_options)])
            else:
                node.launch()
                self._launched.append((node, auth_type, init_options))
        return node

    @contextmanager
    def together(self) -> Iterator[None]:
        """Nodes added in this block start in parallel: each is launched when added, and
        the block ends once every one of them is ready (same homes, ports and checks as
        one by one). Use a node only after the block."""
        if self._launched is not None:
            raise RuntimeError("together() does not nest")
        self._launched = []
        try:
            yield
            launched = self._launched
        finally:
            self._launched = None
        self._start_all(launched, launched_already=True)

    def _init_home(self, node_id: str, auth_type: str, init_options: dict[str, Any]) -> Path:
        return init_home(
            self.base_dir / node_id,
            node_id=node_id,
            inst_id=f"INST_{node_id}",
            auth_type=auth_type,
            interconn_port=free_port(),
            admin_port=free_port(),
            transport_port=free_port(),
            **init_options,
        )

    def _start_all(self, planned: list[_Planned], *, launched_already: bool = False) -> None:
        """Launch every node, then wait for each. A port handed out by free_port() can be
        taken by someone else's ephemeral connection before the node binds it: a node that
        fails is retried once in a fresh home with new ports (its partners keep theirs).
        Fresh means emptied first: a start cut short may have left a half-migrated
        database, which a second start over it would trip on. On failure every node of
        ``planned`` is stopped (the cluster's ``close`` would stop them too)."""
        try:
            if not launched_already:
                for node, _, _ in planned:
                    node.launch()
            failed = []
            for entry in planned:
                try:
                    entry[0].wait_ready()
                except RuntimeError:
                    entry[0].close()
                    failed.append(entry)
            for node, auth_type, init_options in failed:
                shutil.rmtree(node.home)
                node.reset(self._init_home(node.home.name, auth_type, init_options))
                node.start()
        except BaseException:
            for node, _, _ in planned:
                node.close()
            raise

    def start(self, count: int) -> list[ProcessNode]:
        """``count`` more nodes, NODE_A, NODE_B, …, started in parallel."""
        types = self.auth_types or ["ED25519"] * count
        with self.together():
            started = [self.add_node(auth_type=types[i % len(types)]) for i in range(count)]
        return started

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
        """Signal every node, then wait for each (shutdowns overlap)."""
        signalled = [node for node in self.nodes if node.signal_stop()]
        for node in signalled:
            node.wait_stopped()
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
