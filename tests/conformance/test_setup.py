"""The run's set-up without a node: the kit applies for a contract only when a check that
runs needs one (a bare PSI party over ``direct`` or ``blackbox`` needs none, so its target
file names no ``contract_id``), and a set-up that failed makes the report not ok, even
when every check that ran was not applicable.

The target's address refuses connections: a contract apply would be a set-up error
("did not answer"), so the absence of one is visible in the report."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Literal

import pytest

from isthmus.conformance import identity, runner
from isthmus.conformance.context import CheckContext
from isthmus.conformance.model import Outcome, Part, Target
from isthmus.conformance.psi.target import PsiTarget
from isthmus.conformance.registry import Registry
from isthmus.conformance.report import Report, to_json
from isthmus.conformance.setup import needs_contract
from tests.conformance.strategies import sample_report, sample_result

registry = Registry()


@registry.check("s.psi", title="PSI", part=Part.PSI_LINK, section="§5.2", plan=["x"])
async def psi(ctx: CheckContext) -> None:
    ctx.note("ran without a contract")


@registry.check("s.node", title="Node", part=Part.MANAGEMENT, section="§1.4", plan=["x"])
async def node(ctx: CheckContext) -> None:
    ctx.not_applicable("nothing to see here")


def _refusing_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _target(link: Literal["direct", "blackbox", "node"] | None, *parts: Part) -> Target:
    psi = PsiTarget(link=link, command=("true",)) if link is not None else None
    return Target(
        node_id="SF_NODE",
        address=_refusing_address(),
        claims=frozenset(parts),
        psi=psi,
        approval_timeout_s=0.1,
    )


def _run(target: Target, *patterns: str) -> Report:
    return asyncio.run(
        runner.run(target, identity.ephemeral(), checks=registry.all(), patterns=patterns)
    )


@pytest.mark.parametrize(
    ("part", "link", "needed"),
    [
        (Part.PSI_LINK, "direct", False),
        (Part.PSI_LINK, "blackbox", False),
        (Part.PSI_LINK, None, False),  # no [psi]: its checks are not applicable
        (Part.PSI_LINK, "node", True),
        *((p, "direct", True) for p in Part if p is not Part.PSI_LINK),
    ],
)
def test_which_checks_need_the_contract(
    part: Part, link: Literal["direct", "blackbox", "node"] | None, needed: bool
) -> None:
    check = next(c for c in registry.all() if c.part is Part.PSI_LINK)
    check = type(check)(**{**check.__dict__, "part": part})
    assert needs_contract(check, _target(link, part)) is needed


@pytest.mark.parametrize("link", ["direct", "blackbox"])
def test_a_bare_psi_party_needs_no_contract_id(link: Literal["direct", "blackbox"]) -> None:
    report = _run(_target(link, Part.PSI_LINK))
    assert report.setup == () and report.setup_error is None
    outcomes = {r.check_id: r.outcome for r in report.results}
    assert outcomes == {"s.psi": Outcome.PASS, "s.node": Outcome.NOT_APPLICABLE}
    assert report.ok


def test_psi_through_the_targets_node_applies_for_the_contract() -> None:
    report = _run(_target("node", Part.PSI_LINK))
    assert report.setup_error is not None and "did not answer" in report.setup_error
    assert not report.ok


def test_a_failed_set_up_is_not_ok_even_when_every_check_was_not_applicable() -> None:
    report = _run(_target(None, Part.MANAGEMENT), "s.node")
    (result,) = report.results
    assert result.outcome is Outcome.NOT_APPLICABLE
    assert report.setup_error is not None
    assert not report.ok


def test_ok_counts_the_set_up_error() -> None:
    report = sample_report((sample_result("a.na", Outcome.NOT_APPLICABLE),))
    assert report.ok
    failed = report.model_copy(update={"setup_error": "contract c not approved within 60 s"})
    assert not failed.ok
    assert json.loads(to_json(failed))["ok"] is False  # what the file's readers see
