"""An Isthmus node as a conformance target, and the kit run against it.

One real node process per test module (module-scoped fixtures in the test files). The
kit is an ephemeral identity; the fixture plays the target's operator: it approves the
kit's contract through the admin API and opens the transport sessions the transport
checks need (a session's token is otherwise only given to a job's containers, §2.7).
``launch_as`` starts the node through a wrapper module instead of ``python -m isthmus``,
which is how ``broken/`` targets carry their one defect without a flag in the product.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from isthmus.conformance.identity import ephemeral
from isthmus.conformance.model import Outcome, Part, Target, TransportSession
from isthmus.conformance.report import Report
from isthmus.conformance.runner import run
from isthmus.node.home import read_admin_token, read_private_key
from isthmus.node.logs import open_log_file
from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.wire import paths

ROOT = Path(__file__).resolve().parents[2]
#: Every part the node-level checks cover (the PSI link has its own tests).
PARTS = frozenset(Part) - {Part.PSI_LINK}
SESSIONS = 12


def launch_as(node: ProcessNode, module: str) -> None:
    """Start ``node`` as ``python -m <module> node start --home …`` and wait for it."""

    def launch() -> None:
        env = {**os.environ, **node.env}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        with open_log_file(node.log_path) as log:
            node.process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
                [sys.executable, "-m", module, "node", "start", "--home", str(node.home)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )

    node.launch = launch  # type: ignore[method-assign]
    node.start()


def start_target(cluster: ProcessCluster, module: str | None = None) -> ProcessNode:
    node = cluster.add_node("NODE_T", start=module is None)
    if module is not None:
        launch_as(node, module)
    return node


def target_of(node: ProcessNode, kit_node_id: str, sessions: int) -> Target:
    """The node as the kit sees it, with ``sessions`` transport sessions opened for the
    kit (the operator's part)."""
    config = node.config
    opened = []
    for _ in range(sessions):
        session = TransportSession(
            session_id=f"cfk-session-{secrets.token_hex(6)}", token=secrets.token_urlsafe(16)
        )
        node.admin.post(
            paths.ADMIN_TRANSPORT_SESSIONS,
            {"session_id": session.session_id, "token": session.token, "parties": [kit_node_id]},
        )
        opened.append(session)
    return Target(
        node_id=node.node_id,
        address=node.address,
        public_key_pem=read_private_key(config).public_key().to_pem(),
        claims=PARTS,
        transport_address=config.transport_address,
        transport_sessions=tuple(opened),
        secure_operate_address=config.admin_url,
        secure_operate_token=read_admin_token(config),
        approval_timeout_s=20.0,
    )


def run_kit(node: ProcessNode, patterns: Sequence[str] = (), sessions: int = SESSIONS) -> Report:
    """The kit's checks matching ``patterns`` (all when empty) against ``node``."""
    kit = ephemeral()
    target = target_of(node, kit.node_id, sessions)

    async def approve(contract_id: str) -> None:
        await asyncio.to_thread(node.admin.post, f"/contracts/{contract_id}/approve", {})

    return asyncio.run(run(target, kit, patterns=patterns, approve=approve))


def outcomes(report: Report) -> dict[str, Outcome]:
    return {r.check_id: r.outcome for r in report.results}


def explain(report: Report, wanted: Sequence[Outcome] = (Outcome.FAIL, Outcome.ERROR)) -> str:
    """The results with an outcome in ``wanted``, with their reasons (assert messages)."""
    lines = [
        f"{r.check_id}: {r.outcome.value}: {r.reason}"
        for r in report.results
        if r.outcome in wanted
    ]
    return "\n".join(lines) or "(none)"
