"""Issue #12, item 8: a ``contract/confirm`` that binds a key must be signed by that key.

Before, anyone who learnt the id of our pending application (it crosses the network in
the apply's answer) could send an unsigned APPROVED confirm carrying *their* key: our
node then took that key as the partner's and accepted their requests as the partner's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from isthmus.crypto import generate_private_key
from isthmus.peer.signing import NodeIdentity, sign_request
from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.testing.cluster import wait_until
from isthmus.wire import paths
from tests.security.peer_support import audit_events

pytestmark = pytest.mark.multinode

MALLORY = generate_private_key("ED25519")
OTHER = generate_private_key("ED25519")


@pytest.fixture(scope="module")
def pending() -> Iterator[tuple[ProcessNode, ProcessNode, str]]:
    """A has applied to B; B's operator has not decided yet."""
    with ProcessCluster() as cluster:
        a, b = cluster.start(2)
        view = a.admin.post("/contracts/apply", {"address": b.address})
        yield a, b, str(view["contract_id"])


def confirm(contract_id: str, key_pem: str) -> dict[str, Any]:
    return {
        "contract_id": contract_id,
        "status": "APPROVED",
        "auth_type": "ED25519",
        "auth_credential": key_pem,
    }


def send(a: ProcessNode, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        a.address + paths.NODE_CONTRACT_CONFIRM,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json", **headers},
    )


def signed(a: ProcessNode, source: str, signer: Any, body: dict[str, Any]) -> dict[str, str]:
    identity = NodeIdentity(source, f"INST_{source}", signer)
    return sign_request(
        identity,
        method="POST",
        path=paths.NODE_CONTRACT_CONFIRM,
        query="",
        target_node_id=a.node_id,
        body=json.dumps(body).encode(),
    )


def assert_untouched(a: ProcessNode, contract_id: str, seqs_before: list[int]) -> None:
    view = a.admin.get(f"/contracts/{contract_id}")
    assert view["status"] == "APPLIED", view
    assert view["peer_key_fingerprint"] is None and view["peer_auth_type"] is None
    new = [e for e in audit_events(a) if e["seq"] not in seqs_before]
    assert new and {e["action"] for e in new} == {"request.refused"}, new


def test_an_unsigned_confirm_binds_nothing(pending: tuple[ProcessNode, ProcessNode, str]) -> None:
    a, b, contract_id = pending
    before = [e["seq"] for e in audit_events(a)]
    body = confirm(contract_id, MALLORY.public_key().to_pem())
    answer = send(a, body, {"x-source-node-id": b.node_id, "x-target-node-id": a.node_id})
    assert answer.json()["code"] == 20001, answer.json()  # UNSIGNED
    assert_untouched(a, contract_id, before)


def test_a_confirm_signed_by_another_key_binds_nothing(
    pending: tuple[ProcessNode, ProcessNode, str],
) -> None:
    a, b, contract_id = pending
    before = [e["seq"] for e in audit_events(a)]
    body = confirm(contract_id, MALLORY.public_key().to_pem())
    answer = send(a, body, signed(a, b.node_id, OTHER, body))
    assert answer.json()["code"] == 20002, answer.json()  # BAD_SIGNATURE
    assert_untouched(a, contract_id, before)


def test_the_partners_own_signed_confirm_still_binds_its_key(
    pending: tuple[ProcessNode, ProcessNode, str],
) -> None:
    a, b, contract_id = pending
    b.admin.post(f"/contracts/{contract_id}/approve", {})
    wait_until(
        lambda: a.admin.get(f"/contracts/{contract_id}")["status"] == "APPROVED",
        what="B's confirm delivered",
    )
    theirs = a.admin.get(f"/contracts/{contract_id}")["peer_key_fingerprint"]
    assert theirs == b.admin.get("/node")["key_fingerprint"]
    (received,) = audit_events(a, "contract.confirm.received")
    assert json.loads(received["details"])["proof_of_possession"] is True
