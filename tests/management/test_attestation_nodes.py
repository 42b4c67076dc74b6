"""Attestation in the interconnection itself (issue 17), through two real node processes.

A requires of its partners a report naming the Simulated platform with debugging off,
bound to the partner's node key; both trust one test vendor key. B publishes such a
report. One cluster for the module: B's application is accepted, every bad report (or
none) is refused with its reason and audited, a key rotation without a report bound to
the new key is refused, and a lapsed proof shuts B out (20014) until B publishes a fresh
report (its running node re-reads the file) and A's refresh restores it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from isthmus.crypto import PrivateKey, generate_private_key
from isthmus.node.home import read_private_key
from isthmus.peer.signing import NodeIdentity, sign_request
from isthmus.tee.simulated import SimulatedDevice
from isthmus.tee.uai import unified_attestation_generate_report
from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.testing.cluster import wait_until
from isthmus.wire import paths
from isthmus.wire.errors import ErrorCode
from isthmus.wire.tee import uar_json

pytestmark = pytest.mark.multinode

POLICY = {"main_attributes": [{"str_tee_platform": "Simulated", "bool_debug_disabled": "true"}]}
HOUR = timedelta(hours=1)
#: How long the short-lived report lasts (a push and one read of the contract fit inside).
SHORT_S = 2


@dataclass
class Pair:
    a: ProcessNode
    b: ProcessNode
    vendor: PrivateKey
    b_pem: str
    contract_id: str = ""


def report(vendor: PrivateKey, key_pem: str | None, **device: Any) -> str:
    """A Simulated UAR bound to ``key_pem``, as a JSON string."""
    device.setdefault("valid_for", HOUR)
    uar = unified_attestation_generate_report(
        "", "Passport", public_key_pem=key_pem, device=SimulatedDevice(vendor_key=vendor, **device)
    )
    return uar_json(uar)


def _tee_section(node: ProcessNode, lines: dict[str, str]) -> None:
    body = "".join(f"{key} = {value}\n" for key, value in lines.items())
    with (node.home / "node.toml").open("a") as handle:
        handle.write(f"\n[tee]\n{body}")


def publish(pair: Pair, text: str) -> None:
    """B's own report, as its node publishes it (``[tee] report_file``)."""
    (pair.b.home / "tee-report.json").write_text(text)


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    env = {"ISTHMUS_CONTRACT__SYNC_INTERVAL_S": "0.5"}
    with ProcessCluster(env=env) as cluster:
        vendor = generate_private_key("ED25519")
        vendor_file = cluster.base_dir / "vendor.pem"
        vendor_file.write_text(vendor.public_key().to_pem())
        policy_file = cluster.base_dir / "policy.json"
        policy_file.write_text(json.dumps(POLICY))
        a = cluster.add_node("NODE_A", start=False)
        b = cluster.add_node("NODE_B", start=False)
        keys = json.dumps([str(vendor_file)])
        _tee_section(
            a,
            {
                "partner_policy_file": json.dumps(str(policy_file)),
                "simulated_vendor_keys": keys,
                "refresh_margin_s": "1",
            },
        )
        _tee_section(b, {"report_file": '"tee-report.json"', "simulated_vendor_keys": keys})
        b_pem = read_private_key(b.config).public_key().to_pem()
        found = Pair(a, b, vendor, b_pem)
        publish(found, report(vendor, b_pem))
        for node in (a, b):
            node.launch()
        for node in (a, b):
            node.wait_ready()
        yield found


def identity_of(node: ProcessNode) -> NodeIdentity:
    return NodeIdentity(node.node_id, node.config.node.inst_id, read_private_key(node.config))


def signed_post(
    source: ProcessNode, target: ProcessNode, path: str, body: dict[str, Any]
) -> dict[str, Any]:
    content = json.dumps(body).encode()
    headers = sign_request(
        identity_of(source),
        method="POST",
        path=path,
        query="",
        target_node_id=target.node_id,
        body=content,
    )
    response = httpx.post(
        target.address + path,
        content=content,
        headers={"content-type": "application/json", **headers},
    )
    envelope: dict[str, Any] = response.json()
    return envelope


def audited(node: ProcessNode, action: str) -> list[dict[str, Any]]:
    events = node.admin.get("/audit", action=action, limit=1000)
    return [json.loads(e["details"] or "{}") | {"subject": e["subject"]} for e in events]


def test_b_publishes_its_report_in_node_query(pair: Pair) -> None:
    info = httpx.get(pair.b.address + paths.NODE_QUERY).json()["data"]
    assert json.loads(info["tee_report"])["str_tee_platform"] == "Simulated"
    assert "tee_report" not in httpx.get(pair.a.address + paths.NODE_QUERY).json()["data"]
    own = pair.b.admin.get(paths.ADMIN_DOCTOR)["tee_report"]
    assert own["ok"] and "Simulated report" in own["state"], own
    assert pair.a.admin.get(paths.ADMIN_DOCTOR)["tee_report"] == {"state": "none", "ok": True}


def test_an_attested_partner_is_accepted(pair: Pair) -> None:
    view = pair.b.admin.post("/contracts/apply", {"address": pair.a.address})
    contract_id = str(view["contract_id"])
    at_a = pair.a.admin.get(f"/contracts/{contract_id}")
    assert at_a["status"] == "APPLIED" and at_a["tee_required"] is True
    assert at_a["peer_tee_status"] == "VERIFIED" and at_a["peer_tee_platform"] == "Simulated"
    assert at_a["peer_tee_valid_until"] > at_a["peer_tee_checked_at"]
    pair.a.admin.post(f"/contracts/{contract_id}/approve", {})

    def both_approved() -> bool:
        return all(
            node.admin.get(f"/contracts/{contract_id}")["status"] == "APPROVED"
            for node in (pair.a, pair.b)
        )

    wait_until(both_approved, what="contract approved at both")
    assert pair.b.admin.get(f"/contracts/{contract_id}")["tee_required"] is False
    pair.contract_id = contract_id
    assert signed_post(pair.b, pair.a, paths.NODE_UPDATE, {"contract_id": contract_id})["code"] == 0


def _bad(vendor: PrivateKey, key_pem: str, case: str) -> str | None:
    if case == "key_binding":
        return report(vendor, generate_private_key("ED25519").public_key().to_pem())
    if case == "debug_enclave":
        return report(vendor, key_pem, debug=True)
    if case == "tcb_out_of_date":
        return report(vendor, key_pem, tcb_status="OutOfDate")
    if case == "collateral_expired":
        return report(vendor, key_pem, valid_for=timedelta(seconds=-60))
    return None  # no report at all


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("key_binding", "key_binding"),
        ("debug_enclave", "debug_enclave"),
        ("tcb_out_of_date", "tcb_out_of_date"),
        ("collateral_expired", "collateral_expired"),
        ("missing", "malformed"),
    ],
)
def test_a_bad_report_is_refused_at_apply_and_audited(pair: Pair, case: str, reason: str) -> None:
    applicant = f"NODE_{case.upper()}"
    key_pem = generate_private_key("ED25519").public_key().to_pem()
    body = {
        "node_id": applicant,
        "auth_type": "ED25519",
        "auth_credential": key_pem,
        "tee_report": _bad(pair.vendor, key_pem, case),
    }
    response = httpx.post(pair.a.address + paths.NODE_CONTRACT_APPLY, json=body)
    envelope = response.json()
    assert response.status_code == 403 and envelope["code"] == ErrorCode.TEE_REFUSED, envelope
    assert envelope["data"]["reason"] == reason
    if case == "debug_enclave":
        assert envelope["data"]["attribute"] == "bool_debug_disabled"
        assert (envelope["data"]["expected"], envelope["data"]["actual"]) == ("true", "false")
    refusals = [e for e in audited(pair.a, "contract.apply.refused") if e["subject"] == applicant]
    assert refusals and refusals[-1]["reason"] == reason
    contracts = pair.a.admin.get("/contracts")
    assert applicant not in {c["peer_node_id"] for c in contracts}


def test_a_key_rotation_needs_a_report_bound_to_the_new_key(pair: Pair) -> None:
    before = pair.a.admin.get(f"/contracts/{pair.contract_id}")["peer_key_fingerprint"]
    new_pem = generate_private_key("ED25519").public_key().to_pem()
    rotation = {"contract_id": pair.contract_id, "auth_type": "ED25519", "auth_credential": new_pem}
    bare = signed_post(pair.b, pair.a, paths.NODE_UPDATE, rotation)
    assert bare["code"] == ErrorCode.TEE_REFUSED and bare["data"]["reason"] == "malformed"
    bound_to_old = rotation | {"tee_report": report(pair.vendor, pair.b_pem)}
    old = signed_post(pair.b, pair.a, paths.NODE_UPDATE, bound_to_old)
    assert old["code"] == ErrorCode.TEE_REFUSED and old["data"]["reason"] == "key_binding"
    refusals = audited(pair.a, "node.update.refused")
    assert [e["reason"] for e in refusals[-2:]] == ["malformed", "key_binding"]
    assert pair.a.admin.get(f"/contracts/{pair.contract_id}")["peer_key_fingerprint"] == before


def test_a_lapsed_proof_shuts_the_partner_out_until_a_fresh_report_verifies(pair: Pair) -> None:
    # B's node now publishes a stale report (A's refresh refuses it) while B's key pushes
    # a report that lasts SHORT_S seconds: it verifies, and then it lapses.
    publish(pair, report(pair.vendor, pair.b_pem, valid_for=timedelta(seconds=-60)))
    short = report(pair.vendor, pair.b_pem, valid_for=timedelta(seconds=SHORT_S))
    pushed = {"contract_id": pair.contract_id, "tee_report": short}
    assert signed_post(pair.b, pair.a, paths.NODE_UPDATE, pushed)["code"] == 0
    view = pair.a.admin.get(f"/contracts/{pair.contract_id}")
    assert view["peer_tee_valid_until"] <= view["peer_tee_checked_at"] + SHORT_S * 1000
    probe = {"contract_id": pair.contract_id}

    def shut_out() -> bool:
        envelope = signed_post(pair.b, pair.a, paths.NODE_UPDATE, probe)
        return envelope["code"] == ErrorCode.TEE_ATTESTATION_EXPIRED

    wait_until(shut_out, timeout_s=30, interval_s=0.2, what="B refused with 20014")
    wait_until(
        lambda: pair.a.admin.get(f"/contracts/{pair.contract_id}")["peer_tee_status"] == "LAPSED",
        what="the contract marked LAPSED",
    )
    lapsed = audited(pair.a, "contract.attestation.lapsed")
    assert lapsed and lapsed[-1]["reason"] == "collateral_expired"
    refused = audited(pair.a, "request.refused")
    assert any(e["code"] == ErrorCode.TEE_ATTESTATION_EXPIRED for e in refused)
    # B writes a fresh report; its running node serves it, A's refresh finds it.
    publish(pair, report(pair.vendor, pair.b_pem))

    def restored() -> bool:
        return signed_post(pair.b, pair.a, paths.NODE_UPDATE, probe)["code"] == 0

    wait_until(restored, timeout_s=30, interval_s=0.2, what="A's refresh restoring B")
    view = pair.a.admin.get(f"/contracts/{pair.contract_id}")
    assert view["peer_tee_status"] == "VERIFIED"
    assert audited(pair.a, "contract.attestation.refreshed")
    assert "Simulated report" in pair.b.admin.get("/node")["tee_report"]
