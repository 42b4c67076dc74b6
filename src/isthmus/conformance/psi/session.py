"""One PSI scenario end to end: inputs, link, the target's party, the kit's party.

A scenario is (curve, the target's rank, whether the kit sends an invalid point). The
kit writes the target's input (``items`` ids, half of them shared with the kit's own),
sets up the link (the launcher's, a direct gRPC link, or its relay as the target's
transport module), starts the target's party, plays the other rank, and returns what
both sides did. The target's party and everything the kit started are stopped before it
returns, whatever happened, so a failed scenario leaves nothing running.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from isthmus.conformance.psi.eastwest import EastWest
from isthmus.conformance.psi.launch import (
    Launcher,
    RunSpec,
    TargetOutcome,
    TargetRun,
    write_ids,
)
from isthmus.conformance.psi.party import KitParty, PartyObservation
from isthmus.conformance.psi.relay import Relay, RelayRecord
from isthmus.conformance.psi.target import Curve, PsiTarget
from isthmus.link import DirectBackend, LinkBackend

#: How long the kit keeps its party going after the target's ended with an error.
GRACE_S = 1.0


@dataclass(frozen=True)
class Scenario:
    curve: Curve
    target_rank: int
    poisoned: bool = False

    @property
    def name(self) -> str:
        poison = ", kit sends an invalid point" if self.poisoned else ""
        return f"{self.curve.value}, target rank {self.target_rank}{poison}"


@dataclass(frozen=True)
class ScenarioResult:
    scenario: Scenario
    link: str
    session: str
    kit_node_id: str
    target_node_id: str
    kit_items: tuple[str, ...]
    target_items: tuple[str, ...]
    expected: frozenset[str]
    party: PartyObservation
    target: TargetOutcome
    relay_records: tuple[RelayRecord, ...]
    elapsed_ms: float

    @property
    def kit_intersection(self) -> frozenset[str] | None:
        found = self.party.intersection
        return None if found is None else frozenset(i.decode() for i in found)


def inputs(size: int, seed: str) -> tuple[list[str], list[str], frozenset[str]]:
    """(kit's ids, target's ids, the shared ones): half of each side is shared."""
    shared = [f"cfk-common-{i:06d}" for i in range(size // 2)]
    kit = shared + [f"cfk-kit-{i:06d}" for i in range(size - len(shared))]
    target = shared + [f"cfk-target-{i:06d}" for i in range(size - len(shared))]
    shuffle = random.Random(seed)  # noqa: S311 - order only, nothing secret
    shuffle.shuffle(kit)
    shuffle.shuffle(target)
    return kit, target, frozenset(shared)


def free_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


async def run_scenario(
    psi: PsiTarget,
    launcher: Launcher,
    scenario: Scenario,
    *,
    session: str,
    kit_node_id: str,
    east_west: EastWest | None = None,
) -> ScenarioResult:
    kit_items, target_items, expected = inputs(psi.items, session)
    target_rank = scenario.target_rank
    kit_rank = 1 - target_rank
    node_ids = [kit_node_id, kit_node_id]
    node_ids[target_rank] = psi.node_id
    started = time.perf_counter()
    relay: Relay | None = None
    with tempfile.TemporaryDirectory(prefix="isthmus-conformance-psi-") as scratch:
        work = Path(scratch)
        (work / psi.input_file).parent.mkdir(parents=True, exist_ok=True)
        write_ids(work / psi.input_file, target_items)
        addresses: tuple[str, str] | None = None
        if psi.link == "direct":
            pair = ["", ""]
            pair[target_rank] = psi.address or free_address()
            pair[kit_rank] = psi.kit_address or free_address()
            addresses = (pair[0], pair[1])
        elif psi.link == "blackbox":
            relay = Relay(kit_rank=kit_rank, listen=psi.relay_listen)
            await relay.start()
        spec = RunSpec(
            session=session,
            token=f"{session}-token",
            curve=scenario.curve,
            target_rank=target_rank,
            target_items=tuple(target_items),
            workdir=work,
            input_path=work / psi.input_file,
            output_path=work / psi.output_file,
            node_ids=(node_ids[0], node_ids[1]),
            handshake=psi.handshake,
            poisoned=scenario.poisoned,
            addresses=addresses,
            relay=relay,
        )
        backend = launcher.kit_backend(spec) or _kit_backend(spec, east_west)
        party = KitParty(
            rank=kit_rank,
            curve=scenario.curve,
            items=[i.encode() for i in kit_items],
            backend=backend,
            handshake=psi.handshake,
            poison=scenario.poisoned,
            chunk_bytes=psi.kit_chunk_bytes,
            stream_timeout_s=psi.stream_timeout_s,
        )
        run: TargetRun | None = None
        try:
            run = await launcher.launch(spec)
            outcome = await _play(party, run, psi)
        finally:
            if run is not None:
                await run.stop()
            if relay is not None:
                await relay.stop()
        return ScenarioResult(
            scenario=scenario,
            link=psi.link,
            session=session,
            kit_node_id=kit_node_id,
            target_node_id=psi.node_id,
            kit_items=tuple(kit_items),
            target_items=tuple(target_items),
            expected=expected,
            party=party.seen,
            target=outcome,
            relay_records=tuple(relay.records) if relay is not None else (),
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )


def _kit_backend(spec: RunSpec, east_west: EastWest | None) -> LinkBackend:
    if spec.relay is not None:
        return spec.relay.backend()
    if spec.addresses is None:
        if east_west is None:
            raise ValueError("link = node needs the kit's listener and identity (EastWest)")
        return east_west.backend(session=spec.session, token=spec.token, kit_rank=spec.kit_rank)
    return DirectBackend(spec.kit_rank, list(spec.addresses))


async def _play(party: KitParty, run: TargetRun, psi: PsiTarget) -> TargetOutcome:
    """Both parties to their end; the kit gives up on a target that outlives the run
    timeout, and stops its own party shortly after a target that ended badly."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + psi.run_timeout_s
    kit = asyncio.create_task(party.run())
    target = asyncio.create_task(run.wait())
    try:
        done, _ = await asyncio.wait(
            {kit, target}, timeout=psi.run_timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        if target in done and not target.result().succeeded:
            await asyncio.wait({kit}, timeout=GRACE_S)
            return target.result()
        await asyncio.wait({kit, target}, timeout=max(deadline - loop.time(), 0.1))
        if not target.done():
            await run.stop()
            tail = "the kit stopped it: still running after the run timeout"
            return TargetOutcome(None, tail, None)
        return target.result()
    finally:
        if not kit.done():
            party.seen.error = (
                party.seen.error or "the kit stopped its party after the target ended"
            )
        for task in (kit, target):
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if kit.done() and not kit.cancelled() and kit.exception() is not None:
            party.seen.error = party.seen.error or f"kit party: {kit.exception()!r}"
