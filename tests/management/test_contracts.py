"""Contract life cycle between in-process nodes (same apps, in-memory transport)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from isthmus.crypto import generate_private_key
from isthmus.testing import InProcessCluster, InProcessNode
from isthmus.wire import paths
from isthmus.wire.errors import ErrorCode

pytestmark = pytest.mark.anyio


@pytest.fixture
async def cluster() -> AsyncIterator[InProcessCluster]:
    async with InProcessCluster() as c:
        yield c


async def status(node: InProcessNode, contract_id: str) -> str:
    return str((await node.admin_call("GET", f"/contracts/{contract_id}"))["status"])


async def admin_error(node: InProcessNode, method: str, path: str, body: object = None) -> dict:
    response = await node.admin.request(method, "/admin/v1" + path, json=body)
    envelope = response.json()
    assert envelope["code"] != 0, envelope
    return envelope


@pytest.mark.parametrize(
    ("suite_a", "suite_b"),
    [
        ("ED25519", "ED25519"),
        ("SHA256_ECDSA", "SM2_SM3"),
        ("SHA256_RSA_PSS", "ED25519"),
        ("SM2_SM3", "SHA256_ECDSA"),
    ],
)
async def test_contract_between_any_two_suites(
    cluster: InProcessCluster, suite_a: str, suite_b: str
) -> None:
    a = await cluster.add_node("BANK", auth_type=suite_a)
    b = await cluster.add_node("FINTECH", auth_type=suite_b)
    contract_id = await cluster.connect(a, b)
    assert await status(a, contract_id) == "APPROVED"
    assert await status(b, contract_id) == "APPROVED"
    view = await a.admin_call("GET", f"/contracts/{contract_id}")
    assert view["peer_auth_type"] == suite_b and view["direction"] == "OUTBOUND"
    report = await a.admin_call("GET", "/doctor")
    assert report["ok"], report
    report = await b.admin_call("GET", "/doctor")
    assert report["ok"], report


async def test_application_waits_for_the_operator(cluster: InProcessCluster) -> None:
    a, b = await cluster.start(2)
    view = await a.admin_call("POST", "/contracts/apply", {"address": b.address})
    contract_id = view["contract_id"]
    assert await status(b, contract_id) == "APPLIED"
    # Before approval, A may not call B's protected endpoints.
    response = await a.signed_post(b, paths.NODE_UPDATE, {"contract_id": contract_id})
    assert response.json()["code"] == ErrorCode.CONTRACT_NOT_APPROVED
    # A cannot approve its own application.
    envelope = await admin_error(a, "POST", f"/contracts/{contract_id}/approve", {})
    assert envelope["code"] == ErrorCode.STATE_CONFLICT


async def test_rejection_reaches_the_applicant_with_its_reason(cluster: InProcessCluster) -> None:
    a, b = await cluster.start(2)
    contract_id = (await a.admin_call("POST", "/contracts/apply", {"address": b.address}))[
        "contract_id"
    ]
    await b.admin_call("POST", f"/contracts/{contract_id}/reject", {"reason": "unknown bank"})
    assert await b.ctx.outbox.deliver_due() == 1
    view = await a.admin_call("GET", f"/contracts/{contract_id}")
    assert view["status"] == "REJECTED" and view["reason"] == "unknown bank"
    # A rejected contract cannot be approved afterwards.
    envelope = await admin_error(b, "POST", f"/contracts/{contract_id}/approve", {})
    assert envelope["code"] == ErrorCode.STATE_CONFLICT


async def test_lost_confirm_is_recovered_by_query(cluster: InProcessCluster) -> None:
    a, b = await cluster.start(2)
    contract_id = (await a.admin_call("POST", "/contracts/apply", {"address": b.address}))[
        "contract_id"
    ]
    await b.admin_call("POST", f"/contracts/{contract_id}/approve", {})
    # The confirm is never delivered (B's outbox is not run): A is still waiting.
    assert await status(a, contract_id) == "APPLIED"
    result = await a.admin_call("POST", "/contracts/sync")
    assert result["contracts_changed"] == 1
    assert await status(a, contract_id) == "APPROVED"
    events = await a.admin_call("GET", "/audit")
    assert "contract.confirm.recovered" in [e["action"] for e in events]
    # The late confirm, when it finally arrives, is a harmless repeat.
    assert await b.ctx.outbox.deliver_due() == 1
    assert await status(a, contract_id) == "APPROVED"


async def test_second_application_while_one_is_active_is_refused(
    cluster: InProcessCluster,
) -> None:
    a, b = await cluster.start(2)
    await cluster.connect(a, b)
    envelope = await admin_error(a, "POST", "/contracts/apply", {"address": b.address})
    assert envelope["code"] == ErrorCode.STATE_CONFLICT
    # One contract covers both directions: B applying to A is refused too.
    envelope = await admin_error(b, "POST", "/contracts/apply", {"address": a.address})
    assert envelope["code"] == ErrorCode.STATE_CONFLICT


async def test_apply_signed_with_another_key_is_refused(cluster: InProcessCluster) -> None:
    a, b = await cluster.start(2)
    body = {
        **a.ctx.info.model_dump(exclude_none=True),
        "auth_type": "ED25519",
        "auth_credential": a.ctx.identity.private_key.public_key().to_pem(),
    }
    impostor = type(a.ctx.identity)(a.node_id, "x", generate_private_key("ED25519"))
    response = await a.signed_post(b, paths.NODE_CONTRACT_APPLY, body, identity=impostor)
    assert response.json()["code"] == ErrorCode.BAD_SIGNATURE
    assert await b.admin_call("GET", "/contracts") == []


async def test_apply_with_garbage_key_is_refused(cluster: InProcessCluster) -> None:
    _, b = await cluster.start(2)
    body = {
        "node_id": "X",
        "address": "http://x",
        "auth_type": "ED25519",
        "auth_credential": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    }
    response = await b.interconn.post(paths.NODE_CONTRACT_APPLY, json=body)
    assert response.json()["code"] == ErrorCode.INVALID_KEY
    body["auth_type"] = "ROT13"
    response = await b.interconn.post(paths.NODE_CONTRACT_APPLY, json=body)
    assert response.json()["code"] == ErrorCode.UNKNOWN_SUITE
    assert await b.admin_call("GET", "/contracts") == []


async def test_key_rotation_through_node_update(cluster: InProcessCluster) -> None:
    a, b = await cluster.start(2)
    contract_id = await cluster.connect(a, b)
    new_key = generate_private_key("SM2_SM3")
    body = {
        "contract_id": contract_id,
        "auth_type": "SM2_SM3",
        "auth_credential": new_key.public_key().to_pem(),
    }
    await a.ctx.peers.call(
        "POST", b.address, paths.NODE_UPDATE, target_node_id=b.node_id, body=body
    )
    view = await b.admin_call("GET", f"/contracts/{contract_id}")
    assert view["peer_auth_type"] == "SM2_SM3"
    assert view["peer_key_fingerprint"] == new_key.public_key().fingerprint()
    # The old key no longer works; the new one does.
    probe = {"contract_id": contract_id, "name": "renamed"}
    response = await a.signed_post(b, paths.NODE_UPDATE, probe)
    assert response.json()["code"] == ErrorCode.WRONG_SUITE
    rotated = type(a.ctx.identity)(a.node_id, a.ctx.identity.inst_id, new_key)
    response = await a.signed_post(b, paths.NODE_UPDATE, probe, identity=rotated)
    assert response.json()["code"] == 0, response.json()


async def test_terminate_by_applicant_withdraws_a_pending_application(
    cluster: InProcessCluster,
) -> None:
    a, b = await cluster.start(2)
    contract_id = (await a.admin_call("POST", "/contracts/apply", {"address": b.address}))[
        "contract_id"
    ]
    await a.admin_call("POST", f"/contracts/{contract_id}/terminate", {"reason": "changed mind"})
    # A holds no key of B's yet, so the terminate to B is signed but B's contract row
    # (APPLIED, with A's key) lets it through under the KNOWN policy.
    assert await a.ctx.outbox.deliver_due() == 1
    assert await status(b, contract_id) == "TERMINATED"
    envelope = await admin_error(b, "POST", f"/contracts/{contract_id}/approve", {})
    assert envelope["code"] == ErrorCode.STATE_CONFLICT


async def test_outbox_retries_until_the_partner_is_back(cluster: InProcessCluster) -> None:
    a, b = await cluster.start(2)
    contract_id = (await a.admin_call("POST", "/contracts/apply", {"address": b.address}))[
        "contract_id"
    ]
    host = a.address.removeprefix("http://")
    route = cluster.transport.routes.pop(host)  # A goes away
    await b.admin_call("POST", f"/contracts/{contract_id}/approve", {})
    assert await b.ctx.outbox.deliver_due() == 0
    pending = await b.admin_call("GET", "/outbox")
    assert pending[0]["attempts"] == 1 and "no connection" in pending[0]["last_error"]
    cluster.transport.routes[host] = route  # A is back
    with b.ctx.store.session() as s:  # skip the backoff wait
        for row in b.ctx.store.outbox.pending(s):
            row.next_attempt_at = 0
    assert await b.ctx.outbox.deliver_due() == 1
    assert await status(a, contract_id) == "APPROVED"


async def test_expired_contract_is_refused(cluster: InProcessCluster) -> None:
    a, b = await cluster.start(2)
    contract_id = (await a.admin_call("POST", "/contracts/apply", {"address": b.address}))[
        "contract_id"
    ]
    soon = time.time_ns() // 1_000_000 + 300
    await b.admin_call("POST", f"/contracts/{contract_id}/approve", {"expired_time": soon})
    await b.ctx.outbox.deliver_due()
    await asyncio.sleep(0.4)
    response = await a.signed_post(b, paths.NODE_UPDATE, {"contract_id": contract_id})
    assert response.json()["code"] == ErrorCode.CONTRACT_EXPIRED
    report = await a.admin_call("GET", "/doctor")
    assert not report["ok"] and "expired" in report["peers"][0]["diagnosis"]
