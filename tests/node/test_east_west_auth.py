"""Every way an east-west request can be refused, against real node processes.

Each refusal must carry its own code, leave an audit entry with the reason, and change
nothing: the probe request is always a ``node/update`` that would rename the caller.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from isthmus.crypto import generate_private_key
from isthmus.node.config import load_config
from isthmus.node.home import read_private_key
from isthmus.peer.signing import NodeIdentity, sign_request
from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.wire import paths
from isthmus.wire.errors import ErrorCode

pytestmark = pytest.mark.multinode


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[ProcessCluster, ProcessNode, ProcessNode, ProcessNode, str]]:
    with ProcessCluster() as c:
        a, b, stranger = c.start(3)
        contract_id = c.connect(a, b)
        yield c, a, b, stranger, contract_id


def identity_of(node: ProcessNode) -> NodeIdentity:
    config = load_config(node.home)
    return NodeIdentity(config.node.node_id, config.node.inst_id, read_private_key(config))


def send(
    target: ProcessNode,
    identity: NodeIdentity | None,
    body: dict[str, Any],
    *,
    path: str = paths.NODE_UPDATE,
    headers: dict[str, str] | None = None,
    **sign_options: Any,
) -> tuple[httpx.Response, dict[str, str]]:
    content = json.dumps(body).encode()
    signed: dict[str, str] = {}
    if identity is not None:
        signed = sign_request(
            identity,
            method="POST",
            path=path,
            query="",
            target_node_id=target.node_id,
            body=content,
            **sign_options,
        )
    all_headers = {"content-type": "application/json", **signed, **(headers or {})}
    response = httpx.post(target.address + path, content=content, headers=all_headers)
    return response, all_headers


def peer_name_at(node: ProcessNode, contract_id: str) -> str:
    return str(node.admin.get(f"/contracts/{contract_id}")["peer_name"])


def last_refusal(node: ProcessNode) -> dict[str, Any]:
    events = node.admin.get("/audit", action="request.refused", limit=1000)
    assert events, "no refusal was audited"
    return json.loads(events[-1]["details"]) | {"actor": events[-1]["actor"]}


def assert_refused(
    response: httpx.Response, code: ErrorCode, node: ProcessNode, contract_id: str, name_before: str
) -> None:
    envelope = response.json()
    assert set(envelope) >= {"code", "msg", "data"}
    assert envelope["code"] == code, envelope
    assert response.status_code in (401, 403, 421)
    refusal = last_refusal(node)
    assert refusal["code"] == code and refusal["reason"] == code.name
    assert peer_name_at(node, contract_id) == name_before


def test_a_valid_signed_request_is_accepted(cluster: Any) -> None:
    _, a, b, _, contract_id = cluster
    response, _ = send(b, identity_of(a), {"contract_id": contract_id, "name": "Bank A v2"})
    assert response.status_code == 200 and response.json()["code"] == 0
    assert peer_name_at(b, contract_id) == "Bank A v2"


def test_unsigned_request_is_refused(cluster: Any) -> None:
    _, a, b, _, contract_id = cluster
    before = peer_name_at(b, contract_id)
    response, _ = send(
        b,
        None,
        {"contract_id": contract_id, "name": "evil"},
        headers={"x-source-node-id": a.node_id},
    )
    assert_refused(response, ErrorCode.UNSIGNED, b, contract_id, before)


def test_bad_signature_is_refused(cluster: Any) -> None:
    _, a, b, _, contract_id = cluster
    before = peer_name_at(b, contract_id)
    body = {"contract_id": contract_id, "name": "evil"}
    content = json.dumps({"contract_id": contract_id, "name": "harmless"}).encode()
    headers = sign_request(
        identity_of(a),
        method="POST",
        path=paths.NODE_UPDATE,
        query="",
        target_node_id=b.node_id,
        body=content,
    )  # signed another body
    response = httpx.post(b.address + paths.NODE_UPDATE, json=body, headers=headers)
    assert_refused(response, ErrorCode.BAD_SIGNATURE, b, contract_id, before)


def test_replayed_nonce_is_refused(cluster: Any) -> None:
    _, a, b, _, contract_id = cluster
    first, headers = send(b, identity_of(a), {"contract_id": contract_id, "name": "Bank A v3"})
    assert first.json()["code"] == 0
    before = peer_name_at(b, contract_id)
    replay = httpx.post(
        b.address + paths.NODE_UPDATE,
        content=json.dumps({"contract_id": contract_id, "name": "Bank A v3"}),
        headers=headers,
    )
    assert_refused(replay, ErrorCode.REPLAYED_NONCE, b, contract_id, before)


def test_stale_timestamp_is_refused(cluster: Any) -> None:
    _, a, b, _, contract_id = cluster
    before = peer_name_at(b, contract_id)
    ten_minutes_ago = time.time_ns() // 1_000_000 - 600_000
    response, _ = send(
        b,
        identity_of(a),
        {"contract_id": contract_id, "name": "evil"},
        timestamp_ms=ten_minutes_ago,
    )
    assert_refused(response, ErrorCode.STALE_TIMESTAMP, b, contract_id, before)


def test_node_without_contract_is_refused(cluster: Any) -> None:
    _, _, b, stranger, contract_id = cluster
    before = peer_name_at(b, contract_id)
    response, _ = send(b, identity_of(stranger), {"contract_id": contract_id, "name": "evil"})
    assert_refused(response, ErrorCode.NO_CONTRACT, b, contract_id, before)


def test_wrong_suite_is_refused(cluster: Any) -> None:
    _, a, b, _, contract_id = cluster
    before = peer_name_at(b, contract_id)
    impostor = NodeIdentity(a.node_id, "x", generate_private_key("SHA256_ECDSA"))
    response, _ = send(b, impostor, {"contract_id": contract_id, "name": "evil"})
    assert_refused(response, ErrorCode.WRONG_SUITE, b, contract_id, before)


def test_wrong_target_is_refused(cluster: Any) -> None:
    _, a, b, stranger, contract_id = cluster
    before = peer_name_at(b, contract_id)
    content = json.dumps({"contract_id": contract_id, "name": "evil"}).encode()
    headers = sign_request(
        identity_of(a),
        method="POST",
        path=paths.NODE_UPDATE,
        query="",
        target_node_id=stranger.node_id,
        body=content,
    )
    response = httpx.post(b.address + paths.NODE_UPDATE, content=content, headers=headers)
    assert_refused(response, ErrorCode.WRONG_TARGET, b, contract_id, before)


def test_fate_underscore_headers_are_understood(cluster: Any) -> None:
    _, a, b, _, contract_id = cluster
    content = json.dumps({"contract_id": contract_id, "name": "Bank A (FATE spelling)"}).encode()
    signed = sign_request(
        identity_of(a),
        method="POST",
        path=paths.NODE_UPDATE,
        query="",
        target_node_id=b.node_id,
        body=content,
    )
    underscored = {
        k.replace("-", "_").replace("x_source_node_id", "x_node_id"): v for k, v in signed.items()
    }
    response = httpx.post(
        b.address + paths.NODE_UPDATE,
        content=content,
        headers={"content-type": "application/json", **underscored},
    )
    assert response.json()["code"] == 0, response.json()
    assert peer_name_at(b, contract_id) == "Bank A (FATE spelling)"


def test_malformed_json_and_oversized_bodies_get_the_envelope(cluster: Any) -> None:
    b = cluster[2]
    broken = httpx.post(
        b.address + paths.NODE_CONTRACT_APPLY,
        content=b'{"node_id": ',
        headers={"content-type": "application/json"},
    )
    assert broken.status_code == 400
    assert broken.json()["code"] == ErrorCode.BAD_REQUEST
    huge = httpx.post(
        b.address + paths.NODE_CONTRACT_APPLY,
        content=b"x" * (17 * 1024 * 1024),
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413
    assert huge.json()["code"] == ErrorCode.PAYLOAD_TOO_LARGE

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"y" * (1024 * 1024)

    streamed = httpx.post(
        b.address + paths.NODE_CONTRACT_APPLY,
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert streamed.status_code == 413
    assert streamed.json()["code"] == ErrorCode.PAYLOAD_TOO_LARGE
    unknown = httpx.get(b.address + "/v1/interconn/no/such/thing")
    assert unknown.status_code == 404 and unknown.json()["code"] == ErrorCode.NOT_FOUND


def test_terminated_contract_cuts_the_partner_off_at_once(cluster: Any) -> None:
    """Last in the module: it ends the A-B contract."""
    _, a, b, _, contract_id = cluster
    b.admin.post(f"/contracts/{contract_id}/terminate", {"reason": "test"})
    before = peer_name_at(b, contract_id)
    response, _ = send(b, identity_of(a), {"contract_id": contract_id, "name": "evil"})
    assert_refused(response, ErrorCode.CONTRACT_TERMINATED, b, contract_id, before)
    # A learns of it through B's outbox.
    deadline = time.monotonic() + 15
    while a.admin.get(f"/contracts/{contract_id}")["status"] != "TERMINATED":
        assert time.monotonic() < deadline, "A was not told of the termination"
        time.sleep(0.1)
    assert b.admin.get("/audit/verify")["ok"]
