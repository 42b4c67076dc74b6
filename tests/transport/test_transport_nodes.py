"""Component → node A → east-west → node B → component, with real node processes.

The components here speak the SecretFlow (yacl) blackbox style: raw payload bodies, the
routing in ``x-ptp-*`` headers, replies parsed as the 3-field ``TransportOutbound``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import httpx
import pytest

from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.wire import ptp
from isthmus.wire.errors import ErrorCode

pytestmark = pytest.mark.multinode
SESSION, TOKEN = "session_job-transport", "token-1"
#: One client for every call: a new httpx client per request costs ~50 ms (TLS setup).
HTTP = httpx.Client(timeout=30)


def transport_url(node: ProcessNode) -> str:
    return "http://" + node.config.transport_address


def chan(
    node: ProcessNode,
    kind: str,
    peer: ProcessNode | str,
    topic: str,
    body: bytes = b"",
    *,
    session: str = SESSION,
    token: str = TOKEN,
    timeout: float | None = None,
) -> tuple[str, bytes]:
    """One south-north call; returns (code, payload) from the TransportOutbound."""
    peer_id = peer if isinstance(peer, str) else peer.node_id
    headers = {
        "x-ptp-session-id": session,
        "x-ptp-token": token,
        "x-ptp-topic": topic,
        "x-ptp-target-node-id": peer_id,
        "x-ptp-source-node-id": node.node_id,
        "x-ptp-tecn-provider-code": "SecretFlow",
        "x-ptp-trace-id": "t",
    }
    params = {"timeout": str(timeout)} if timeout is not None else None
    response = HTTP.post(
        f"{transport_url(node)}/v1/interconn/chan/{kind}",
        content=body,
        headers=headers,
        params=params,
    )
    assert response.status_code == 200
    code, _message, payload = ptp.parse_outbound(response.content)
    return code, payload


def open_session(*nodes: ProcessNode, session: str = SESSION) -> None:
    """Open ``session`` on every node, each naming the others as its parties."""
    for node in nodes:
        parties = [other.node_id for other in nodes if other is not node]
        node.admin.post(
            "/transport/sessions", {"session_id": session, "token": TOKEN, "parties": parties}
        )


@pytest.fixture
def pair() -> Iterator[tuple[ProcessCluster, ProcessNode, ProcessNode]]:
    env = {
        "ISTHMUS_TRANSPORT__EAST_WEST_MAX_BYTES": "65536",
        "ISTHMUS_TRANSPORT__MAX_SESSION_MESSAGES": "300",
    }
    with ProcessCluster(env=env) as cluster:
        a, b = cluster.start(2)
        cluster.connect(a, b)
        open_session(a, b)
        yield cluster, a, b


def pop_all(node: ProcessNode, peer: ProcessNode, topic: str, count: int) -> list[bytes]:
    received: list[bytes] = []
    deadline = time.monotonic() + 60
    while len(received) < count and time.monotonic() < deadline:
        code, payload = chan(node, "pop", peer, topic, timeout=2)
        if code == ptp.PtpCode.OK:
            received.append(payload)
    return received


def test_messages_cross_in_order_both_ways(
    pair: tuple[ProcessCluster, ProcessNode, ProcessNode],
) -> None:
    _, a, b = pair
    for i in range(50):
        assert chan(a, "push", b, "guest.0-host.0", f"a{i}".encode())[0] == ptp.PtpCode.OK
        assert chan(b, "push", a, "host.0-guest.0", f"b{i}".encode())[0] == ptp.PtpCode.OK
    assert pop_all(b, a, "guest.0-host.0", 50) == [f"a{i}".encode() for i in range(50)]
    assert pop_all(a, b, "host.0-guest.0", 50) == [f"b{i}".encode() for i in range(50)]
    # Nothing left, and the empty pop answers a non-OK code without payload.
    assert chan(b, "pop", a, "guest.0-host.0", timeout=0.2) == (ptp.PtpCode.NOT_FOUND, b"")


def test_peek_does_not_consume_and_large_messages_are_fragmented(
    pair: tuple[ProcessCluster, ProcessNode, ProcessNode],
) -> None:
    _, a, b = pair
    assert chan(a, "push", b, "p", b"p1")[0] == ptp.PtpCode.OK
    deadline = time.monotonic() + 20
    while (peeked := chan(b, "peek", a, "p"))[0] != ptp.PtpCode.OK:
        assert time.monotonic() < deadline, "message never arrived"
        time.sleep(0.05)
    assert peeked[1] == b"p1"
    assert chan(b, "peek", a, "p") == (ptp.PtpCode.OK, b"p1")  # still there
    assert chan(b, "pop", a, "p", timeout=1) == (ptp.PtpCode.OK, b"p1")
    big = os.urandom(300_000)  # > 64 KiB east-west limit: five fragments
    assert chan(a, "push", b, "t", big)[0] == ptp.PtpCode.OK
    assert pop_all(b, a, "t", 1) == [big]


def test_unknown_and_released_sessions_are_refused(
    pair: tuple[ProcessCluster, ProcessNode, ProcessNode],
) -> None:
    _, a, b = pair
    assert chan(a, "push", b, "t", b"x", session="no-such-session")[0] == "E0000000404"
    assert chan(a, "push", b, "t", b"x", token="wrong")[0] == "E0000000403"
    assert chan(b, "release", a, "")[0] == ptp.PtpCode.OK
    assert chan(b, "pop", a, "t", timeout=0)[0] == "E0000000608"
    assert chan(a, "release", b, "")[0] == ptp.PtpCode.OK
    assert chan(a, "push", b, "t", b"x")[0] == "E0000000608"


def test_east_west_requires_a_signed_partner(
    pair: tuple[ProcessCluster, ProcessNode, ProcessNode],
) -> None:
    cluster, a, b = pair
    url = b.address + "/v1/interconn/chan/transport"
    forged = httpx.post(
        url,
        content=b"\x00",
        headers={"x-ptp-source-node-id": a.node_id, "x-source-node-id": a.node_id},
    )
    assert forged.json()["code"] == ErrorCode.UNSIGNED
    stranger = cluster.add_node("NODE_X")
    # The stranger's node has no contract with B, so its forwarder is refused.
    stranger.admin.post(
        "/transport/sessions", {"session_id": SESSION, "token": TOKEN, "parties": [b.node_id]}
    )
    assert chan(stranger, "push", b, "t", b"x")[0] == ptp.PtpCode.OK  # accepted locally
    time.sleep(1.5)
    assert chan(b, "pop", "NODE_X", "t", timeout=0.5)[0] == ptp.PtpCode.NOT_FOUND
    refusals = b.admin.get("/audit", action="request.refused")
    assert any(json.loads(r["details"])["reason"] in ("NO_CONTRACT", "UNSIGNED") for r in refusals)


def test_back_pressure_then_recovery(pair: tuple[ProcessCluster, ProcessNode, ProcessNode]) -> None:
    _, a, b = pair
    b.stop()  # nothing can leave A now
    codes = [chan(a, "push", b, "t", b"m%d" % i)[0] for i in range(301)]
    assert codes[:300] == [ptp.PtpCode.OK] * 300
    assert codes[300] == "E0000000700"
    b.start()
    received = pop_all(b, a, "t", 300)
    assert received == [b"m%d" % i for i in range(300)]
    assert chan(a, "push", b, "t", b"after")[0] == ptp.PtpCode.OK
