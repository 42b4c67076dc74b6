"""Deliberately broken ECDH-PSI parties for the kit to catch (launcher factories).

Each is the component's own engine with ONE behaviour patched, run in-process by
``isthmus.conformance.psi.inprocess``; nothing in production code knows about them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from isthmus.components.builtin.ecdh_psi.protocol import ENC, EcdhPsi2, encode_batch
from isthmus.conformance.psi.inprocess import InProcessLauncher
from isthmus.conformance.psi.target import PsiTarget


class SkipsEmptyLastBatch(EcdhPsi2):
    """Marks its last data batch as the last one instead of sending the empty batch
    that must end the enc stream (digest §5.2)."""

    async def _send_mine(self, batches: Iterable[Sequence[bytes]], sent: list[int]) -> None:
        todo = list(batches)
        for index, batch in enumerate(todo):
            masked = await self._parallel(self.settings.suite.hash_and_mask, batch)
            sent.append(len(batch))
            last = index == len(todo) - 1
            await self.link.send(self.peer, encode_batch(ENC, index, masked, last=last))


def skips_empty_last_batch(psi: PsiTarget) -> InProcessLauncher:
    return InProcessLauncher(psi, engine=SkipsEmptyLastBatch)
