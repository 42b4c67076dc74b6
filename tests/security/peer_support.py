"""Helpers for the attack tests of the peer link, contracts and node hardening.

Everything here talks to real node processes: raw sockets for slow clients, httpx with
hand-made headers for forged requests, the auditor's view of the audit log to show that
an attack left nothing behind but its refusal.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
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


class CannedPartner:
    """A "partner" on loopback that answers every path with canned bytes (garbage,
    half-envelopes...) and records what it was sent. Not a node: its whole point is to
    answer what no node would."""

    def __init__(
        self,
        replies: dict[str, bytes],
        default: bytes = b"{}",
        *,
        port: int = 0,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        import http.server
        import ssl
        import threading

        self.calls: list[tuple[str, str, bytes]] = []
        self.connections = 0
        calls, canned, partner = self.calls, replies, self

        class Handler(http.server.BaseHTTPRequestHandler):
            def setup(self) -> None:
                partner.connections += 1
                super().setup()

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                calls.append((self.command, self.path, body))
                reply = canned.get(path, default)
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = _answer

            def log_message(self, *_: object) -> None:
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            scheme = "https"
        self.address = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def add_approved_contract(
    node: ProcessNode, peer: str, address: str, *, tls_fingerprint: str | None = None
) -> str:
    """What an operator records for a partner outside the contract exchange (as for a
    FATE-Flow node): an APPROVED contract with its id, address and a key."""
    from isthmus.crypto import generate_private_key
    from isthmus.store import Store
    from isthmus.wire.node import ContractStatus

    contract_id = f"contract-{peer}"
    store = Store(node.config.store_url)
    try:
        with store.session() as s:
            store.contracts.add(
                s,
                contract_id=contract_id,
                peer_node_id=peer,
                direction="OUTBOUND",
                status=ContractStatus.APPROVED,
                peer_address=address,
                peer_system="other",
                peer_inst_id=peer,
                peer_auth_type="ED25519",
                peer_auth_credential=generate_private_key("ED25519").public_key().to_pem(),
                peer_tls_fingerprint=tls_fingerprint,
            )
    finally:
        store.dispose()
    return contract_id
