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
import contextlib
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path

from isthmus.conformance.identity import ephemeral
from isthmus.conformance.model import Outcome, Part, Target, TransportSession
from isthmus.conformance.report import Report
from isthmus.conformance.runner import run
from isthmus.node.home import read_admin_token
from isthmus.node.logs import open_log_file
from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.testing.jobs import as_role
from isthmus.wire import paths
from tests.conformance.conftest import describe

ROOT = Path(__file__).resolve().parents[2]
#: Every part the node-level checks cover (the PSI link has its own tests).
PARTS = frozenset(Part) - {Part.PSI_LINK}
SESSIONS = 16


def launch_as(node: ProcessNode, module: str) -> None:
    """Start ``node`` as ``python -m <module> node start --home …`` and wait for it."""

    def launch() -> None:
        env = {**os.environ, **node.env}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        with open_log_file(node.log_path) as log:
            node.process = subprocess.Popen(
                [sys.executable, "-m", module, "node", "start", "--home", str(node.home)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )

    node.launch = launch  # type: ignore[method-assign]
    node.start()


def start_target(cluster: ProcessCluster, module: str) -> ProcessNode:
    """A node started through the wrapper ``module`` (a broken target)."""
    node = cluster.add_node("NODE_T", start=False)
    launch_as(node, module)
    return node


def open_sessions(node: ProcessNode, kit_node_id: str, count: int) -> tuple[TransportSession, ...]:
    """``count`` transport sessions on ``node`` whose party is the kit (the operator's part:
    a session's token otherwise reaches only a job's containers, §2.7)."""
    opened = []
    for _ in range(count):
        session = TransportSession(
            session_id=f"cfk-session-{secrets.token_hex(6)}", token=secrets.token_urlsafe(16)
        )
        node.admin.post(
            paths.ADMIN_TRANSPORT_SESSIONS,
            {"session_id": session.session_id, "token": session.token, "parties": [kit_node_id]},
        )
        opened.append(session)
    return tuple(opened)


def publish(node: ProcessNode, namespace: str) -> str:
    """A small CSV published as ``<namespace>#rows.csv`` (once per node)."""
    folder = node.home / "data" / namespace
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rows.csv").write_text("id,x\n" + "".join(f"{i},{i * 3}\n" for i in range(8)))
    dataset = f"{namespace}#rows.csv"
    if not any(d["dataset_id"] == dataset for d in node.admin.get("/datasets")):
        node.admin.post(
            "/datasets",
            {"namespace": namespace, "name": "rows.csv", "source": "csv",
             "location": str(folder / "rows.csv")},
        )  # fmt: skip
    return dataset


def offer_dataset(node: ProcessNode, kit_node_id: str) -> str:
    """The operator publishes a small CSV and grants the kit's jobs a standing permit for
    it (requested with the root token, approved by an approver, as ``testing.jobs``);
    and publishes a second one, listed after it, that the kit must ask for (the
    approval path: ``mgmt.approval.approved``)."""
    dataset = publish(node, "cfk")
    publish(node, "cfkgated")
    grant = node.admin.post(
        "/audits/grant",
        {"peer_node_id": kit_node_id, "resource_type": "DATASET", "resource_id": dataset},
    )
    as_role(node, "approver").post(f"/audits/{kit_node_id}/{grant['audit_id']}/approve", {})
    return dataset


def target_of(node: ProcessNode, kit_node_id: str, sessions: int = SESSIONS) -> Target:
    """The node as the kit sees it (conftest's ``describe``), claiming the node-level
    parts, with sessions for the kit and its secure operator service's address."""
    config = node.config
    return describe(
        node,
        claims=PARTS,
        transport_sessions=open_sessions(node, kit_node_id, sessions),
        secure_operate_address=config.admin_url,
        secure_operate_token=read_admin_token(config),
    )


def approver(node: ProcessNode, kit_node_id: str) -> Callable[[str], Awaitable[None]]:
    """The operator's part once the kit applied: approve its contract, then let its jobs
    read a published dataset (a standing grant needs the approved contract)."""

    async def approve(contract_id: str) -> None:
        await asyncio.to_thread(node.admin.post, f"/contracts/{contract_id}/approve", {})
        await asyncio.to_thread(offer_dataset, node, kit_node_id)

    return approve


def run_kit(node: ProcessNode, patterns: Sequence[str] = (), sessions: int = SESSIONS) -> Report:
    """The kit's checks matching ``patterns`` (all when empty) against ``node``, its
    operator approving what the kit marked for approval."""
    kit = ephemeral()
    target = target_of(node, kit.node_id, sessions)
    with operator_approves(node):
        return asyncio.run(run(target, kit, patterns=patterns, approve=approver(node, kit.node_id)))


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


def approve_marked(node: ProcessNode) -> int:
    """The operator's part during a run: approve what the kit marked for approval
    (contracts of a node id, audits of an id holding ``-approve-``), nothing else."""
    done = 0
    for contract in node.admin.get(paths.ADMIN_CONTRACTS, status="APPLIED"):
        if MARK in contract["peer_node_id"] and contract["direction"] == "INBOUND":
            node.admin.post(f"{paths.ADMIN_CONTRACTS}/{contract['contract_id']}/approve", {})
            done += 1
    for audit in node.admin.get(paths.ADMIN_APPROVALS, direction="INBOUND", status="APPLIED"):
        if MARK in audit["audit_id"]:
            as_role(node, "approver").post(
                f"{paths.ADMIN_APPROVALS}/{audit['peer_node_id']}/{audit['audit_id']}/approve", {}
            )
            done += 1
    return done


MARK = "-approve-"


@contextlib.contextmanager
def operator_approves(node: ProcessNode, every_s: float = 0.2) -> Iterator[None]:
    """A background thread approving what the kit marked (``approve_marked``) while the
    block runs, as the contract set-up's approver does for the run's contract."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            with contextlib.suppress(Exception):  # a node busy or stopping: next round
                approve_marked(node)

    thread = threading.Thread(target=loop, name="conformance-operator", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
