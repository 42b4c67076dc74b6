"""Shared fixtures of the conformance tests: an Isthmus node as the target, the kit.

* ``isthmus_target`` (module): one real node process (``ProcessCluster``) described as a
  conformance ``Target`` claiming every part; ``.approve`` approves a contract the kit
  applied for through the node's admin API (what its operator would do);
* ``run_kit(target, **run_kwargs)``: one run of the kit, sync, with a fresh kit identity
  (so every run applies, is approved and terminates its own contract), the fixture's
  approver and a short approval timeout;
* ``kit_identity``: an ephemeral identity for tests that sign without running.

One node per module keeps these tests cheap: every check uses its own ids, so the
checks of one module never see each other's state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from isthmus.conformance import identity, runner
from isthmus.conformance.context import KitIdentity
from isthmus.conformance.model import Part, Target
from isthmus.conformance.report import Report
from isthmus.node.home import read_private_key
from isthmus.testing import ProcessCluster, ProcessNode


@dataclass
class IsthmusTarget:
    node: ProcessNode
    target: Target

    async def approve(self, contract_id: str) -> None:
        await asyncio.to_thread(self.node.admin.post, f"/contracts/{contract_id}/approve", {})


def describe(node: ProcessNode, **overrides: Any) -> Target:
    """``node`` as a conformance target claiming every part (``overrides`` replace)."""
    config = node.config
    fields: dict[str, Any] = {
        "node_id": node.node_id,
        "address": node.address,
        "public_key_pem": read_private_key(config).public_key().to_pem(),
        "claims": frozenset(Part),
        "transport_address": f"http://{config.transport_address}",
        "approval_timeout_s": 20.0,
        "rate_per_s": 200.0,
    }
    fields.update(overrides)
    return Target.model_validate(fields)


@pytest.fixture(scope="module")
def isthmus_target() -> Iterator[IsthmusTarget]:
    with ProcessCluster() as cluster:
        node = cluster.add_node("CONF_TARGET")
        yield IsthmusTarget(node, describe(node))


@pytest.fixture(scope="module")
def kit_identity() -> KitIdentity:
    return identity.ephemeral()


RunKit = Callable[..., Report]


@pytest.fixture
def run_kit(isthmus_target: IsthmusTarget) -> RunKit:
    def _run(target: Target | None = None, **kwargs: Any) -> Report:
        kwargs.setdefault("approve", isthmus_target.approve)
        kit = kwargs.pop("kit", None) or identity.ephemeral()
        return asyncio.run(runner.run(target or isthmus_target.target, kit, **kwargs))

    return _run
