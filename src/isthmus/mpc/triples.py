"""The seam between the engine and wherever correlated randomness comes from.

A ``TripleSource`` hands this party its additive shares of Beaver triples (A, B, C with
C = A·B or C = A@B over the ring) and of truncation pairs (r, r >> bits, the shift
arithmetic, r uniform in the ring). Every party calls the same methods with the same
sizes in the same order (lockstep): implementations rely on it to keep PRG counters and
link messages in step, and the engine keeps to it.
"""

from __future__ import annotations

from typing import Protocol

from isthmus.mpc.ring import Ring, Tensor


class TripleSource(Protocol):
    ring: Ring

    async def mul(self, shape: tuple[int, ...]) -> tuple[Tensor, Tensor, Tensor]:
        """This party's shares of A, B and C = A*B (elementwise), all of ``shape``."""
        ...

    async def matmul(self, m: int, k: int, n: int) -> tuple[Tensor, Tensor, Tensor]:
        """This party's shares of A (m, k), B (k, n) and C = A@B (m, n)."""
        ...

    async def trunc(self, shape: tuple[int, ...], bits: int) -> tuple[Tensor, Tensor]:
        """This party's shares of r and of r >> bits (arithmetic), r uniform."""
        ...

    async def close(self) -> None: ...
