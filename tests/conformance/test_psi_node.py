"""The PSI checks through a real Isthmus node: the ``ecdh_psi`` component pushes through
its node's transport, the node forwards east-west to the kit (at the address of the
contract the kit set up), and the kit's messages reach the component as signed
pass-through ``invoke``s to the node. One node for the module (``isthmus_target``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from isthmus.conformance.model import Outcome, Part
from isthmus.conformance.psi.target import PsiTarget
from isthmus.conformance.report import Report
from tests.conformance import psi_node
from tests.conformance.conftest import IsthmusTarget, describe

pytestmark = pytest.mark.multinode


def node_psi(node_id: str, transport: str) -> PsiTarget:
    env = psi_node.component_env(**{"system.transport": transport})
    return PsiTarget(
        link="node",
        node_id=node_id,
        ranks=frozenset({0, 1}),
        env=env,
        launcher="tests.conformance.psi_node:launcher",
        input_file="in/data",
        output_file="out/rows/data_0",
        stream_timeout_s=20.0,
        invalid_point=False,
    )


def test_psi_through_the_node_transport(
    isthmus_target: IsthmusTarget, run_kit: Callable[..., Report]
) -> None:
    node = isthmus_target.node
    psi_node.NODE[:] = [node]
    psi = node_psi(node.node_id, node.config.transport_address)
    target = describe(node, claims=frozenset({Part.PSI_LINK}), psi=psi)
    report = run_kit(target, parts=[Part.PSI_LINK])
    results: dict[str, Any] = {r.check_id: r for r in report.results}
    bad = {k: r.reason for k, r in results.items() if r.outcome in (Outcome.FAIL, Outcome.ERROR)}
    assert not bad
    assert results["psi.run.curve25519.target-rank0"].outcome is Outcome.PASS
    assert results["psi.run.curve25519.target-rank1"].outcome is Outcome.PASS
    assert results["psi.batch.empty-last"].outcome is Outcome.PASS
