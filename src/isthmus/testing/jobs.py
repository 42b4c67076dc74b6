"""Jobs on a test cluster: submit on the initiator, wait for the scheduler's verdict,
and find the processes a job left behind (there must be none)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from isthmus.node.admin_client import AdminClient
from isthmus.testing.cluster import ProcessNode, wait_until
from isthmus.wire import paths
from isthmus.wire.status import Status

#: A job's statuses once it ended, as the node shows them to its operator.
ENDED = frozenset({Status.SUCCESS, Status.FAILED, Status.STOPPED, Status.REJECTED})


def submit(node: ProcessNode, document: dict[str, Any], scheduler: str | None = None) -> str:
    """North-south ``create_all`` on the initiator; returns the job id."""
    body = dict(document)
    if scheduler:
        body["scheduler"] = scheduler
    return str(node.admin.post(paths.PLATFORM_JOB_CREATE_ALL, body)["job_id"])


def status(node: ProcessNode, job_id: str) -> dict[str, Any]:
    return dict(node.admin.get(paths.PLATFORM_JOB_STATUS_ALL, job_id=job_id))


def why(node: ProcessNode, job_id: str) -> dict[str, Any]:
    return dict(node.admin.get(paths.PLATFORM_JOB_WHY, job_id=job_id))


def wait_finished(node: ProcessNode, job_id: str, *, timeout_s: float = 120.0) -> dict[str, Any]:
    """Wait until the job ended (SUCCESS, FAILED, STOPPED or REJECTED as the node shows
    it); returns the failure summary (``why``), whose ``result`` says which."""
    seen: dict[str, Any] = {}

    def done() -> bool:
        try:
            seen.update(status(node, job_id))
        except Exception:  # the scheduler may be restarting
            return False
        return seen.get("job_status") in ENDED

    wait_until(done, timeout_s=timeout_s, interval_s=0.1, what=f"job {job_id} to finish")
    return why(node, job_id)


def wait_task(
    node: ProcessNode, job_id: str, task_name: str, wanted: str, *, timeout_s: float = 60.0
) -> None:
    wait_until(
        lambda: status(node, job_id).get("status", {}).get(task_name) == wanted,
        timeout_s=timeout_s,
        interval_s=0.05,
        what=f"task {task_name} of {job_id} to be {wanted}",
    )


def task_processes(task_id: str) -> list[int]:
    """Pids of live processes whose environment names ``task_id`` (Linux)."""
    marker = f"config.task_id={task_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in environ.split(b"\0") and state != "Z" and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def signed_call(
    node: ProcessNode,
    target: ProcessNode,
    path: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> Any:
    """One east-west call signed as ``node`` would sign it (for tests that act as a
    partner node in ways the node itself would not, e.g. presenting a foreign permit)."""
    import asyncio

    from isthmus.node.home import read_private_key
    from isthmus.peer.client import PeerClient
    from isthmus.peer.signing import NodeIdentity

    config = node.config
    identity = NodeIdentity(config.node.node_id, config.node.inst_id, read_private_key(config))

    async def call() -> Any:
        client = PeerClient(identity)
        try:
            return await client.call(
                "POST", target.address, path, target_node_id=target.node_id, body=body,
                extra_headers=headers,
            )  # fmt: skip
        finally:
            await client.aclose()

    return asyncio.run(call())


def as_role(node: ProcessNode, role: str) -> AdminClient:
    """An admin client holding a token of ``role`` only (created with the node's root
    token the first time, named ``test-<role>``)."""
    key = (str(node.home), role)
    if key not in _ROLE_CLIENTS:
        created = node.admin.post("/tokens", {"name": f"test-{role}", "roles": [role]})
        _ROLE_CLIENTS[key] = AdminClient(node.config.admin_url, created["token"])
    return _ROLE_CLIENTS[key]


_ROLE_CLIENTS: dict[tuple[str, str], AdminClient] = {}


def offer_dataset(
    owner: ProcessNode, partner: ProcessNode, namespace: str, name: str, **limits: int
) -> str:
    """``owner`` registers ``<storage>/<namespace>/<name>`` (a CSV) as a dataset, if it is
    not yet, and grants ``partner``'s jobs a standing permit for it: requested with the
    root token, approved by an approver (two people, as separation of duties wants).
    Returns the grant's audit id."""
    dataset = f"{namespace}#{name}"
    if not any(d["dataset_id"] == dataset for d in owner.admin.get("/datasets")):
        owner.admin.post(
            "/datasets",
            {"namespace": namespace, "name": name, "source": "csv",
             "location": str(owner.home / "data" / namespace / name)},
        )  # fmt: skip
    requested = owner.admin.post(
        "/audits/grant",
        {"peer_node_id": partner.node_id, "resource_type": "DATASET", "resource_id": dataset,
         **limits},
    )  # fmt: skip
    audit_id = str(requested["audit_id"])
    as_role(owner, "approver").post(f"/audits/{partner.node_id}/{audit_id}/approve", {})
    return audit_id
