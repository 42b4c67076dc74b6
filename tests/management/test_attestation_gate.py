"""The contract gate of issue 17 between in-process nodes (same apps, in-memory
transport): the directions the two-process test does not drive. A requires attestation
(a gate with a policy); B publishes a report whose binding each test chooses.

* A's own application checks B's ``node/query`` report before anything is sent;
* B's confirm must carry a report bound to the key it binds, else A terminates;
* a report of any shape is refused with TeeRefused, never another error (property).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from isthmus.crypto import PrivateKey, generate_private_key
from isthmus.management.attestation import AttestationGate
from isthmus.tee.simulated import SimulatedDevice
from isthmus.tee.uai import unified_attestation_generate_report
from isthmus.tee.verdict import VerifyContext
from isthmus.testing import InProcessCluster, InProcessNode
from isthmus.wire.errors import ErrorCode, TeeRefused
from isthmus.wire.tee import parse_policy, uar_json

pytestmark = pytest.mark.anyio

POLICY = {"main_attributes": [{"str_tee_platform": "Simulated", "bool_debug_disabled": "true"}]}
VENDOR = generate_private_key("ED25519")


def report(key_pem: str | None, *, debug: bool = False) -> str:
    device = SimulatedDevice(vendor_key=VENDOR, debug=debug, valid_for=timedelta(hours=1))
    uar = unified_attestation_generate_report("", "Passport", public_key_pem=key_pem, device=device)
    return uar_json(uar)


def context_at(now: datetime) -> VerifyContext:
    return VerifyContext(at=now, simulated_vendor_keys=(VENDOR.public_key(),))


def requiring_gate() -> AttestationGate:
    return AttestationGate(
        policy=parse_policy(POLICY), context_at=context_at, own_report=lambda: None
    )


@dataclass
class Published:
    """B's own report, changeable between calls."""

    text: str | None = None
    calls: list[str | None] = field(default_factory=list)

    def __call__(self) -> str | None:
        self.calls.append(self.text)
        return self.text


@pytest.fixture
async def nodes() -> AsyncIterator[tuple[InProcessNode, InProcessNode, Published]]:
    async with InProcessCluster() as cluster:
        a, b = await cluster.start(2)
        a.ctx.contracts.attestation = requiring_gate()
        published = Published()
        b.ctx.contracts.attestation = AttestationGate(
            policy=None, context_at=context_at, own_report=published
        )
        yield a, b, published


def b_key(b: InProcessNode) -> str:
    return b.ctx.contracts.me.auth_credential


async def audited(node: InProcessNode, action: str) -> list[dict[str, Any]]:
    events = await node.admin_call("GET", f"/audit?action={action}&limit=100")
    return [json.loads(e["details"] or "{}") for e in events]


async def test_our_application_checks_the_partners_published_report_first(
    nodes: tuple[InProcessNode, InProcessNode, Published],
) -> None:
    a, b, published = nodes
    published.text = report(b_key(b), debug=True)
    response = await a.admin.post("/admin/v1/contracts/apply", json={"address": b.address})
    envelope = response.json()
    assert envelope["code"] == ErrorCode.TEE_REFUSED
    assert envelope["data"]["reason"] == "debug_enclave"
    assert [e["reason"] for e in await audited(a, "contract.apply.refused")] == ["debug_enclave"]
    assert await b.admin_call("GET", "/contracts") == []  # nothing was sent


async def test_a_confirm_bound_to_the_partners_key_approves(
    nodes: tuple[InProcessNode, InProcessNode, Published],
) -> None:
    a, b, published = nodes
    published.text = report(b_key(b))
    view = await a.admin_call("POST", "/contracts/apply", {"address": b.address})
    contract_id = view["contract_id"]
    assert view["tee_required"] is True and view["peer_tee_status"] == "VERIFIED"
    await b.admin_call("POST", f"/contracts/{contract_id}/approve", {})
    await b.ctx.outbox.deliver_due()
    at_a = await a.admin_call("GET", f"/contracts/{contract_id}")
    assert at_a["status"] == "APPROVED" and at_a["peer_tee_platform"] == "Simulated"
    assert published.calls[-1] == published.text  # the confirm carried B's report


async def test_a_confirm_bound_to_another_key_terminates_our_application(
    nodes: tuple[InProcessNode, InProcessNode, Published],
) -> None:
    a, b, published = nodes
    published.text = report(None)  # query-time check: no key to bind yet, passes
    view = await a.admin_call("POST", "/contracts/apply", {"address": b.address})
    contract_id = view["contract_id"]
    published.text = report(generate_private_key("ED25519").public_key().to_pem())
    await b.admin_call("POST", f"/contracts/{contract_id}/approve", {})
    await b.ctx.outbox.deliver_due()
    at_a = await a.admin_call("GET", f"/contracts/{contract_id}")
    assert at_a["status"] == "TERMINATED" and "key_binding" in at_a["reason"]
    assert [e["reason"] for e in await audited(a, "contract.confirm.refused")] == ["key_binding"]
    await a.ctx.outbox.deliver_due()  # A tells B
    assert (await b.admin_call("GET", f"/contracts/{contract_id}"))["status"] == "TERMINATED"


def test_no_policy_requires_nothing() -> None:
    gate = AttestationGate(policy=None, context_at=context_at, own_report=lambda: "x")
    assert gate.check(None, public_key_pem=None) is None
    assert gate.own_report() == "x"


def test_a_good_report_records_its_proof() -> None:
    key = generate_private_key("ED25519")
    proof = requiring_gate().check(report(key.public_key().to_pem()), public_key_pem=None)
    assert proof is not None and proof.platform == "Simulated"
    columns = proof.columns()
    assert columns["peer_tee_status"] == "VERIFIED"
    assert parse_policy(columns["tee_policy"]) == parse_policy(POLICY)
    now_ms = datetime.now(UTC).timestamp() * 1000
    assert now_ms < columns["peer_tee_valid_until"] <= now_ms + 3600_000


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.one_of(
        st.text(max_size=200),
        st.dictionaries(st.text(max_size=12), st.text(max_size=12), max_size=5).map(json.dumps),
        st.sampled_from([report(None)]).map(lambda r: r.replace("Simulated", "SGX_DCAP", 1)),
    )
)
def test_any_report_text_is_refused_as_tee_refused(text: str) -> None:
    key: PrivateKey = generate_private_key("ED25519")
    with pytest.raises(TeeRefused) as caught:
        requiring_gate().check(text, public_key_pem=key.public_key().to_pem())
    assert caught.value.details["reason"]
