"""Who may call a node's Beaver service: callers from ``beaver.allowed_networks``, and,
under mutual TLS, partners whose client certificate is pinned to an approved, unexpired
contract; everyone else is refused before the request is read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from isthmus.node.api.beaver import caller_gate
from isthmus.node.auth import pem_fingerprint
from isthmus.node.context import NodeContext
from isthmus.testing import InProcessCluster
from isthmus.testing.pki import TestPki
from isthmus.wire.clock import now_ms

pytestmark = pytest.mark.anyio


class Call:
    """The two things the gate reads of a gRPC call."""

    def __init__(self, peer: str, cert_pem: bytes | None = None) -> None:
        self._peer = peer
        self._pem = cert_pem

    def peer(self) -> str:
        return self._peer

    def auth_context(self) -> dict[str, Any]:
        return {"x509_pem_cert": [self._pem]} if self._pem else {}


def pin(ctx: NodeContext, fingerprint: str, *, status: str, expired_time: int | None) -> None:
    with ctx.store.session() as s:
        ctx.store.contracts.add(
            s,
            contract_id=f"C-{status}-{expired_time}",
            peer_node_id="NODE_P",
            direction="INBOUND",
            status=status,
            peer_tls_fingerprint=fingerprint,
            expired_time=expired_time,
        )
        s.commit()


async def test_the_gate_admits_listed_networks_and_pinned_partners_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ISTHMUS_BEAVER__ALLOWED_NETWORKS", '["127.0.0.0/8", "fd00::/8"]')
    pki = TestPki(tmp_path / "pki")
    partner_pem = pki.issue("partner").cert_file.read_bytes()
    stranger_pem = pki.issue("stranger").cert_file.read_bytes()
    async with InProcessCluster(tmp_path / "nodes") as cluster:
        node = await cluster.add_node("NODE_A")
        gate = caller_gate(node.ctx)
        assert await gate(Call("ipv4:127.0.0.9:4000")) is None
        assert await gate(Call("ipv6:[fd00::1]:4000")) is None
        assert "10.1.2.3" in (await gate(Call("ipv4:10.1.2.3:4000")) or "")
        assert await gate(Call("unix:/tmp/x")) is not None
        # a certificate alone is not enough: it must be pinned to an approved contract
        outside = "ipv4:10.1.2.3:4000"
        assert await gate(Call(outside, partner_pem)) is not None
        fingerprint = pem_fingerprint(partner_pem.decode())
        pin(node.ctx, fingerprint, status="APPROVED", expired_time=now_ms() - 1000)
        assert await gate(Call(outside, partner_pem)) is not None  # expired
        pin(node.ctx, fingerprint, status="APPROVED", expired_time=None)
        assert await gate(Call(outside, partner_pem)) is None
        assert await gate(Call(outside, stranger_pem)) is not None
