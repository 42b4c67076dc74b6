"""The whole node-level kit against a real Isthmus node: every applicable check passes.

One node process for the module (a target the kit has never met: it applies for its
contract and the fixture approves it as the operator would); the run is shared by the
tests below, which read its report.
"""

from __future__ import annotations

import asyncio

import pytest

from isthmus.conformance.identity import ephemeral
from isthmus.conformance.model import Outcome, Part
from isthmus.conformance.registry import all_checks
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
