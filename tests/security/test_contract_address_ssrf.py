"""Issue #12, item 8: a partner's self-declared ``address`` must not turn the node into a
proxy. Before, an apply's ``address`` (any scheme, any host: the cloud metadata
endpoint, the node's own admin port) was stored as given, called once approved, and a
signed ``node/update`` could move a partner's address anywhere afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from isthmus.crypto import generate_private_key
from isthmus.node.home import read_private_key
from isthmus.peer.signing import NodeIdentity, sign_request
from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.testing.cluster import wait_until
from isthmus.wire import paths
from tests.security.peer_support import CannedPartner, add_approved_contract, audit_events

pytestmark = pytest.mark.multinode

REFUSED_ADDRESSES = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://100.100.100.200/latest/meta-data/",
    "http://[fe80::1]:8080",
    "http://0.0.0.0:8102",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "http://user:pw@127.0.0.1:8102",
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[ProcessCluster]:
    with ProcessCluster() as cluster:
        cluster.start(2)
        yield cluster


def apply_as_stranger(b: ProcessNode, address: str) -> httpx.Response:
    """What anyone on the network may send: ``contract/apply`` is unsigned by the spec."""
    key = generate_private_key("ED25519")
    body = {
        "node_id": "STRANGER",
        "inst_id": "INST_STRANGER",
        "name": "s",
        "address": address,
        "auth_type": "ED25519",
        "auth_credential": key.public_key().to_pem(),
    }
    return httpx.post(
        b.address + paths.NODE_CONTRACT_APPLY,
        json=body,
        headers={"x-source-node-id": "STRANGER", "x-target-node-id": b.node_id},
    )


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
def test_an_apply_naming_an_internal_address_is_refused_and_stores_nothing(
    cluster: ProcessCluster, address: str
) -> None:
    b = cluster.nodes[1]
    before = [e["seq"] for e in audit_events(b)]
    answer = apply_as_stranger(b, address).json()
    assert answer["code"] == 10002, answer  # VALIDATION_FAILED, naming the rule
    assert "address" in answer["msg"]
    assert not [c for c in b.admin.get("/contracts") if c["peer_node_id"] == "STRANGER"]
    assert [e["seq"] for e in audit_events(b)] == before
    assert b.admin.get("/outbox") == []


def test_a_partner_cannot_move_its_address_with_a_signed_update(
    cluster: ProcessCluster,
) -> None:
    a, b = cluster.nodes
    contract_id = cluster.connect(a, b)
    trap = CannedPartner({})
    try:
        config = a.config
        identity = NodeIdentity(a.node_id, config.node.inst_id, read_private_key(config))
        body = json.dumps({"contract_id": contract_id, "address": trap.address}).encode()
        headers = sign_request(
            identity,
            method="POST",
            path=paths.NODE_UPDATE,
            query="",
            target_node_id=b.node_id,
            body=body,
        )
        answer = httpx.post(
            b.address + paths.NODE_UPDATE,
            content=body,
            headers={**headers, "content-type": "application/json"},
        ).json()
        assert answer["code"] == 0, answer
        assert b.admin.get(f"/contracts/{contract_id}")["peer_address"] == a.address
        (update,) = audit_events(b, "node.update.received")
        assert json.loads(update["details"])["address_proposed"] == trap.address
        # B's next message to A goes to the address its operator confirmed, not the trap
        b.admin.post(f"/contracts/{contract_id}/terminate", {"reason": "test"})
        wait_until(
            lambda: a.admin.get(f"/contracts/{contract_id}")["status"] == "TERMINATED",
            what="terminate delivered to A",
        )
        assert trap.calls == []
    finally:
        trap.close()


def test_with_loopback_refused_no_call_reaches_a_recorded_loopback_address(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The rule holds at call time too: an address already recorded (by an operator,
    or before this node's policy changed) is never called if the policy refuses it."""
    trap = CannedPartner({})
    try:
        with ProcessCluster(env={"ISTHMUS_PEER__ALLOW_LOOPBACK": "false"}) as strict:
            node = strict.add_node("STRICT")
            add_approved_contract(node, "LOOPED", trap.address)
            report: Any = node.admin.get("/doctor")
            (peer,) = report["peers"]
            assert peer["ok"] is False and peer["code"] == 40006, peer  # PEER_ADDRESS_REFUSED
            assert "loopback" in peer["diagnosis"]
        assert trap.calls == []
    finally:
        trap.close()
