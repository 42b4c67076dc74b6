"""The kit's ECDH-PSI checks against the real SecretFlow party (spu 0.9.1b0,
``../shared/peers/sf_ecdh_psi.py``): over the direct gRPC link and over the blackbox link
with the kit as the party's transport module. The report must be what the digest
predicts, SecretFlow's documented divergences reported as divergences (PASS), never as
failures. Skips loudly (fails in CI) when the peer's venv cannot be had."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from isthmus.conformance import identity, runner
from isthmus.conformance.model import Outcome, Part, Target
from isthmus.conformance.psi.target import Curve, PsiTarget
from isthmus.conformance.report import Report
from tests.support.secretflow import peer_python, psi_script

pytestmark = pytest.mark.multinode

COMMON = ("--rank", "{rank}", "--input", "{input}", "--output", "{output}",
          "--curve", "{curve_secretflow}", "--timeout-s", "60")  # fmt: skip
DIRECT = ("--link", "grpc", "--addrs", "{addrs}")
BLACKBOX = ("--link", "blackbox", "--transport", "{transport}", "--node-ids", "{node_ids}",
            "--session", "{session}", "--token", "{token}")  # fmt: skip


def secretflow_target(link: str, args: tuple[str, ...], **psi: Any) -> Target:
    command = (str(peer_python()), str(psi_script()), *args, *COMMON)
    return Target(
        node_id="SF_NODE",
        address="http://127.0.0.1:9",  # no node: the party alone is under test
        claims=frozenset({Part.PSI_LINK}),
        psi=PsiTarget(link=link, node_id="SF_NODE", command=command, stream_timeout_s=30, **psi),
    )


def run(target: Target) -> Report:
    report = asyncio.run(runner.run(target, identity.ephemeral(), parts=[Part.PSI_LINK]))
    # a bare PSI party: no contract_id in the target, none applied for, and ok
    assert report.setup == () and report.setup_error is None
    assert report.ok, [(r.check_id, r.reason) for r in report.results if r.outcome != "pass"]
    return report


def by_id(report: Report) -> dict[str, Any]:
    return {r.check_id: r for r in report.results}


def assert_no_failures(results: dict[str, Any]) -> None:
    bad = {k: r.reason for k, r in results.items() if r.outcome in (Outcome.FAIL, Outcome.ERROR)}
    assert not bad


def test_direct_grpc_link() -> None:
    results = by_id(run(secretflow_target("direct", DIRECT, curves=frozenset(Curve))))
    assert_no_failures(results)
    for curve in ("curve25519", "sm2"):
        for rank in (0, 1):
            assert results[f"psi.run.{curve}.target-rank{rank}"].outcome is Outcome.PASS
    for check_id in ("psi.link.connect", "psi.link.keys", "psi.link.fin", "psi.link.chunked",
                     "psi.batch.framing", "psi.batch.empty-last", "psi.points.valid",
                     "psi.points.invalid-refused", "psi.truncation"):  # fmt: skip
        assert results[check_id].outcome is Outcome.PASS, check_id
    # SecretFlow keeps the trailing 12 bytes: for X25519 the high-order bits (§5.2 Δ).
    assert "high-order 96 bits" in results["psi.truncation"].divergence
    # IC mode over gRPC: no sequence suffixes, FIN "0".
    assert results["psi.link.keys"].divergence is None
    # BFIA mode: no handshake; the direct link has no transport module.
    assert results["psi.handshake.request"].outcome is Outcome.NOT_APPLICABLE
    assert results["psi.transport.headers"].outcome is Outcome.NOT_APPLICABLE


def test_blackbox_link_with_the_kit_as_transport_module() -> None:
    target = secretflow_target(
        "blackbox", BLACKBOX, curves=frozenset({Curve.CURVE25519}), invalid_point=False
    )
    results = by_id(run(target))
    assert_no_failures(results)
    assert results["psi.run.curve25519.target-rank0"].outcome is Outcome.PASS
    assert results["psi.run.curve25519.target-rank1"].outcome is Outcome.PASS
    headers = results["psi.transport.headers"]
    assert headers.outcome is Outcome.PASS
    assert "x-ptp-tecn-provider-code" in headers.divergence  # yacl's typo (§4.4 Δ)
    assert results["psi.transport.push-body"].outcome is Outcome.PASS
    # yacl's blackbox link numbers its messages and expects ACKs (§4.5 Δ).
    keys = results["psi.link.keys"]
    assert keys.outcome is Outcome.PASS
    assert "\\x01\\x02<seq>" in keys.divergence
    assert results["psi.link.fin"].outcome is Outcome.PASS
