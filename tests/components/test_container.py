"""The container's life after a failure: a component that refuses its partner's input
exits at once with that error, and its FIN tells the partner, which stops waiting. Both
parties here would otherwise wait out a ten-minute receive timeout."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from isthmus.components.errors import AlgorithmError
from isthmus.link import DirectBackend, LinkContext
from isthmus.testing import free_port
from isthmus.wire.errors import LinkError
from isthmus.wire.proto import ecdh_psi_pb2
from tests.support.components import start_psi_party

pytestmark = pytest.mark.multinode
RECV_TIMEOUT_S = "600"


def _low_order_batch() -> bytes:
    """Enc batch 0 holding one X25519 point of low order (all zeros): refused."""
    return bytes(
        ecdh_psi_pb2.EcdhPsiCipherBatch(
            type="enc", batch_index=0, count=1, ciphertext=bytes(32), is_last_batch=False
        ).SerializeToString()
    )


async def _hostile_partner(addresses: list[str]) -> None:
    """Rank 1: sends the refused batch, then reads until the component's FIN ends the
    link (its own enc batches come first; a second of quiet after the FIN), then closes
    its side while the component still waits for that FIN."""
    link = LinkContext(
        1, 2, DirectBackend(1, addresses), recv_timeout_s=float(RECV_TIMEOUT_S), fin_grace_s=1.0
    )
    await link.start(connect_timeout_s=60)
    await link.send(0, _low_order_batch())
    with pytest.raises(LinkError, match="rank 0 ended the link"):
        while True:
            await link.recv(0)
    await link.close(timeout_s=60)


def test_a_refusing_component_exits_at_once_and_its_partner_learns_it(tmp_path: Path) -> None:
    addresses = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    storage = tmp_path / "party0"
    (storage / "in").mkdir(parents=True)
    (storage / "in" / "data").write_text("id\na\nb\n")
    component = start_psi_party(
        storage,
        "guest.0",
        {"guest.0": "NODE_A", "host.0": "NODE_B"},
        ("session_job-refuse", "token"),
        {
            "runtime.component.parameter.link_addresses": ",".join(addresses),
            "runtime.component.parameter.recv_timeout_s": RECV_TIMEOUT_S,
        },
    )
    try:
        asyncio.run(asyncio.wait_for(_hostile_partner(addresses), 120))
        log = component.communicate(timeout=120)[0]
    finally:
        if component.poll() is None:
            component.kill()
            component.wait()
    assert component.returncode == AlgorithmError.exit_code, log[-3000:]
    assert "low-order" in log
    assert "LinkTimeout" not in log and "no FIN" not in log
