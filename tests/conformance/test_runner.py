"""The runner against a real Isthmus node, with checks of its own (a test-local registry):
outcomes map as documented, cleanups run in reverse even on failure, unclaimed parts and
(on request) mutating checks are not run, the contract is applied, approved, confirmed
with a valid signature and terminated, and a dry run sends nothing."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from isthmus.conformance import identity, runner
from isthmus.conformance.context import CheckContext
from isthmus.conformance.listener import Received
from isthmus.conformance.model import Outcome, Part
from isthmus.conformance.registry import Registry
from isthmus.conformance.setup import CONTRACT_CONFIRM
from isthmus.wire import paths
from tests.conformance.conftest import IsthmusTarget, RunKit

pytestmark = pytest.mark.multinode

registry = Registry()
CLEANED: list[str] = []
STATES: list[dict[str, object]] = []


@registry.check(
    "t.contract-query", title="Query", part=Part.MANAGEMENT, section="§1.4", plan=["GET query"]
)
async def contract_query(ctx: CheckContext) -> None:
    reply = await ctx.http.signed(
        "GET", paths.NODE_CONTRACT_QUERY, params={"contract_id": ctx.contract_id}, label="query"
    )
    ctx.expect(reply.code == 0, f"code {reply.code}")
    ctx.expect(reply.data.get("status") == "APPROVED", f"status {reply.data}")
    ctx.note("the contract is APPROVED")
    STATES.append(ctx.state)


@registry.check("t.fail", title="Fails", part=Part.MANAGEMENT, section="§1.2", plan=["GET"])
async def fails(ctx: CheckContext) -> None:
    ctx.cleanup(lambda: _clean("first"))
    ctx.cleanup(lambda: _clean("second"))
    reply = await ctx.http.unsigned("GET", paths.NODE_CONTRACT_QUERY, label="unsigned")
    ctx.expect(reply.code == 0, f"an unsigned query is refused with code {reply.code}")


async def _clean(name: str) -> None:
    CLEANED.append(name)


@registry.check("t.na", title="N/A", part=Part.MANAGEMENT, section="§8", plan=["nothing"])
async def not_applicable(ctx: CheckContext) -> None:
    ctx.not_applicable("the target signs with another scheme")


@registry.check("t.error", title="Broken", part=Part.MANAGEMENT, section="§1", plan=["x"])
async def broken(ctx: CheckContext) -> None:
    raise KeyError("a bug in the check")


@registry.check("t.divergent", title="Div", part=Part.MANAGEMENT, section="§1.2", plan=["x"])
async def divergent(ctx: CheckContext) -> None:
    ctx.divergence("answers code 200 (§1.2 Δ)")
    ctx.note("envelope accepted")


@registry.check("t.slow", title="Slow", part=Part.MANAGEMENT, section="§1", plan=["x"])
async def slow(ctx: CheckContext) -> None:
    ctx.cleanup(lambda: _clean("after-timeout"))
    await asyncio.sleep(30)


@registry.check(
    "t.creates", title="Creates", part=Part.MANAGEMENT, section="§1", plan=["x"], mutates=True
)
async def creates(ctx: CheckContext) -> None:
    ctx.note(ctx.ids.new("job"))


@registry.check("t.uas", title="UAS", part=Part.UAS, section="§6", plan=["POST uas"])
async def uas(ctx: CheckContext) -> None:
    raise AssertionError("never run: the part is not claimed")


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    CLEANED.clear()
    STATES.clear()
    yield


def _claims(isthmus_target: IsthmusTarget, *parts: Part) -> object:
    return isthmus_target.target.model_copy(update={"claims": frozenset(parts)})


def test_outcomes_cleanups_and_the_contract(run_kit: RunKit, isthmus_target: IsthmusTarget) -> None:
    target = _claims(isthmus_target, Part.MANAGEMENT)
    report = run_kit(target, checks=registry.all(), options=runner.RunOptions(check_timeout_s=0.5))
    assert report.setup_error is None
    got = {r.check_id: r for r in report.results}
    assert [r.check_id for r in report.results] == [c.check_id for c in registry.all()]
    assert got["t.contract-query"].outcome is Outcome.PASS
    assert got["t.contract-query"].reason == "the contract is APPROVED"
    assert [e.label for e in got["t.contract-query"].exchanges] == ["query"]
    assert got["t.fail"].outcome is Outcome.FAIL
    assert "refused with code 2000" in got["t.fail"].reason
    assert got["t.na"].outcome is Outcome.NOT_APPLICABLE
    assert got["t.error"].outcome is Outcome.ERROR and "KeyError" in got["t.error"].reason
    assert got["t.divergent"].outcome is Outcome.PASS
    assert got["t.divergent"].divergence == "answers code 200 (§1.2 Δ)"
    assert got["t.slow"].outcome is Outcome.ERROR and "did not finish" in got["t.slow"].reason
    assert got["t.creates"].outcome is Outcome.PASS
    assert got["t.creates"].reason.startswith(f"cfk{report.run_id}-job-")
    assert got["t.uas"].outcome is Outcome.NOT_APPLICABLE and got["t.uas"].reason == "not claimed"
    assert CLEANED == ["second", "first", "after-timeout"]
    assert not report.ok
    # set-up: applied, confirmed by the target (signed with its key), torn down
    labels = [e.label for e in report.setup]
    assert labels == ["set-up: contract apply", "tear-down: contract terminate"]
    confirm = STATES[0][CONTRACT_CONFIRM]
    assert isinstance(confirm, Received) and confirm.signature_valid is True
    assert confirm.json["status"] == "APPROVED"
    status = isthmus_target.node.admin.get(f"/contracts/{confirm.json['contract_id']}")
    assert status["status"] == "TERMINATED"


def test_the_listener_tells_a_signature_by_another_key(
    run_kit: RunKit, isthmus_target: IsthmusTarget
) -> None:
    """Mutation of the target description: with someone else's key on file, the
    target's confirm no longer verifies, and the listener records exactly that."""
    stranger = identity.ephemeral().public_key_pem
    target = isthmus_target.target.model_copy(
        update={"claims": frozenset({Part.MANAGEMENT}), "public_key_pem": stranger}
    )
    report = run_kit(target, checks=registry.all(), patterns=["t.contract-query"])
    assert report.results[0].outcome is Outcome.PASS
    assert STATES[0][CONTRACT_CONFIRM].signature_valid is False


def test_a_read_only_run_skips_checks_that_create_state(
    run_kit: RunKit, isthmus_target: IsthmusTarget
) -> None:
    report = run_kit(
        _claims(isthmus_target, Part.MANAGEMENT),
        checks=registry.all(),
        patterns=["t.creates", "t.divergent"],
        allow_mutating=False,
    )
    outcomes = {r.check_id: r.outcome for r in report.results}
    assert outcomes == {"t.divergent": Outcome.PASS, "t.creates": Outcome.NOT_APPLICABLE}
    assert "not allowed" in report.results[1].reason


def test_an_operator_who_never_approves_leaves_checks_in_error_and_nothing_behind(
    run_kit: RunKit, isthmus_target: IsthmusTarget
) -> None:
    target = isthmus_target.target.model_copy(
        update={"claims": frozenset({Part.MANAGEMENT}), "approval_timeout_s": 0.3}
    )
    report = run_kit(target, checks=registry.all(), patterns=["t.contract-query"], approve=None)
    assert report.setup_error is not None and "not approved" in report.setup_error
    (result,) = report.results
    assert result.outcome is Outcome.ERROR and "no approved contract" in result.reason
    assert report.setup[-1].label == "tear-down: contract terminate"


def _refusing_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_an_unreachable_target_is_the_kits_error_not_the_targets_failure(
    isthmus_target: IsthmusTarget,
) -> None:
    target = isthmus_target.target.model_copy(
        update={
            "address": _refusing_address(),
            "contract_id": "given-contract",
            "claims": frozenset({Part.MANAGEMENT}),
        }
    )
    report = asyncio.run(
        runner.run(target, identity.ephemeral(), checks=registry.all(), patterns=["t.fail"])
    )
    (result,) = report.results
    assert result.outcome is Outcome.ERROR and "no answer" in result.reason
    assert report.setup == ()  # a given contract is neither applied for nor terminated
    assert CLEANED == ["second", "first"]


def test_a_dry_run_sends_nothing_and_lists_each_plan() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.setblocking(False)
        from isthmus.conformance.model import Target

        target = Target(
            node_id="PROD",
            address=f"http://127.0.0.1:{server.getsockname()[1]}",
            claims=frozenset({Part.MANAGEMENT}),
        )
        report = asyncio.run(
            runner.run(target, identity.ephemeral(), checks=registry.all(), dry_run=True)
        )
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected
    assert report.dry_run and report.setup == ()
    assert all(r.outcome is Outcome.NOT_APPLICABLE for r in report.results)
    got = {r.check_id: r.reason for r in report.results}
    assert got["t.contract-query"] == "dry run: would send: GET query"
    assert got["t.uas"] == "not claimed"
