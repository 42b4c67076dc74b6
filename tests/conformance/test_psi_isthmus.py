"""The ECDH-PSI wire checks against Isthmus's own ``ecdh_psi`` engine, in-process: over
the in-memory link (both curves, both ranks, BFIA and PPCA-handshake mode), through the
kit's relay with the component's blackbox backend, and a broken party that skips the
empty last batch, which only ``psi.batch.empty-last`` must catch."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

from isthmus.conformance import identity, runner
from isthmus.conformance.model import Outcome, Part, Target
from isthmus.conformance.psi.target import Curve, PsiTarget
from isthmus.conformance.report import Report, to_json
from tests.conformance import psi_node

INPROCESS = "isthmus.conformance.psi.inprocess:launcher"
BOTH = frozenset({Curve.CURVE25519, Curve.SM2})
X25519 = frozenset({Curve.CURVE25519})


def psi_target(**psi: Any) -> Target:
    """A PSI-only target: no node to contract with, and no ``contract_id`` needed."""
    psi.setdefault("launcher", INPROCESS)
    psi.setdefault("stream_timeout_s", 20.0)  # waits only when a target misbehaves
    psi.setdefault("items", 200)  # in-process SM2 is pure hashing: keep it small
    return Target(
        node_id="PSI_TARGET",
        address="http://127.0.0.1:9",
        claims=frozenset({Part.PSI_LINK}),
        psi=PsiTarget(**psi),
    )


def run(target: Target) -> Report:
    report = asyncio.run(runner.run(target, identity.ephemeral(), parts=[Part.PSI_LINK]))
    assert report.setup == () and report.setup_error is None  # no contract applied for
    return report


def outcomes(report: Report) -> dict[str, Outcome]:
    return {r.check_id: r.outcome for r in report.results}


def result(report: Report, check_id: str) -> Any:
    return next(r for r in report.results if r.check_id == check_id)


@pytest.fixture(scope="module")
def direct_report() -> Report:
    return run(psi_target(curves=BOTH))


def test_every_applicable_check_passes_over_the_memory_link(direct_report: Report) -> None:
    seen = outcomes(direct_report)
    failing = {k: result(direct_report, k).reason for k, v in seen.items() if v in
               (Outcome.FAIL, Outcome.ERROR)}  # fmt: skip
    assert not failing
    for curve in ("curve25519", "sm2"):
        for rank in (0, 1):
            assert seen[f"psi.run.{curve}.target-rank{rank}"] is Outcome.PASS
    for check_id in ("psi.batch.empty-last", "psi.batch.framing", "psi.truncation",
                     "psi.points.valid", "psi.points.invalid-refused", "psi.link.keys",
                     "psi.link.connect", "psi.link.fin", "psi.link.chunked"):  # fmt: skip
        assert seen[check_id] is Outcome.PASS, check_id
    assert seen["psi.handshake.request"] is Outcome.NOT_APPLICABLE
    assert seen["psi.transport.headers"] is Outcome.NOT_APPLICABLE


def test_the_truncation_divergence_is_reported_not_failed(direct_report: Report) -> None:
    truncation = result(direct_report, "psi.truncation")
    assert truncation.outcome is Outcome.PASS
    assert "high-order 96 bits" in (truncation.divergence or "")
    assert truncation.exchanges, "the link messages judged are the evidence"
    assert "dual.enc #1" in truncation.exchanges[0].response


def test_the_invalid_point_is_refused_without_a_crash(direct_report: Report) -> None:
    refused = result(direct_report, "psi.points.invalid-refused")
    assert refused.outcome is Outcome.PASS
    assert "status 70" in refused.reason


def test_blackbox_through_the_kit_relay() -> None:
    report = run(psi_target(link="blackbox", curves=frozenset({Curve.CURVE25519}),
                            invalid_point=False))  # fmt: skip
    seen = outcomes(report)
    assert seen["psi.transport.headers"] is Outcome.PASS, result(report, "psi.transport.headers")
    assert seen["psi.transport.push-body"] is Outcome.PASS
    assert seen["psi.run.curve25519.target-rank0"] is Outcome.PASS
    assert seen["psi.run.curve25519.target-rank1"] is Outcome.PASS
    # Isthmus spells the vendor header as the spec does: no yacl typo reported.
    assert "tecn" not in (result(report, "psi.transport.headers").divergence or "")
    # The evidence shows the headers but never the session token's value.
    text = to_json(report).decode()
    assert "x-ptp-token" in text
    assert "-token" not in text.replace("x-ptp-token", "")


def test_ppca_handshake_mode() -> None:
    report = run(psi_target(handshake=True, curves=frozenset({Curve.SM2}), invalid_point=False))
    seen = outcomes(report)
    assert seen["psi.handshake.request"] is Outcome.PASS, result(report, "psi.handshake.request")
    assert seen["psi.handshake.response"] is Outcome.PASS
    truncation = result(report, "psi.truncation")
    assert truncation.outcome is Outcome.PASS, truncation.reason
    assert "6-byte" in truncation.reason  # ⌈log2 200⌉·2 + 30 = 46 bits, rounded to bytes
    assert truncation.divergence is None


def test_a_party_that_skips_the_empty_last_batch_is_caught() -> None:
    report = run(psi_target(launcher="tests.conformance.psi_broken:skips_empty_last_batch",
                            curves=frozenset({Curve.CURVE25519}), invalid_point=False))  # fmt: skip
    empty_last = result(report, "psi.batch.empty-last")
    assert empty_last.outcome is Outcome.FAIL
    assert "must be empty" in empty_last.reason
    # The defect is named by the check meant for it; the others still pass.
    assert outcomes(report)["psi.run.curve25519.target-rank0"] is Outcome.PASS


def component_process_target(link: str, **psi: Any) -> Target:
    """The ``ecdh_psi`` component as the process a node's runner starts: the BFIA
    container environment, expanded per scenario (literal braces doubled)."""
    if link == "direct":
        env = psi_node.component_env(**{"runtime.component.parameter.link_addresses": "{addrs}"})
    else:
        env = psi_node.component_env(**{"system.transport": "{transport}"})
    return Target(
        node_id="PSI_TARGET",
        address="http://127.0.0.1:9",
        claims=frozenset({Part.PSI_LINK}),
        psi=PsiTarget(
            link=link,
            node_id="PSI_TARGET",
            command=(sys.executable, "-m", "isthmus.components"),
            env=env,
            input_file="in/data",
            output_file="out/rows/data_0",
            stream_timeout_s=20.0,
            **psi,
        ),
    )


def test_the_component_as_a_process_direct() -> None:
    """What a node runs: the component process, its own link backend, its exit code."""
    report = run(component_process_target("direct", ranks=frozenset({0})))
    seen = outcomes(report)
    failing = {k: result(report, k).reason for k, v in seen.items() if v in
               (Outcome.FAIL, Outcome.ERROR)}  # fmt: skip
    assert not failing
    assert seen["psi.run.curve25519.target-rank0"] is Outcome.PASS
    assert seen["psi.points.invalid-refused"] is Outcome.PASS
    assert "status 70" in result(report, "psi.points.invalid-refused").reason


def test_the_component_as_a_process_blackbox() -> None:
    """The component's own BlackboxBackend against the kit as its transport module."""
    target = component_process_target("blackbox", ranks=frozenset({1}), invalid_point=False)
    report = run(target)
    seen = outcomes(report)
    failing = {k: result(report, k).reason for k, v in seen.items() if v in
               (Outcome.FAIL, Outcome.ERROR)}  # fmt: skip
    assert not failing
    assert seen["psi.run.curve25519.target-rank1"] is Outcome.PASS
    assert seen["psi.transport.headers"] is Outcome.PASS


def test_a_party_that_accepts_invalid_points_is_caught() -> None:
    broken = "tests.conformance.psi_broken:accepts_invalid_points"
    report = run(psi_target(launcher=broken, curves=X25519, ranks=frozenset({0})))
    refused = result(report, "psi.points.invalid-refused")
    assert refused.outcome is Outcome.FAIL
    assert "accepted the invalid point" in refused.reason
    assert outcomes(report)["psi.batch.empty-last"] is Outcome.PASS


def test_a_party_that_truncates_the_wrong_end_is_caught() -> None:
    broken = "tests.conformance.psi_broken:truncates_the_wrong_end"
    target = psi_target(launcher=broken, curves=X25519, ranks=frozenset({1}), invalid_point=False)
    report = run(target)
    truncation = result(report, "psi.truncation")
    assert truncation.outcome is Outcome.FAIL
    assert "100 match the trailing" not in truncation.reason
    assert "trailing expected" in truncation.reason
    assert outcomes(report)["psi.batch.framing"] is Outcome.PASS
