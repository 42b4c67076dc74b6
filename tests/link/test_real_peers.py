"""The link library against real processes: through two Isthmus nodes (blackbox) and
against SecretFlow's own link (direct)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from isthmus.link import BlackboxBackend, DirectBackend, LinkContext, keys
from isthmus.testing import ProcessCluster, free_port
from isthmus.wire.proto import link_pb2
from tests.support.secretflow import peer_python, psi_script, write_ids

pytestmark = [pytest.mark.anyio, pytest.mark.multinode]


async def test_blackbox_link_through_two_nodes() -> None:
    session = "session_job-link"
    with ProcessCluster() as cluster:
        a, b = cluster.start(2)
        cluster.connect(a, b)
        for node, other in ((a, b), (b, a)):
            node.admin.post(
                "/transport/sessions",
                {"session_id": session, "token": "tk", "parties": [other.node_id]},
            )
        contexts = []
        for rank, node in enumerate((a, b)):
            env = {
                "config.self_role": ["guest.0", "host.0"][rank],
                "config.node_id.guest.0": a.node_id,
                "config.node_id.host.0": b.node_id,
                "system.transport": node.config.transport_address,
                "config.session_id": session,
                "config.token": "tk",
            }
            backend, parsed_rank = BlackboxBackend.from_env(env)
            assert parsed_rank == rank
            contexts.append(
                LinkContext(rank, 2, backend, recv_timeout_s=30, max_chunk_bytes=64 * 1024)
            )
        big = os.urandom(300_000)

        async def party(ctx: LinkContext) -> object:
            await ctx.start(connect_timeout_s=30)
            try:
                if ctx.rank == 0:
                    await ctx.send(1, big)
                    return await ctx.all_gather(b"zero")
                received = await ctx.recv(0)
                assert received == big
                return await ctx.all_gather(b"one")
            finally:
                await ctx.close(timeout_s=30)

        results = await asyncio.gather(*(party(c) for c in contexts))
    assert results == [[b"zero", b"one"], [b"zero", b"one"]]


async def test_direct_link_connects_to_secretflow_and_sends_fin(tmp_path: Path) -> None:
    """The connect handshake and FIN with SecretFlow's link (the full PSI comes with the
    ECDH-PSI component). SecretFlow is rank 1; we are rank 0."""
    python = peer_python()
    write_ids(tmp_path / "b.csv", [f"id{i}" for i in range(100)])
    addresses = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    peer = subprocess.Popen(
        [
            str(python),
            str(psi_script()),
            "--rank",
            "1",
            "--link",
            "grpc",
            "--addrs",
            ",".join(addresses),
            "--input",
            str(tmp_path / "b.csv"),
            "--output",
            str(tmp_path / "out.csv"),
            "--timeout-s",
            "30",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ctx = LinkContext(0, 2, DirectBackend(0, addresses), recv_timeout_s=60)
        await ctx.start(connect_timeout_s=60)  # we send connect_0, SecretFlow connect_1
        first = await ctx.recv(1)  # SecretFlow's first batch: root:P2P-1:1->0
        assert first.startswith(b"\x0a\x03enc")  # EcdhPsiCipherBatch{type="enc", ...}
        fin = link_pb2.PushRequest(sender_rank=0, key=keys.FIN_KEY, value=b"0")
        await ctx.backend.send(1, fin, timeout_s=10)  # SecretFlow's server accepts it
        await ctx.backend.stop()
    finally:
        peer.kill()
        peer.communicate(timeout=30)
