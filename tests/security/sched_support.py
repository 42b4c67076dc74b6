"""What the attack tests on the scheduling plane share: two real nodes under an approved
contract (the attacker, a contracted partner; the victim), the victim's datasets, calls
signed as the partner, and the checks that nothing happened on the victim."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.testing.jobs import as_role, signed_call
from isthmus.wire.errors import PeerError

Pair = tuple[ProcessNode, ProcessNode]  # attacker, victim


@contextmanager
def pair(env: dict[str, str] | None = None) -> Iterator[Pair]:
    with ProcessCluster(env=env) as cluster:
        attacker, victim = cluster.start(2)
        cluster.connect_all()
        yield attacker, victim


def register_dataset(node: ProcessNode, namespace: str, name: str, rows: list[str]) -> str:
    """A CSV under the node's data root, registered as ``namespace#name`` (not
    offered to anyone)."""
    source = node.home / "data" / "sources" / f"{namespace}-{name}.csv"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("\n".join(["id,secret", *rows]) + "\n")
    node.admin.post(
        "/datasets",
        {"namespace": namespace, "name": name, "source": "csv", "location": str(source)},
    )
    return f"{namespace}#{name}"


def select_job(
    job_id: str, initiator: str, roles: dict[str, list[str]], params: dict[str, Any]
) -> dict[str, Any]:
    """A one-task job: ``column_select`` of ``id`` on the parties' datasets
    (``params``: role -> the party's task parameters)."""
    return {
        "job_id": job_id,
        "flow_id": "",
        "dag": {
            "version": "2.0",
            "components": [
                {"name": "select_0", "componentName": "column_select", "provider": "isthmus",
                 "version": "0.1.0", "input": [], "output": [{"key": "data", "type": "dataset"}]},
            ],
        },
        "config": {
            "version": "2.0",
            "initiator": {"role": "guest", "node_id": initiator},
            "role": roles,
            "job_params": {"common": {"sync_type": "poll"}},
            "task_params": {
                "common": {"select_0": {"columns": "id,secret"}},
                **{role: {"0": {"select_0": p}} for role, p in params.items()},
            },
        },
    }  # fmt: skip


def as_partner(
    attacker: ProcessNode,
    victim: ProcessNode,
    path: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A signed east-west call from ``attacker``: ``{"ok": data}``, or the victim's
    envelope ``{"code", "msg", "http_status"}`` when it refused."""
    try:
        return {"ok": signed_call(attacker, victim, path, body, headers)}
    except PeerError as exc:
        details = exc.details or {}
        return {
            "code": details.get("peer_code"),
            "msg": str(details.get("peer_msg") or exc.message),
            "http_status": details.get("http_status"),
        }


def audit_events(node: ProcessNode) -> list[dict[str, Any]]:
    return list(as_role(node, "auditor").get("/audit", limit=1000))


def events_about(node: ProcessNode, job_id: str) -> list[str]:
    """The actions of every audit event that names ``job_id``."""
    return [e["action"] for e in audit_events(node) if job_id in str(e)]


def job_processes(job_id: str) -> list[int]:
    """Live processes whose environment belongs to ``job_id`` (a task of it)."""
    marker = f"config.session_id=session_{job_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def outputs_of(node: ProcessNode, job_id: str) -> list[Path]:
    """Every file or directory of the node's storage that belongs to ``job_id``."""
    data = node.home / "data"
    if not data.exists():
        return []
    return [p for p in data.rglob("*") if job_id in str(p.relative_to(data))]


def jobs_on(node: ProcessNode) -> set[str]:
    return {j["job_id"] for j in node.admin.get("/jobs")}
