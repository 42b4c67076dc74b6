"""The kit must be able to fail: against a node with ONE defect, the check meant for
that defect is FAIL in the report (and it passes against a healthy node, which
``test_against_isthmus`` shows for every check).

Each broken node is a real node process started through a wrapper module of
``tests/conformance/broken`` that patches one behaviour before the normal entry point.
One node per defect, and only the checks that concern it run (``patterns``).
"""

from __future__ import annotations

import pytest

from isthmus.conformance.model import Outcome
from isthmus.testing import ProcessCluster
from tests.conformance.isthmus_target import explain, outcomes, run_kit, start_target

pytestmark = pytest.mark.multinode

#: (wrapper module, the checks to run, the check meant for the defect, checks that must
#: still pass on it: the defect is that one behaviour, not a dead node).
CASES = [
    (
        "tests.conformance.broken.any_signature",
        ("auth.signed.", "auth.signature.", "auth.unsigned."),
        "auth.signature.invalid",
        ("auth.signed.accepted", "auth.unsigned.refused"),
    ),
    (
        "tests.conformance.broken.status_envelope",
        ("envelope.success",),
        "envelope.success",
        (),
    ),
    (
        "tests.conformance.broken.reordered_pops",
        ("transport.sn.order", "transport.ew.invoke"),
        "transport.sn.order",
        ("transport.ew.invoke",),
    ),
    (
        "tests.conformance.broken.permitless_confirm",
        ("mgmt.approval.approved", "mgmt.approval.dataset"),
        "mgmt.approval.approved",
        ("mgmt.approval.dataset",),
    ),
]


@pytest.mark.parametrize(
    ("module", "patterns", "meant", "unharmed"), CASES, ids=[c[0].rsplit(".", 1)[1] for c in CASES]
)
def test_the_check_meant_for_the_defect_fails(
    module: str, patterns: tuple[str, ...], meant: str, unharmed: tuple[str, ...]
) -> None:
    with ProcessCluster() as cluster:
        node = start_target(cluster, module)
        report = run_kit(node, patterns=patterns, sessions=3)
    found = outcomes(report)
    assert found.get(meant) is Outcome.FAIL, explain(report, tuple(Outcome))
    for other in unharmed:
        assert found.get(other) is Outcome.PASS, explain(report, tuple(Outcome))
    failure = next(r for r in report.results if r.check_id == meant)
    assert failure.reason and failure.exchanges  # named, with its evidence
