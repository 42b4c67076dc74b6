"""Issue #12, item 9: outgoing calls reach the partner's pinned certificate or nobody.

Before, a node checked its partners' *client* certificates against their pins but its
own calls accepted any server certificate from the CA (host names unchecked): a server
with another certificate from the same CA, at the partner's address, received the
doctor's contract query, the contract sync's query and the transport's payloads.

gRPC: a node makes no outgoing gRPC call to partners (its gRPC faces are servers; the
forwarder sends transport batches over HTTP, ``chan/transport`` and ``chan/invoke``), so
every byte it sends east-west goes through ``PeerClient``, which these tests hold to
the pin. ``test_no_outgoing_grpc_channel`` keeps it that way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import isthmus
from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.testing.cluster import wait_until
from isthmus.testing.pki import IssuedCert, TestPki
from isthmus.wire import ptp
from tests.security.peer_support import CannedPartner, host_port

pytestmark = pytest.mark.multinode

SESSION, TOKEN = "session_job-pinning", "token-pinning"
SECRET = b"the partner's eyes only"


class Cluster:
    def __init__(self, cluster: ProcessCluster, pki: TestPki) -> None:
        self.cluster, self.pki = cluster, pki
        self.a, self.b, self.c = cluster.nodes
        self.mallory: IssuedCert = pki.issue("MALLORY")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    pki = TestPki(tmp_path_factory.mktemp("pki"))
    with ProcessCluster() as cluster:
        for node_id in ("NODE_A", "NODE_B", "NODE_C"):
            issued = pki.issue(node_id)
            cluster.add_node(
                node_id,
                tls_cert_file=issued.cert_file,
                tls_key_file=issued.key_file,
                tls_ca_file=pki.ca_file,
            )
        yield Cluster(cluster, pki)


def push(a: ProcessNode, b: ProcessNode, topic: str, body: bytes) -> str:
    response = httpx.post(
        f"http://{a.config.transport_address}/v1/interconn/chan/push",
        content=body,
        headers={
            "x-ptp-session-id": SESSION,
            "x-ptp-token": TOKEN,
            "x-ptp-topic": topic,
            "x-ptp-target-node-id": b.node_id,
            "x-ptp-source-node-id": a.node_id,
            "x-ptp-tecn-provider-code": "SecretFlow",
        },
    )
    code, _, _ = ptp.parse_outbound(response.content)
    return code


def pop(b: ProcessNode, a: ProcessNode, topic: str) -> bytes:
    response = httpx.post(
        f"http://{b.config.transport_address}/v1/interconn/chan/pop",
        params={"timeout": "20"},
        headers={
            "x-ptp-session-id": SESSION,
            "x-ptp-token": TOKEN,
            "x-ptp-topic": topic,
            "x-ptp-target-node-id": a.node_id,  # the peer, as the components say it
            "x-ptp-source-node-id": b.node_id,
            "x-ptp-tecn-provider-code": "SecretFlow",
        },
        timeout=30,
    )
    _, _, payload = ptp.parse_outbound(response.content)
    return payload


def impostor_at(node: ProcessNode, cert: IssuedCert) -> CannedPartner:
    """Another certificate from the same CA, serving ``node``'s address."""
    node.stop()
    _, port = host_port(node.address)
    ok = json.dumps({"code": 0, "msg": "", "data": {"status": "APPROVED"}}).encode()
    return CannedPartner({}, ok, port=port, tls=(cert.cert_file, cert.key_file))


def test_transport_and_doctor_reach_the_pinned_partner_only(tls: Cluster) -> None:
    a, b = tls.a, tls.b
    contract_id = tls.cluster.connect(a, b)
    for node, other in ((a, b), (b, a)):
        node.admin.post(
            "/transport/sessions",
            {"session_id": SESSION, "token": TOKEN, "parties": [other.node_id]},
        )
    # the genuine partner is reached, pinned
    assert a.admin.get(f"/contracts/{contract_id}")["peer_tls_fingerprint"]
    assert push(a, b, "before", b"hello") == ptp.PtpCode.OK
    assert pop(b, a, "before") == b"hello"
    assert a.admin.get("/doctor")["ok"] is True

    impostor = impostor_at(b, tls.mallory)
    try:
        report = a.admin.get("/doctor")
        (peer,) = [p for p in report["peers"] if p["peer_node_id"] == b.node_id]
        assert peer["ok"] is False and peer["code"] == 40005, peer  # PEER_NOT_PINNED
        assert push(a, b, "after", SECRET) == ptp.PtpCode.OK  # queued at A, not sent
        wait_until(lambda: impostor.connections >= 2, what="A's forwarder tried the impostor")
        assert impostor.calls == []  # not a header, not a byte of payload
        assert not [e for e in a.admin.get("/outbox") if e["peer_node_id"] == b.node_id]
    finally:
        impostor.close()


def test_a_pending_applications_query_reaches_the_server_applied_to_only(tls: Cluster) -> None:
    """The certificate seen when applying is pinned to the application: the contract
    sync's query (whose answer would bind a key) goes to that server or nowhere."""
    a, c = tls.a, tls.c
    view = a.admin.post("/contracts/apply", {"address": c.address})
    impostor = impostor_at(c, tls.mallory)
    try:
        a.admin.post("/contracts/sync", {})
        wait_until(lambda: impostor.connections >= 1, what="A's sync tried the impostor")
        assert impostor.calls == []
        assert a.admin.get(f"/contracts/{view['contract_id']}")["status"] == "APPLIED"
        assert view["peer_tls_fingerprint"]  # what C's server showed
    finally:
        impostor.close()


def test_no_outgoing_grpc_channel() -> None:
    """The node opens no gRPC channel to partners under its own identity: only the
    white-box link between a job's components (``isthmus.link``) and the Beaver-service
    client of the MPC engine (``isthmus.mpc``, to the triple service a job or operator
    names) open one, and neither carries the node's key. If another is added, it must be
    pinned too."""
    src = Path(isthmus.__file__).parent
    found = [
        path.relative_to(src).as_posix()
        for path in sorted(src.rglob("*.py"))
        if re.search(r"secure_channel|insecure_channel", path.read_text(encoding="utf-8"))
    ]
    assert found == ["link/backends.py", "mpc/beaver_client.py"]
