"""An in-process trusted dealer for the semi2k engine: tests and benchmarks only.

Every party derives *every* party's shares of each triple from one common seed and keeps
its own, so the triples are correct and the parties stay in step without a message, but
every party could reconstruct every triple: **no security at all**. It exists so engine
tests and benchmarks exercise the protocol without a Beaver service or HE cost.

It implements the fixed-mask extension (``FixedMaskTriples``) by keeping each fixed A
in the clear under its handle (the PRG counter before A was drawn).
"""

from __future__ import annotations

from isthmus.mpc.prg import Prg
from isthmus.mpc.ring import Ring, Tensor


class SeededDealer:
    """A ``TripleSource`` whose triples come from a seed all parties share (insecure)."""

    def __init__(self, ring: Ring, rank: int, world_size: int, seed: bytes = bytes(16)) -> None:
        self.ring = ring
        self.rank = rank
        self.world_size = world_size
        self._prg = Prg(seed)
        self._fixed: dict[int, Tensor] = {}

    def _split(self, value: Tensor, shape: tuple[int, ...]) -> Tensor:
        """Rank r's share of ``value``: random for ranks > 0, the rest for rank 0."""
        others = [self._prg.ring(self.ring, shape) for _ in range(1, self.world_size)]
        if self.rank > 0:
            return others[self.rank - 1]
        out = value
        for share in others:
            out = self.ring.sub(out, share)
        return out

    async def mul(self, shape: tuple[int, ...]) -> tuple[Tensor, Tensor, Tensor]:
        a = self._prg.ring(self.ring, shape)
        b = self._prg.ring(self.ring, shape)
        c = self.ring.mul(a, b)
        return self._split(a, shape), self._split(b, shape), self._split(c, shape)

    async def matmul(self, m: int, k: int, n: int) -> tuple[Tensor, Tensor, Tensor]:
        a = self._prg.ring(self.ring, (m, k))
        b = self._prg.ring(self.ring, (k, n))
        c = self.ring.matmul(a, b)
        return self._split(a, (m, k)), self._split(b, (k, n)), self._split(c, (m, n))

    async def fixed(self, m: int, k: int) -> tuple[int, Tensor]:
        handle = self._prg.counter
        a = self._prg.ring(self.ring, (m, k))
        self._fixed[handle] = a
        return handle, self._split(a, (m, k))

    async def matmul_for(
        self, handle: int, n: int, *, transpose: bool = False
    ) -> tuple[Tensor, Tensor]:
        a = self._fixed[handle]
        if transpose:
            a = self.ring.transpose(a)
        rows, inner = self.ring.shape(a)
        b = self._prg.ring(self.ring, (inner, n))
        c = self.ring.matmul(a, b)
        return self._split(b, (inner, n)), self._split(c, (rows, n))

    async def trunc(self, shape: tuple[int, ...], bits: int) -> tuple[Tensor, Tensor]:
        r = self._prg.ring(self.ring, shape)
        return self._split(r, shape), self._split(self.ring.arshift(r, bits), shape)

    async def trunc_pr(self, shape: tuple[int, ...], bits: int) -> tuple[Tensor, Tensor, Tensor]:
        """Shares of r, of (r mod 2^(L-1)) >> bits and of msb(r), as the Beaver service's
        TruncPr gives them."""
        ring = self.ring
        r = self._prg.ring(ring, shape)
        low = ring.arshift(ring.low_bits(r, ring.bits - 1), bits)
        msb = ring.neg(ring.arshift(r, ring.bits - 1))
        return self._split(r, shape), self._split(low, shape), self._split(msb, shape)

    async def close(self) -> None:
        return None
