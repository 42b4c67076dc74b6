"""The ECDH-PSI wire checks (part ``ecdh-psi-link``; digest §4.4, §4.5, §5.1, §5.2).

The kit runs each scenario once per conformance run (every claimed curve and every rank
the target takes, plus one run per curve in which the kit sends an invalid point),
playing the other rank with its observing party (``conformance.psi.party``) over the
direct gRPC link, as the target's transport module for the blackbox link
(``conformance.psi.relay``), or as the target node's east-west partner for the node
link (``conformance.psi.eastwest``).
Every check then judges the recorded scenarios (``conformance.psi.judge``); the first
check that needs a scenario runs it and later ones reuse it (``ctx.state``). Each check
attaches the link messages it judged as its evidence. A divergence the digest documents
(SecretFlow's truncation, yacl's header typo and sequence suffixes) is a PASS with the
divergence named.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from isthmus.conformance.context import CheckContext
from isthmus.conformance.model import Exchange, Part
from isthmus.conformance.psi import judge
from isthmus.conformance.psi.eastwest import EastWest
from isthmus.conformance.psi.launch import Launcher, load_launcher
from isthmus.conformance.psi.session import Scenario, ScenarioResult, run_scenario
from isthmus.conformance.psi.target import Curve, PsiTarget
from isthmus.conformance.registry import check

_RESULTS, _LOCK, _LAUNCHER = "psi.results", "psi.lock", "psi.launcher"
_EVIDENCE_LINES = 60
_LOG_TAIL = 1500
_PLAN = (
    "start the target's PSI party with kit-written ids (half shared with the kit's)",
    "play the other rank over the claimed link (direct gRPC, or as its transport module)",
    "record every link message both ways; judge the recording",
)


def _psi(ctx: CheckContext) -> PsiTarget:
    psi = ctx.target.psi
    if psi is None:
        ctx.not_applicable("the target file has no [psi] section: how to start its PSI party")
    return psi


def _launcher(ctx: CheckContext, psi: PsiTarget) -> Launcher:
    if _LAUNCHER not in ctx.state:
        ctx.state[_LAUNCHER] = load_launcher(psi)
    launcher: Launcher = ctx.state[_LAUNCHER]
    return launcher


async def scenario_result(ctx: CheckContext, scenario: Scenario) -> ScenarioResult:
    """The scenario's recording, run on first use in this conformance run."""
    psi = _psi(ctx)
    results: dict[Scenario, ScenarioResult] = ctx.state.setdefault(_RESULTS, {})
    lock: asyncio.Lock = ctx.state.setdefault(_LOCK, asyncio.Lock())
    async with lock:
        if scenario not in results:
            results[scenario] = await run_scenario(
                psi,
                _launcher(ctx, psi),
                scenario,
                session=f"session_{ctx.ids.new('psi')}",
                kit_node_id=ctx.kit.node_id,
                east_west=_east_west(ctx, psi),
            )
    return results[scenario]


def _east_west(ctx: CheckContext, psi: PsiTarget) -> EastWest | None:
    if psi.link != "node":
        return None
    return EastWest(
        listener=ctx.listener,
        identity=ctx.kit.identity,
        target_address=ctx.target.address,
        target_node_id=ctx.target.node_id,
    )


def normal_scenarios(psi: PsiTarget) -> list[Scenario]:
    return [Scenario(c, r) for c in sorted(psi.curves) for r in sorted(psi.ranks)]


def _evidence(ctx: CheckContext, result: ScenarioResult, *, transport: bool = False) -> None:
    party = result.party
    if transport:
        request = "\n".join(r.describe() for r in result.relay_records[:_EVIDENCE_LINES])
        response = f"{len(result.relay_records)} calls to the kit's relay"
    else:
        request = "\n".join(
            r.describe() for r in party.records[:_EVIDENCE_LINES] if r.direction == "out"
        )
        lines = [r.describe() for r in party.records if r.direction == "in"][:_EVIDENCE_LINES]
        lines += describe_batches("enc", party.peer_enc) + describe_batches(
            "dual.enc", party.peer_dual
        )
        lines.append(
            f"target's party: status {result.target.returncode}; kit's party: "
            f"{party.error or 'completed'}"
        )
        if not result.target.succeeded:  # why it ended: the end of its own log
            lines.append("target's log (end): " + result.target.log_tail[-_LOG_TAIL:])
        response = "\n".join(lines)
    label = f"ECDH-PSI over the {result.link} link: {result.scenario.name}"
    ctx.http.exchanges.append(Exchange(label, request, response, result.elapsed_ms))


def describe_batches(kind: str, raw: list[bytes]) -> list[str]:
    out = []
    for position, batch in enumerate(judge.batches(raw)):
        if batch is None:
            out.append(f"{kind} #{position}: not an EcdhPsiCipherBatch")
            continue
        out.append(
            f"{kind} #{position}: type {batch.type!r} batch_index {batch.batch_index} "
            f"is_last_batch {batch.is_last_batch} count {batch.count} "
            f"ciphertext {len(batch.ciphertext)} B"
        )
    return out


async def _judge(
    ctx: CheckContext,
    scenarios: Iterable[Scenario],
    rule: Callable[[ScenarioResult], judge.Verdict],
    *,
    transport: bool = False,
) -> None:
    passed: list[str] = []
    failed: list[str] = []
    for scenario in scenarios:
        result = await scenario_result(ctx, scenario)
        verdict = rule(result)
        _evidence(ctx, result, transport=transport)
        for text in verdict.divergences:
            if text not in ctx.divergences:
                ctx.divergence(text)
        (passed if verdict.ok else failed).append(f"{scenario.name}: {verdict.reason}")
    if failed:
        ctx.fail("; ".join(failed))
    if not passed:
        ctx.not_applicable("no scenario applies")
    ctx.note("; ".join(passed))


# --- one check per curve and rank: the protocol completes with the right result --------


def _run_check(curve: Curve, rank: int) -> None:
    @check(
        f"psi.run.{curve.bfia}.target-rank{rank}",
        title=f"ECDH-PSI on {curve.value} with the target as rank {rank}: both sides find "
        "exactly the shared ids",
        part=Part.PSI_LINK,
        section="§5.2",
        plan=_PLAN,
    )
    async def run_check(ctx: CheckContext) -> None:
        psi = _psi(ctx)
        if curve not in psi.curves:
            ctx.not_applicable(f"the target does not claim {curve.value}")
        if rank not in psi.ranks:
            ctx.not_applicable(f"the target does not take rank {rank}")
        await _judge(ctx, [Scenario(curve, rank)], judge.run)


for _curve in Curve:
    for _rank in (0, 1):
        _run_check(_curve, _rank)


# --- the white-box link (§4.5) ----------------------------------------------------------


@check(
    "psi.link.connect",
    title="The target opens the link with an empty connect_<rank>",
    part=Part.PSI_LINK,
    section="§4.5",
    plan=_PLAN,
)
async def link_connect(ctx: CheckContext) -> None:
    await _judge(ctx, normal_scenarios(_psi(ctx)), judge.connect)


@check(
    "psi.link.keys",
    title="P2P keys numbered from 1 per channel: enc on root, dual.enc on root-0, nothing else",
    part=Part.PSI_LINK,
    section="§4.5",
    plan=_PLAN,
)
async def link_keys(ctx: CheckContext) -> None:
    await _judge(ctx, normal_scenarios(_psi(ctx)), judge.link_keys)


@check(
    "psi.link.fin",
    title="The target closes with FIN carrying the count of its numbered messages",
    part=Part.PSI_LINK,
    section="§4.5",
    plan=_PLAN,
)
async def link_fin(ctx: CheckContext) -> None:
    await _judge(ctx, normal_scenarios(_psi(ctx)), judge.fin)


@check(
    "psi.link.chunked",
    title="The target reassembles the kit's CHUNKED messages",
    part=Part.PSI_LINK,
    section="§4.5",
    plan=_PLAN,
)
async def link_chunked(ctx: CheckContext) -> None:
    await _judge(ctx, normal_scenarios(_psi(ctx)), judge.chunked)


# --- batches, truncation, points (§5.2) -------------------------------------------------


@check(
    "psi.batch.framing",
    title="EcdhPsiCipherBatch framing: type, index from 0, count <= 4096, sizes, dual answers",
    part=Part.PSI_LINK,
    section="§5.2",
    plan=_PLAN,
)
async def batch_framing(ctx: CheckContext) -> None:
    await _judge(ctx, normal_scenarios(_psi(ctx)), judge.framing)


@check(
    "psi.batch.empty-last",
    title="Each stream ends with one empty batch marked is_last_batch",
    part=Part.PSI_LINK,
    section="§5.2",
    plan=_PLAN,
)
async def batch_empty_last(ctx: CheckContext) -> None:
    await _judge(ctx, normal_scenarios(_psi(ctx)), judge.empty_last)


@check(
    "psi.truncation",
    title="Dual-masked values truncated as the spec (or the handshake) says",
    part=Part.PSI_LINK,
    section="§5.2",
    plan=_PLAN,
)
async def truncation(ctx: CheckContext) -> None:
    await _judge(ctx, normal_scenarios(_psi(ctx)), judge.truncation)


@check(
    "psi.points.valid",
    title="The target's points are valid encodings on the negotiated curve",
    part=Part.PSI_LINK,
    section="§5.2",
    plan=_PLAN,
)
async def points_valid(ctx: CheckContext) -> None:
    await _judge(ctx, normal_scenarios(_psi(ctx)), judge.points_valid)


@check(
    "psi.points.invalid-refused",
    title="An invalid point from the kit is refused without a crash or a hang",
    part=Part.PSI_LINK,
    section="§5.2",
    plan=(
        "start the target's PSI party once per claimed curve",
        "send an enc batch whose first point is invalid (X25519 u=0; SM2 x off the curve)",
        "expect the target to refuse it and end; not crash, hang or match it",
    ),
)
async def points_invalid_refused(ctx: CheckContext) -> None:
    psi = _psi(ctx)
    if not psi.invalid_point:
        ctx.not_applicable("invalid_point = false in the target file")
    rank = min(psi.ranks)
    await _judge(
        ctx, [Scenario(c, rank, poisoned=True) for c in sorted(psi.curves)], judge.invalid_refused
    )


# --- handshake (§5.1) -------------------------------------------------------------------


def _handshake_scenarios(ctx: CheckContext, target_rank: int) -> list[Scenario]:
    psi = _psi(ctx)
    if not psi.handshake:
        ctx.not_applicable(
            "BFIA mode: no handshake, the parameters arrive as environment variables (§5.1)"
        )
    if target_rank not in psi.ranks:
        ctx.not_applicable(f"the target does not take rank {target_rank}")
    return [Scenario(c, target_rank) for c in sorted(psi.curves)]


@check(
    "psi.handshake.request",
    title="As rank 1 the target sends a v2 HandshakeRequest for ECDH-PSI",
    part=Part.PSI_LINK,
    section="§5.1",
    plan=_PLAN,
)
async def handshake_request(ctx: CheckContext) -> None:
    await _judge(ctx, _handshake_scenarios(ctx, 1), judge.handshake_request)


@check(
    "psi.handshake.response",
    title="As rank 0 the target answers a HandshakeResponse with its ECC and IO results",
    part=Part.PSI_LINK,
    section="§5.1",
    plan=_PLAN,
)
async def handshake_response(ctx: CheckContext) -> None:
    await _judge(ctx, _handshake_scenarios(ctx, 0), judge.handshake_response)


# --- the target's transport calls, blackbox link (§4.4) ---------------------------------


def _blackbox(ctx: CheckContext) -> list[Scenario]:
    psi = _psi(ctx)
    if psi.link != "blackbox":
        ctx.not_applicable(
            f"the {psi.link} link: the kit is not the party's transport module "
            "(a node's transport is judged by the transport parts)"
        )
    return normal_scenarios(psi)


@check(
    "psi.transport.headers",
    title="The party's push/pop carry the x-ptp-* headers and topics <self>-<peer>",
    part=Part.PSI_LINK,
    section="§4.4",
    plan=_PLAN,
)
async def transport_headers(ctx: CheckContext) -> None:
    await _judge(ctx, _blackbox(ctx), judge.transport_headers, transport=True)


@check(
    "psi.transport.push-body",
    title="Push bodies are serialized PushRequests",
    part=Part.PSI_LINK,
    section="§4.4",
    plan=_PLAN,
)
async def transport_push_body(ctx: CheckContext) -> None:
    await _judge(ctx, _blackbox(ctx), judge.transport_bodies, transport=True)
