"""Semi2k: additive secret sharing over Z/2^64 or Z/2^128 with fixed-point values.

Guarantees this module keeps (docs/protocol.md §15 has the full rules and their error):

* every party holds ``Shared.share`` with ``Σ_i share_i = encode(value)`` (mod 2^bits);
  nothing but random-looking shares and masked openings (X-A, Y-B, x-r) ever leaves a
  party, and a value is only revealed by ``reveal``/``reveal_ring`` to the ranks asked;
* products use Beaver triples from a ``TripleSource`` and are truncated back to
  ``fxp_bits`` fraction bits: 2-party probabilistic truncation is local (the PDF's
  rule), ``precise`` uses TruncPr tuples when the source has them (exact: within one
  unit in the last place, always), every other case a truncation pair; the truncated
  value is within one unit in the last place except with the small probability stated
  in §15;
* every party calls the same methods with the same shapes in the same order
  (lockstep): the link keys, the PRG counters of constant sharing and the triple
  source stay in step only then;
* ``fixed_left``/``matmul_fixed`` (opt-in) reuse one Beaver mask A of a matrix X that
  does not change across many products, opening E = X - A once (``mpc/fixed.py`` has
  why that is safe, and the rule: one mask, one X);
* ``less`` is exact (a bit comparison, ``mpc/compare.py``) while |x - y| fits the ring;
* a peer's share of the wrong length raises ``MpcShareMismatch`` naming its rank and
  both sizes; a peer that never answers surfaces as the link's ``LinkTimeout``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from isthmus.link.context import LinkContext
from isthmus.mpc.compare import less_than
from isthmus.mpc.fixed import FixedLeft, product_share
from isthmus.mpc.prg import SEED_BYTES, Prg, PrgCrypto
from isthmus.mpc.ring import Ring, Tensor
from isthmus.mpc.shared import Shared
from isthmus.mpc.triples import ExactTruncTriples, FixedMaskTriples, TripleSource
from isthmus.wire.errors import MpcError, MpcInputError, MpcShareMismatch

TruncMode = Literal["probabilistic", "precise"]
__all__ = ["FixedLeft", "Semi2k", "Shared", "TruncMode"]


class Semi2k:
    """The engine of one party; see the module docstring for what it guarantees."""

    def __init__(
        self,
        link: LinkContext,
        ring: Ring,
        fxp_bits: int,
        triples: TripleSource,
        *,
        trunc_mode: TruncMode = "probabilistic",
        prg_crypto: PrgCrypto = "AES128_CTR",
    ) -> None:
        if link.world_size < 2:
            raise MpcInputError("semi2k needs at least two parties")
        if not 0 <= fxp_bits < ring.bits - 2:
            raise MpcInputError(f"fxp_bits {fxp_bits} does not fit ring {ring.bits}")
        if triples.ring != ring:
            raise MpcInputError(f"the triple source works in {triples.ring}, not {ring}")
        if trunc_mode not in ("probabilistic", "precise"):
            raise MpcInputError(f"unknown truncation mode {trunc_mode!r}")
        self.link = link
        self.rank = link.rank
        self.world_size = link.world_size
        self.ring = ring
        self.fxp_bits = fxp_bits
        self.triples = triples
        self.trunc_mode: TruncMode = trunc_mode
        self.prg_crypto: PrgCrypto = prg_crypto
        self._own: Prg | None = None
        self._prev: Prg | None = None

    # --- set-up ---------------------------------------------------------------------

    async def setup(self) -> None:
        """Exchange the constant-sharing seeds: ours to rank+1, rank-1's to us."""
        seed = os.urandom(SEED_BYTES)
        nxt = (self.rank + 1) % self.world_size
        prv = (self.rank - 1) % self.world_size
        await self.link.send(nxt, seed)
        theirs = await self.link.recv(prv)
        if len(theirs) != SEED_BYTES:
            raise MpcShareMismatch(
                f"rank {prv} sent a PRG seed of {len(theirs)} bytes, expected {SEED_BYTES}",
                details={"rank": prv, "expected": SEED_BYTES, "received": len(theirs)},
            )
        self._own = Prg(seed, self.prg_crypto)
        self._prev = Prg(theirs, self.prg_crypto)

    @property
    def prg_counters(self) -> tuple[int, int]:
        """(own seed's counter, previous rank's seed's counter): for tests and audits."""
        own, prev = self._prgs()
        return own.counter, prev.counter

    def _prgs(self) -> tuple[Prg, Prg]:
        if self._own is None or self._prev is None:
            raise MpcError("Semi2k.setup() was not awaited")
        return self._own, self._prev

    # --- sharing --------------------------------------------------------------------

    def encode(self, value: Any, shape: tuple[int, ...] | None = None) -> Tensor:
        arr = np.asarray(value, dtype=np.float64)
        if shape is not None:
            try:
                arr = np.broadcast_to(arr, shape)
            except ValueError:
                raise MpcInputError(f"a value of shape {arr.shape} does not fit {shape}") from None
        return self.ring.encode(arr, self.fxp_bits)

    def input(self, owner: int, value: NDArray[Any] | None, shape: tuple[int, ...]) -> Shared:
        """The PDF's initial sharing: the owner's share is its encoded value, every other
        party's is zero; nothing is sent."""
        if not 0 <= owner < self.world_size:
            raise MpcInputError(f"owner rank {owner} outside the world of {self.world_size}")
        shape = tuple(shape)
        if self.rank != owner:
            return Shared(self.ring.zeros(shape), shape)
        if value is None or tuple(np.shape(value)) != shape:
            got = None if value is None else tuple(np.shape(value))
            raise MpcInputError(f"the owner's input has shape {got}, declared {shape}")
        return Shared(self.encode(value), shape)

    def constant(self, value: NDArray[Any] | float, shape: tuple[int, ...] | None = None) -> Shared:
        """PRG sharing of a public constant: share_i = [i==0]·p + r_i - r_{i-1}."""
        shape = tuple(np.shape(value)) if shape is None else tuple(shape)
        encoded = self.encode(value, shape)  # every party refuses a bad value alike
        own, prev = self._prgs()
        mask = self.ring.sub(own.ring(self.ring, shape), prev.ring(self.ring, shape))
        if self.rank == 0:
            mask = self.ring.add(mask, encoded)
        return Shared(mask, shape)

    # --- linear, local --------------------------------------------------------------

    def _same(self, x: Shared, y: Shared) -> None:
        if x.shape != y.shape:
            raise MpcInputError(f"shapes do not agree: {x.shape} and {y.shape}")

    def add(self, x: Shared, y: Shared) -> Shared:
        self._same(x, y)
        return Shared(self.ring.add(x.share, y.share), x.shape)

    def sub(self, x: Shared, y: Shared) -> Shared:
        self._same(x, y)
        return Shared(self.ring.sub(x.share, y.share), x.shape)

    def neg(self, x: Shared) -> Shared:
        return Shared(self.ring.neg(x.share), x.shape)

    def add_public(self, x: Shared, c: NDArray[Any] | float) -> Shared:
        """x + c for a public c (broadcast to x's shape); only rank 0 adds."""
        encoded = self.encode(c, x.shape)
        if self.rank != 0:
            return x
        return Shared(self.ring.add(x.share, encoded), x.shape)

    def scale_public(self, x: Shared, c: NDArray[Any] | float) -> Shared:
        """x·encode(c) without truncation: the result carries 2·fxp_bits fraction bits."""
        encoded = self.encode(c, x.shape)
        return Shared(self.ring.mul(x.share, encoded), x.shape)

    @property
    def local_truncation(self) -> bool:
        """True when truncation needs no interaction (2 parties, probabilistic)."""
        return self.world_size == 2 and self.trunc_mode == "probabilistic"

    def mul_public(self, x: Shared, c: NDArray[Any] | float) -> Shared:
        """x·c for a public c, truncated locally (2 parties, probabilistic mode only;
        elsewhere use ``await mul_public_async``, which takes a truncation pair)."""
        if not self.local_truncation:
            raise MpcError(
                "mul_public truncates locally only with 2 parties in "
                "probabilistic mode; use mul_public_async"
            )
        return self._trunc_local(self.scale_public(x, c), self.fxp_bits)

    async def mul_public_async(self, x: Shared, c: NDArray[Any] | float) -> Shared:
        return await self.truncate(self.scale_public(x, c))

    def sum(self, x: Shared, axis: int | None = None) -> Shared:
        out = self.ring.sum(x.share, axis=axis)
        return Shared(out, self.ring.shape(out))

    def transpose(self, x: Shared) -> Shared:
        out = self.ring.transpose(x.share)
        return Shared(out, self.ring.shape(out))

    def reshape(self, x: Shared, shape: tuple[int, ...]) -> Shared:
        out = self.ring.reshape(x.share, shape)
        return Shared(out, self.ring.shape(out))

    # --- openings -------------------------------------------------------------------

    def check_length(self, rank: int, buf: bytes, expected: int) -> None:
        if len(buf) != expected:
            raise MpcShareMismatch(
                f"rank {rank} sent a share of {len(buf)} bytes, expected {expected}",
                details={"rank": rank, "expected": expected, "received": len(buf)},
            )

    async def _open(self, tensors: Sequence[Tensor]) -> list[Tensor]:
        """Open shares to every party: one all-gather of the concatenated RAW bytes."""
        shapes = [self.ring.shape(t) for t in tensors]
        sizes = [self.ring.nbytes(s) for s in shapes]
        payload = b"".join(self.ring.to_bytes(t) for t in tensors)
        gathered = await self.link.all_gather(payload)
        totals = [self.ring.zeros(s) for s in shapes]
        for rank, buf in enumerate(gathered):
            self.check_length(rank, buf, len(payload))
            offset = 0
            for i, (shape, size) in enumerate(zip(shapes, sizes, strict=True)):
                part = self.ring.from_bytes(buf[offset : offset + size], shape)
                totals[i] = self.ring.add(totals[i], part)
                offset += size
        return totals

    async def reveal_ring(self, x: Shared, to: Sequence[int] | None = None) -> Tensor | None:
        """The ring value of x to the ranks in ``to`` (everyone if None); None elsewhere."""
        receivers = list(range(self.world_size)) if to is None else sorted(set(to))
        if any(not 0 <= r < self.world_size for r in receivers):
            raise MpcInputError(f"reveal to ranks {receivers} outside the world")
        payload = self.ring.to_bytes(x.share)
        await asyncio.gather(*(self.link.send(r, payload) for r in receivers if r != self.rank))
        if self.rank not in receivers:
            return None
        peers = self.link.peers
        bufs = await asyncio.gather(*(self.link.recv(p) for p in peers))
        total = x.share
        for peer, buf in zip(peers, bufs, strict=True):
            self.check_length(peer, buf, len(payload))
            total = self.ring.add(total, self.ring.from_bytes(buf, x.shape))
        return total

    async def reveal(
        self, x: Shared, to: Sequence[int] | None = None
    ) -> NDArray[np.float64] | None:
        value = await self.reveal_ring(x, to)
        return None if value is None else self.ring.decode(value, self.fxp_bits)

    # --- products -------------------------------------------------------------------

    async def mul(self, x: Shared, y: Shared) -> Shared:
        """Beaver product: open E = X-A, F = Y-B; Z_i = C_i + E·B_i + A_i·F + [i==0]·E·F."""
        return await self.truncate(await self.mul_ring(x, y))

    async def mul_ring(self, x: Shared, y: Shared) -> Shared:
        """The Beaver product of the ring values, not truncated (for integers and bits)."""
        self._same(x, y)
        a, b, c = await self.triples.mul(x.shape)
        e, f = await self._open([self.ring.sub(x.share, a), self.ring.sub(y.share, b)])
        r = self.ring
        z = r.add(c, r.add(r.mul(e, b), r.mul(a, f)))
        if self.rank == 0:
            z = r.add(z, r.mul(e, f))
        return Shared(z, x.shape)

    async def matmul(self, x: Shared, y: Shared) -> Shared:
        """Beaver matrix product (m,k)@(k,n), then truncation."""
        if len(x.shape) != 2 or len(y.shape) != 2 or x.shape[1] != y.shape[0]:
            raise MpcInputError(f"matmul shapes do not agree: {x.shape} @ {y.shape}")
        (m, k), n = x.shape, y.shape[1]
        a, b, c = await self.triples.matmul(m, k, n)
        e, f = await self._open([self.ring.sub(x.share, a), self.ring.sub(y.share, b)])
        r = self.ring
        left = r.add(b, f) if self.rank == 0 else b  # rank 0: E·(B_0 + F) = E·B_0 + E·F

        def share() -> Tensor:
            return r.add(c, r.add(r.matmul(e, left), r.matmul(a, f)))

        z = await _off_loop(m * k * n, share)
        return await self.truncate(Shared(z, (m, n)))

    async def fixed_left(self, x: Shared) -> FixedLeft:
        """A reusable mask of the 2-D X for ``matmul_fixed`` (SecureML §4.2): with a
        ``FixedMaskTriples`` source, A is drawn and E = X - A opened here, once; with
        any other source nothing happens now and each product uses ordinary triples.
        Every party must call it for the same X at the same point (lockstep)."""
        if len(x.shape) != 2:
            raise MpcInputError(f"a fixed mask needs a 2-D matrix, not {x.shape}")
        if not isinstance(self.triples, FixedMaskTriples):
            return FixedLeft(x)
        m, k = x.shape
        handle, a = await self.triples.fixed(m, k)
        (e,) = await self._open([self.ring.sub(x.share, a)])
        return FixedLeft(x, handle, a, e)

    async def matmul_fixed(self, mask: FixedLeft, y: Shared) -> Shared:
        """L@Y, then truncation, for L = the X of ``mask`` (or Xᵀ for ``mask.T``): only
        F = Y - B is opened, with a fresh B and C = A@B (or Aᵀ@B) from the source."""
        (m, k) = mask.shape
        if len(y.shape) != 2 or y.shape[0] != k:
            raise MpcInputError(f"matmul shapes do not agree: {(m, k)} @ {y.shape}")
        if mask.handle is None or not isinstance(self.triples, FixedMaskTriples):
            left = self.transpose(mask.x) if mask.transposed else mask.x
            return await self.matmul(left, y)
        n = y.shape[1]
        b, c = await self.triples.matmul_for(mask.handle, n, transpose=mask.transposed)
        (f,) = await self._open([self.ring.sub(y.share, b)])
        z = await _off_loop(m * k * n, lambda: product_share(self.ring, self.rank, mask, f, b, c))
        return await self.truncate(Shared(z, (m, n)))

    # --- truncation -----------------------------------------------------------------

    def _trunc_local(self, x: Shared, bits: int) -> Shared:
        """The PDF's 2-party rule: rank 0 shifts, rank 1 takes -((-share) >> bits)."""
        r = self.ring
        if self.rank == 0:
            return Shared(r.arshift(x.share, bits), x.shape)
        return Shared(r.neg(r.arshift(r.neg(x.share), bits)), x.shape)

    async def truncate(self, x: Shared, bits: int | None = None) -> Shared:
        """x / 2^bits (default fxp_bits); see §15 for the rule chosen and its error."""
        bits = self.fxp_bits if bits is None else bits
        if bits == 0:
            return x
        if self.local_truncation:
            return self._trunc_local(x, bits)
        if self.trunc_mode == "precise" and isinstance(self.triples, ExactTruncTriples):
            return await self._trunc_exact(x, bits, self.triples)
        r = self.ring
        rand, rand_shifted = await self.triples.trunc(x.shape, bits)
        (c,) = await self._open([r.sub(x.share, rand)])
        out = rand_shifted
        if self.rank == 0:  # ceil(c / 2^bits) = -((-c) >> bits)
            out = r.add(out, r.neg(r.arshift(r.neg(c), bits)))
        return Shared(out, x.shape)

    async def _trunc_exact(self, x: Shared, bits: int, source: ExactTruncTriples) -> Shared:
        """Exact truncation from a TruncPr tuple (r; (r mod 2^(L-1)) >> bits; msb(r)),
        for |x| < 2^(L-2): shift x to y = x + 2^(L-2) in [0, 2^(L-1)), open c = y + r
        (r uniform: c shows nothing of y), then y = c_low + v·2^(L-1) - r_low with the
        carry v = msb(c) XOR msb(r), so y >> bits = (c_low >> bits) - (r_low >> bits)
        + v·2^(L-1-bits), or one more in the last place; undo the shift."""
        r, top = self.ring, self.ring.bits
        rand, rand_low, rand_msb = await source.trunc_pr(x.shape, bits)
        offset = r.from_int(np.full(x.shape, 1 << (top - 2), dtype=object))
        y = r.add(x.share, offset) if self.rank == 0 else x.share
        (c,) = await self._open([r.add(y, rand)])
        c_msb = r.neg(r.arshift(c, top - 1))  # 0 or 1, public
        flip = r.sub(r.from_int(np.ones(x.shape, dtype=object)), r.lshift(c_msb, 1))
        carry = r.mul(rand_msb, flip)  # a share of msb(r)·(1 - 2·msb(c)) ...
        if self.rank == 0:  # ... + msb(c): the XOR of the two bits
            carry = r.add(carry, c_msb)
        out = r.sub(r.lshift(carry, top - 1 - bits), rand_low)
        if self.rank == 0:
            shifted = r.arshift(r.low_bits(c, top - 1), bits)  # non-negative: a plain shift
            back = r.from_int(np.full(x.shape, 1 << (top - 2 - bits), dtype=object))
            out = r.sub(r.add(out, shifted), back)
        return Shared(out, x.shape)

    # --- non-linear -----------------------------------------------------------------

    async def sigmoid(self, x: Shared, mode: str = "minimax_1") -> Shared:
        """sigmoid(x) ≈ 0.5 + 0.125·x (SIGMOID_MODE_MINIMAX_1): x/8 is a 3-bit truncation."""
        if mode != "minimax_1":
            raise MpcInputError(f"unsupported sigmoid mode {mode!r}")
        return self.add_public(await self.truncate(x, 3), 0.5)

    async def less(self, x: Shared, y: Shared) -> Shared:
        """[x < y] as a fixed-point 0.0 or 1.0, exact while |x - y| < 2^(bits-1-fxp_bits)
        (the sign bit of x - y, by a bit comparison with Beaver products: §15.9)."""
        self._same(x, y)
        bit = await less_than(self, self.sub(x, y))
        return Shared(self.ring.lshift(bit.share, self.fxp_bits), bit.shape)


#: Products of at least this many multiply-accumulates run in a worker thread (the
#: BLAS calls under the ring matmul release the GIL), so that the event loop the engine
#: shares — a node's transport and services — keeps answering meanwhile; smaller ones
#: cost less than the hand-over.
OFF_LOOP_MACS = 1 << 22


async def _off_loop(macs: int, compute: Callable[[], Tensor]) -> Tensor:
    if macs < OFF_LOOP_MACS:
        return compute()
    return await asyncio.to_thread(compute)
