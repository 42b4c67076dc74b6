"""The whole node-level kit against a real Isthmus node: every applicable check passes.

One node process for the module (a target the kit has never met: it applies for its
contract and the fixture approves it as the operator would); the run is shared by the
tests below, which read its report.
"""

from __future__ import annotations

import asyncio

import pytest

from isthmus.conformance.catalogue import all_checks
from isthmus.conformance.identity import ephemeral
from isthmus.conformance.model import CheckResult, Outcome, Part
from isthmus.conformance.report import Report
from isthmus.conformance.runner import run
from tests.conformance.conftest import IsthmusTarget
from tests.conformance.isthmus_target import (
    PARTS,
    approver,
    explain,
    operator_approves,
    outcomes,
    target_of,
)

pytestmark = pytest.mark.multinode

#: The node-level checks (conf-psi's PSI checks have their own tests).
MINE = ("envelope.", "auth.", "mgmt.", "sched.", "transport.", "secop.", "uas.")


@pytest.fixture(scope="module")
def report(isthmus_target: IsthmusTarget) -> Report:
    node = isthmus_target.node
    kit = ephemeral()
    target = target_of(node, kit.node_id)
    with operator_approves(node):
        return asyncio.run(run(target, kit, patterns=MINE, approve=approver(node, kit.node_id)))


def test_every_applicable_check_passes(report: Report) -> None:
    assert report.setup_error is None, report.setup_error
    bad = [r for r in report.results if r.outcome in (Outcome.FAIL, Outcome.ERROR)]
    assert not bad, explain(report)


def test_every_node_level_check_ran(report: Report) -> None:
    """Nothing silently skipped: against Isthmus, only the documented leniency shows."""
    mine = {c.check_id for c in all_checks() if c.part in PARTS}
    ran = outcomes(report)
    assert mine <= set(ran)
    skipped = {k: v for k, v in ran.items() if k in mine and v is not Outcome.PASS}
    assert not skipped, explain(report, (Outcome.NOT_APPLICABLE,))


def test_results_name_their_section_and_evidence(report: Report) -> None:
    for result in report.results:
        assert result.section.startswith("§"), result.check_id
        if result.outcome is Outcome.PASS and result.part is not Part.PSI_LINK:
            assert result.exchanges, f"{result.check_id} passed without any evidence"


def test_the_csrf_leniency_is_a_divergence_not_a_failure(report: Report) -> None:
    csrf = next(r for r in report.results if r.check_id == "auth.csrf.missing")
    assert csrf.outcome is Outcome.PASS
    assert csrf.divergence and "x-csrf-protection" in csrf.divergence


def test_no_session_token_reaches_the_evidence(report: Report) -> None:
    text = report.model_dump_json()
    assert "x-ptp-token" in text  # the transport checks sent it…
    for result in report.results:
        for exchange in result.exchanges:
            for line in exchange.request.splitlines():
                if line.startswith("x-ptp-token: "):
                    assert "redacted" in line, line  # …and no evidence shows it


def _result(report: Report, check_id: str) -> CheckResult:
    return next(r for r in report.results if r.check_id == check_id)


def test_the_approved_permit_opened_what_a_forged_one_did_not(report: Report) -> None:
    approved = _result(report, "mgmt.approval.approved")
    assert approved.outcome is Outcome.PASS, approved.reason
    assert "without a permit" in approved.reason and "forged token" in approved.reason
    labels = [e.label for e in approved.exchanges]
    assert "job/create, forged token" in labels and "job/create, the permit" in labels
    for exchange in approved.exchanges:  # the permit's token never shows
        for line in exchange.request.splitlines():
            if line.startswith("x-mprac-token-set: "):
                assert "redacted" in line, line


def test_node_update_speaks_for_a_throw_away_identity(report: Report) -> None:
    update = _result(report, "mgmt.node.update")
    sent = next(e for e in update.exchanges if e.label == "update")
    source = next(x for x in sent.request.splitlines() if x.startswith("x-source-node-id: "))
    assert "-approve-" in source  # never the run's own contract
    assert report.kit_node_id not in source


def test_without_the_operator_the_approval_paths_are_not_applicable(
    isthmus_target: IsthmusTarget,
) -> None:
    """Nobody approves within approval_timeout_s: not applicable, with the reason."""
    node = isthmus_target.node
    kit = ephemeral()
    target = target_of(node, kit.node_id, sessions=0).model_copy(update={"approval_timeout_s": 0.5})
    patterns = ("mgmt.approval.approved", "mgmt.project.approved", "mgmt.node.update")
    late = asyncio.run(run(target, kit, patterns=patterns, approve=approver(node, kit.node_id)))
    for check_id in patterns:
        result = _result(late, check_id)
        assert result.outcome is Outcome.NOT_APPLICABLE, explain(late, tuple(Outcome))
        assert "approval_timeout_s" in result.reason
