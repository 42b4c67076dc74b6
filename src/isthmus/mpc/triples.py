"""The seam between the engine and wherever correlated randomness comes from.

A ``TripleSource`` hands this party its additive shares of Beaver triples (A, B, C with
C = A·B or C = A@B over the ring) and of truncation pairs (r, r >> bits, the shift
arithmetic, r uniform in the ring). Every party calls the same methods with the same
sizes in the same order (lockstep): implementations rely on it to keep PRG counters and
link messages in step, and the engine keeps to it.

``FixedMaskTriples`` is an optional extension (SecureML §4.2): a source that can hand out
matrix triples whose A stays the same across many products, for a left operand X that
does not change (SS-LR's batches, every epoch). ``fixed(m, k)`` draws A (m, k) once and
names it by a handle; each ``matmul_for(handle, n, transpose=...)`` then draws a fresh B
and C = A@B (or Aᵀ@B). A source without it makes the engine fall back to ordinary
triples: ``HeTripleSource`` does not implement it (it could keep A's ciphertexts, but
each reuse would still cost a homomorphic product per (B, C); not built).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

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


@runtime_checkable
class FixedMaskTriples(Protocol):
    """The optional fixed-mask extension; see the module docstring. Handles are the
    same on every rank (they depend only on the sequence of calls, as the draws do)."""

    async def fixed(self, m: int, k: int) -> tuple[int, Tensor]:
        """(handle, this party's share of a fresh A of shape (m, k))."""
        ...

    async def matmul_for(
        self, handle: int, n: int, *, transpose: bool = False
    ) -> tuple[Tensor, Tensor]:
        """This party's shares of a fresh B and of C for the A named by ``handle``:
        B (k, n) and C = A@B (m, n), or with ``transpose`` B (m, n) and C = Aᵀ@B (k, n)."""
        ...


@runtime_checkable
class ExactTruncTriples(Protocol):
    """The optional exact-truncation extension (the Beaver service's ``AdjustTruncPr``):
    with it the engine's ``precise`` mode truncates with at most one unit of error in
    the last place and no large error at all (docs/protocol.md §15.6)."""

    async def trunc_pr(self, shape: tuple[int, ...], bits: int) -> tuple[Tensor, Tensor, Tensor]:
        """This party's shares of r (uniform in the ring), of (r mod 2^(L-1)) >> bits and
        of msb(r) in {0, 1}."""
        ...
