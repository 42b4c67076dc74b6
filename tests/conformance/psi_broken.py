"""Deliberately broken ECDH-PSI parties for the kit to catch (launcher factories).

Each is the component's own engine with ONE behaviour patched, run in-process by
``isthmus.conformance.psi.inprocess``; nothing in production code knows about them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import replace

from isthmus.components.builtin.ecdh_psi.protocol import ENC, EcdhPsi2, PsiSettings, encode_packed
from isthmus.conformance.psi.inprocess import InProcessLauncher
from isthmus.conformance.psi.target import PsiTarget
from isthmus.crypto.ecdh import EcdhSuite, InvalidPoint
from isthmus.link import LinkContext


class SkipsEmptyLastBatch(EcdhPsi2):
    """Marks its last data batch as the last one instead of sending the empty batch
    that must end the enc stream (digest §5.2)."""

    async def _send_mine(self, batches: Iterable[Sequence[bytes] | bytes], sent: list[int]) -> None:
        todo = list(batches)
        for index, batch in enumerate(todo):
            if isinstance(batch, bytes):  # points already (a HashedSpool's batches)
                count = len(batch) // self.settings.suite.point_bytes
                masked = await self._parallel_points(batch, "own.mask")
            else:
                count = len(batch)
                masked = await self._parallel_items(batch)
            sent.append(count)
            last = index == len(todo) - 1
            await self.link.send(self.peer, encode_packed(ENC, index, masked, count, last=last))


def skips_empty_last_batch(psi: PsiTarget) -> InProcessLauncher:
    return InProcessLauncher(psi, engine=SkipsEmptyLastBatch)


class _Lenient(EcdhSuite):
    """The real suite, except that a point it must refuse is masked as if it were
    another one: the invalid point is silently accepted."""

    def __init__(self, inner: EcdhSuite) -> None:
        self.inner = inner
        self.curve, self.hash, self.hash2curve = inner.curve, inner.hash, inner.hash2curve
        self.point_bytes, self.low_order_at_end = inner.point_bytes, inner.low_order_at_end

    def new_secret(self) -> bytes:
        return self.inner.new_secret()

    def hash_to_point(self, item: bytes) -> bytes:
        return self.inner.hash_to_point(item)

    def mask_many(self, secret: bytes, points: Sequence[bytes]) -> list[bytes]:
        out = []
        for point in points:
            try:
                out.append(self.inner.mask(secret, point))
            except InvalidPoint:
                out.append(self.inner.mask(secret, self.inner.hash_to_point(point)))
        return out


class AcceptsInvalidPoints(EcdhPsi2):
    """Never refuses a peer's point (digest §5.2: points are checked)."""

    def __init__(self, link: LinkContext, settings: PsiSettings, executor: Executor) -> None:
        super().__init__(link, replace(settings, suite=_Lenient(settings.suite)), executor)


class TruncatesTheWrongEnd(EcdhPsi2):
    """Sends the leading 12 bytes of each double-masked point instead of the trailing
    ones SecretFlow compares (digest §5.2)."""

    def __init__(self, link: LinkContext, settings: PsiSettings, executor: Executor) -> None:
        super().__init__(link, replace(settings, compare_from_end=False), executor)


def accepts_invalid_points(psi: PsiTarget) -> InProcessLauncher:
    return InProcessLauncher(psi, engine=AcceptsInvalidPoints)


def truncates_the_wrong_end(psi: PsiTarget) -> InProcessLauncher:
    return InProcessLauncher(psi, engine=TruncatesTheWrongEnd)
