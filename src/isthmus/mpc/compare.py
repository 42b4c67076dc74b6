"""The sign bit of a shared ring value: the comparison behind ``Semi2k.less``.

Guarantee: for a shared d (any number of parties), ``less_than`` returns arithmetic
shares of msb(d) in {0, 1}, exactly, and opens nothing but Beaver maskings (uniform
ring elements). Why this route: with only arithmetic triples available (no AND
triples in ``TripleSource``), bits are held as 0/1 ring values and ANDs are Beaver
products of them.

1. Reshare d to two parties: every rank j >= 2 splits its share into u_j + v_j (u_j
   uniform) and sends u_j to rank 0 and v_j to rank 1 (P2P, RAW bytes); now
   d = s0 + s1 with s0 at rank 0 and s1 at rank 1.
2. Write s0 = h0·2^L + a and s1 = h1·2^L + b' with L = bits - 1. Then
   msb(d) = h0 xor h1 xor [a + b' >= 2^L] and [a + b' >= 2^L] = [a > b] for
   b = 2^L - 1 - b' (rank 1 computes b locally).
3. [a > b] over the bits a_i (rank 0's input) and b_i (rank 1's): with t_i = a_i·b_i,
   g_i = a_i - t_i (a_i > b_i), e_i = 1 - a_i - b_i + 2·t_i (a_i == b_i),
   [a > b] = Σ_i g_i·Π_{j>i} e_j (at most one term is 1); the suffix products take
   ceil(log2 L) rounds of Beaver products (a Hillis-Steele scan).
4. xor(u, v) = u + v - 2·u·v, twice.

Rounds: 1 (t) + ceil(log2 L) (scan) + 1 (g·P) + 2 (xors) Beaver openings, over
L elements per compared value (63 in ring 2^64, 127 in ring 2^128).
"""

from __future__ import annotations

import asyncio
import os
from typing import Protocol

import numpy as np

from isthmus.link.context import LinkContext
from isthmus.mpc.ring import Ring, Tensor
from isthmus.mpc.shared import Shared


class ComparisonEngine(Protocol):
    """What the comparison needs of the engine (``isthmus.mpc.engine.Semi2k`` has it):
    named here so that this module does not import the engine that imports it."""

    ring: Ring
    link: LinkContext
    rank: int
    world_size: int

    def check_length(self, rank: int, buf: bytes, expected: int) -> None: ...
    async def mul_ring(self, x: Shared, y: Shared) -> Shared: ...
    def add(self, x: Shared, y: Shared) -> Shared: ...
    def sub(self, x: Shared, y: Shared) -> Shared: ...
    def sum(self, x: Shared, axis: int | None = None) -> Shared: ...


def _bits(ring: Ring, a: Tensor, count: int) -> Tensor:
    """The low ``count`` bits of each element as ring values 0/1, LSB first: (..., count)."""
    positions = np.arange(count, dtype=np.uint64)
    if not ring.wide:
        bits = (a[..., None] >> positions) & np.uint64(1)
        return ring.from_int(bits)
    lo, hi = a[..., 0], a[..., 1]
    low = (lo[..., None] >> positions[: min(count, 64)]) & np.uint64(1)
    high = (hi[..., None] >> positions[: max(0, count - 64)]) & np.uint64(1)
    return ring.from_int(np.concatenate([low, high], axis=-1))


def _top(ring: Ring, a: Tensor) -> Tensor:
    """The top bit of each element, as a ring value 0/1."""
    return ring.low_bits(ring.arshift(a, ring.bits - 1), 1)


async def _reshare_to_two(engine: ComparisonEngine, d: Shared) -> Tensor:
    """This party's share of d once only ranks 0 and 1 hold it (zeros elsewhere)."""
    ring, link = engine.ring, engine.link
    if engine.world_size == 2:
        return d.share
    if engine.rank >= 2:
        u = ring.from_bytes(os.urandom(ring.nbytes(d.shape)), d.shape)
        await link.send(0, ring.to_bytes(u))
        await link.send(1, ring.to_bytes(ring.sub(d.share, u)))
        return ring.zeros(d.shape)
    others = range(2, engine.world_size)
    bufs = await asyncio.gather(*(link.recv(r) for r in others))
    total = d.share
    for rank, buf in zip(others, bufs, strict=True):
        engine.check_length(rank, buf, ring.nbytes(d.shape))
        total = ring.add(total, ring.from_bytes(buf, d.shape))
    return total


def _xor_parts(engine: ComparisonEngine, u: Shared, v: Shared, uv: Shared) -> Shared:
    r = engine.ring
    return engine.sub(engine.add(u, v), Shared(r.lshift(uv.share, 1), uv.shape))


async def less_than(engine: ComparisonEngine, d: Shared) -> Shared:
    """Shares of msb(d) (1 when d is negative), as ring integers 0/1."""
    ring = engine.ring
    count = ring.bits - 1
    bit_shape = (*d.shape, count)
    s = await _reshare_to_two(engine, d)
    zeros_bits, zeros = ring.zeros(bit_shape), ring.zeros(d.shape)
    a = b = Shared(zeros_bits, bit_shape)
    top0 = top1 = Shared(zeros, d.shape)
    if engine.rank == 0:
        a = Shared(_bits(ring, s, count), bit_shape)
        top0 = Shared(_top(ring, s), d.shape)
    if engine.rank == 1:
        full = ring.from_int(np.full(d.shape, (1 << count) - 1, dtype=object))
        b = Shared(_bits(ring, ring.sub(full, ring.low_bits(s, count)), count), bit_shape)
        top1 = Shared(_top(ring, s), d.shape)

    one = _public_int(engine, 1, bit_shape)
    t = await engine.mul_ring(a, b)
    greater = engine.sub(a, t)
    equal = engine.add(
        engine.sub(engine.sub(one, a), b), Shared(ring.lshift(t.share, 1), bit_shape)
    )
    # suffix products Q_i = Π_{j >= i} e_j, then P_i = Q_{i+1} (P_{L-1} = 1)
    q = equal
    step = 1
    while step < count:
        head = _take(engine, q, slice(0, count - step))
        tail = _take(engine, q, slice(step, count))
        q = _concat(
            engine,
            [await engine.mul_ring(head, tail), _take(engine, q, slice(count - step, count))],
        )
        step *= 2
    suffix = _concat(
        engine, [_take(engine, q, slice(1, count)), _public_int(engine, 1, (*d.shape, 1))]
    )
    carry = engine.sum(await engine.mul_ring(greater, suffix), axis=-1)
    h = _xor_parts(engine, top0, top1, await engine.mul_ring(top0, top1))
    return _xor_parts(engine, h, carry, await engine.mul_ring(h, carry))


def _public_int(engine: ComparisonEngine, value: int, shape: tuple[int, ...]) -> Shared:
    ring = engine.ring
    share = (
        ring.from_int(np.full(shape, value, dtype=np.int64))
        if engine.rank == 0
        else ring.zeros(shape)
    )
    return Shared(share, shape)


def _take(engine: ComparisonEngine, x: Shared, where: slice) -> Shared:
    share = x.share[..., where, :] if engine.ring.wide else x.share[..., where]
    share = np.ascontiguousarray(share)
    return Shared(share, engine.ring.shape(share))


def _concat(engine: ComparisonEngine, parts: list[Shared]) -> Shared:
    axis = -2 if engine.ring.wide else -1
    share = np.concatenate([p.share for p in parts], axis=axis)
    return Shared(share, engine.ring.shape(share))
