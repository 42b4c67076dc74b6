"""An Isthmus ECDH-PSI party in the kit's own process: the kit checking its own engine.

``isthmus.conformance.psi.inprocess:launcher`` as ``PsiTarget.launcher`` runs the
``ecdh_psi`` component's two-party engine (``EcdhPsi2``, the code a node's container
runs) as the target: over an in-memory link for ``link = "direct"``, or through the
kit's relay with the component's own ``BlackboxBackend`` for ``link = "blackbox"``. An
``AlgorithmError`` or ``LinkError`` ends it with exit status 70 (what the component's
container exits with); any other exception is reported as a crash (status -6), which is
what a check must catch. ``engine`` lets a test substitute a deliberately broken party.
"""

from __future__ import annotations

import asyncio
import contextlib
import traceback
from concurrent.futures import ThreadPoolExecutor

from isthmus.components.builtin.ecdh_psi.handshake import Offer, negotiate
from isthmus.components.builtin.ecdh_psi.protocol import EcdhPsi2, PsiSettings
from isthmus.components.errors import AlgorithmError
from isthmus.conformance.psi.launch import RunSpec, TargetOutcome, write_ids
from isthmus.conformance.psi.party import SUITES
from isthmus.conformance.psi.relay import PARTIES
from isthmus.conformance.psi.target import PsiTarget
from isthmus.link import BlackboxBackend, LinkBackend, LinkContext, MemoryNetwork
from isthmus.wire.errors import LinkError

#: The component's exit status for an algorithm failure (``AlgorithmError``).
EXIT_ALGORITHM = 70
EXIT_CRASH = -6


class _Run:
    def __init__(self, task: asyncio.Task[TargetOutcome]) -> None:
        self.task = task

    async def wait(self) -> TargetOutcome:
        return await asyncio.shield(self.task)

    async def stop(self) -> None:
        if not self.task.done():
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task


class InProcessLauncher:
    def __init__(self, psi: PsiTarget, engine: type[EcdhPsi2] = EcdhPsi2) -> None:
        self.psi = psi
        self.engine = engine
        self._network: MemoryNetwork | None = None

    def kit_backend(self, spec: RunSpec) -> LinkBackend | None:
        if spec.relay is not None:
            return None  # the kit's party is on the relay
        self._network = MemoryNetwork()
        return self._network.backend(spec.kit_rank)

    async def launch(self, spec: RunSpec) -> _Run:
        if spec.relay is not None:
            backend: LinkBackend = BlackboxBackend(
                transport=spec.relay.address,
                session_id=spec.session,
                token=spec.token,
                parties=list(PARTIES),
                self_rank=spec.target_rank,
                node_ids=list(spec.node_ids),
                trace_id=f"{spec.session}-trace",
            )
        else:
            assert self._network is not None, "kit_backend first"
            backend = self._network.backend(spec.target_rank)
        return _Run(asyncio.create_task(self._party(spec, backend)))

    async def _party(self, spec: RunSpec, backend: LinkBackend) -> TargetOutcome:
        suite = SUITES[spec.curve]
        link = LinkContext(spec.target_rank, 2, backend, recv_timeout_s=self.psi.stream_timeout_s)
        items = [i.encode() for i in spec.target_items]
        try:
            await link.start(connect_timeout_s=self.psi.stream_timeout_s)
            settings = PsiSettings(suite=suite, workers=1)
            if spec.handshake:
                others = [s for s in SUITES.values() if s is not suite]
                settings = await negotiate(link, Offer([suite, *others], len(items), -1), settings)
            with ThreadPoolExecutor(max_workers=1) as executor:
                found = await self.engine(link, settings, executor).run(items)
            await link.close()
        except (AlgorithmError, LinkError) as exc:
            await backend.stop()
            return TargetOutcome(EXIT_ALGORITHM, f"ecdh_psi failed: {exc}", None)
        except Exception:  # a crash is what the checks must see
            await backend.stop()
            return TargetOutcome(EXIT_CRASH, traceback.format_exc()[-2000:], None)
        rows = sorted(spec.target_items[i] for i in (found or set()))
        write_ids(spec.output_path, rows)
        return TargetOutcome(0, f"ecdh_psi: {len(rows)} rows in the intersection", frozenset(rows))


def launcher(psi: PsiTarget) -> InProcessLauncher:
    """The factory ``PsiTarget.launcher`` names."""
    return InProcessLauncher(psi)
