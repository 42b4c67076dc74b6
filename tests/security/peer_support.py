"""Helpers for the attack tests of the peer link, contracts and node hardening.

Everything here talks to real node processes: raw sockets for slow clients, httpx with
hand-made headers for forged requests, the auditor's view of the audit log to show that
an attack left nothing behind but its refusal.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx

from isthmus.node.admin_client import AdminClient
from isthmus.testing import ProcessNode
from isthmus.testing.jobs import as_role

_AUDITORS: dict[str, AdminClient] = {}


def audit_events(node: ProcessNode, action: str | None = None) -> list[dict[str, Any]]:
    """Every audit event of ``node`` (optionally of one action), read as an auditor."""
    auditor = as_role(node, "auditor")
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = auditor.get("/audit", after_seq=after, limit=1000, action=action)
        if not page:
            return events
        events.extend(page)
        after = page[-1]["seq"]


def details(event: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(event["details"])
    return parsed


def root_admin(node: ProcessNode, **headers: str) -> httpx.Client:
    """The node's root token with whatever extra headers the caller wants to claim."""
    token = (node.home / "admin.token").read_text().strip()
    return httpx.Client(
        base_url=node.config.admin_url + "/admin/v1",
        headers={"authorization": f"Bearer {token}", **headers},
        timeout=30,
    )


def host_port(address: str) -> tuple[str, int]:
    """``http://127.0.0.1:8101`` → ("127.0.0.1", 8101)."""
    netloc = address.split("://", 1)[-1].split("/", 1)[0]
    host, port = netloc.rsplit(":", 1)
    return host, int(port)


def closed_by_server(sock: socket.socket, *, limit_s: float) -> bool:
    """Whether the server closes ``sock`` (EOF or reset) within ``limit_s``; reads and
    drops whatever it sends first (a 408 answer, say)."""
    sock.settimeout(limit_s)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
