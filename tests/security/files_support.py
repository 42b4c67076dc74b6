"""Helpers of the attack tests on sources, ids, file modes and bodies: raw calls to a
real node's admin API and signed raw calls to its interconn API, for bodies the
ordinary clients would never send (deep, huge, not a dict)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from isthmus.node.home import read_admin_token, read_private_key
from isthmus.peer.client import PeerClient
from isthmus.peer.signing import NodeIdentity
from isthmus.testing import ProcessNode


def admin_raw(
    node: ProcessNode, method: str, path: str, content: bytes = b"", **params: str
) -> httpx.Response:
    """One admin API call with the root token and ``content`` as the JSON body."""
    token = read_admin_token(node.config)
    with httpx.Client(base_url=node.config.admin_url, timeout=60) as client:
        return client.request(
            method,
            path,
            content=content,
            params=params or None,
            headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
        )


def signed_raw(node: ProcessNode, target: ProcessNode, path: str, content: bytes) -> httpx.Response:
    """One east-west POST of ``content`` (JSON), signed as ``node``: a contracted partner
    sending what it likes."""
    config = node.config
    identity = NodeIdentity(config.node.node_id, config.node.inst_id, read_private_key(config))

    async def call() -> httpx.Response:
        client = PeerClient(identity, timeout_s=60)
        try:
            return await client._send(
                "POST", target.address, path, target_node_id=target.node_id, content=content,
                params=None, signed=True, trace_id=None,
                headers={"content-type": "application/json"},
            )  # fmt: skip
        finally:
            await client.aclose()

    return asyncio.run(call())


def audit_actions(node: ProcessNode, subject: str | None = None) -> list[str]:
    """The node's audit actions (about ``subject`` only, if given), oldest first."""
    rows: list[dict[str, Any]] = node.admin.get("/audit", limit=1000)
    return [r["action"] for r in rows if subject is None or r["subject"] == subject]


def healthy(node: ProcessNode) -> bool:
    """The node answers its probes and its store."""
    return bool(node.admin.get("/node")["node_id"]) and bool(
        httpx.get(f"{node.config.admin_url}/readyz", timeout=10).status_code == 200
    )
