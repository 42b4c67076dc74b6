"""HeTripleSource: dealer-free triples through Paillier (1024-bit test keys)."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from isthmus.link import LinkContext, MemoryNetwork
from isthmus.mpc.engine import Semi2k
from isthmus.mpc.he_triples import HeTripleSource
from isthmus.mpc.ring import RING64, RING128, Ring
from isthmus.mpc.triples import TripleSource
from isthmus.wire.errors import MpcShareMismatch
from tests.mpc.support import run_engines

pytestmark = pytest.mark.anyio


def he(ctx: LinkContext, ring: Ring) -> TripleSource:
    return HeTripleSource(ctx, ring, key_bits=1024, allow_insecure_key_size=True)


async def run_sources(n: int, ring: Ring, body: Any) -> list[Any]:
    network = MemoryNetwork()

    async def one(rank: int) -> Any:
        ctx = LinkContext(rank, n, network.backend(rank), recv_timeout_s=30)
        await ctx.start(connect_timeout_s=10)
        try:
            return await body(he(ctx, ring))
        finally:
            await ctx.close(timeout_s=10)

    return list(await asyncio.gather(*(one(r) for r in range(n))))


def total(ring: Ring, shares: list[Any]) -> Any:
    out = shares[0]
    for share in shares[1:]:
        out = ring.add(out, share)
    return ring.to_unsigned_int(out)


@pytest.mark.parametrize(("n", "ring"), [(2, RING64), (3, RING128)], ids=["2p-64", "3p-128"])
async def test_triples_reconstruct(n: int, ring: Ring) -> None:
    async def body(source: HeTripleSource) -> Any:
        return (
            await source.matmul(7, 4, 2),  # A's rows packed into slots
            await source.mul((2, 3)),
            await source.trunc((50,), 18),
            await source.matmul(2, 3, 5),  # B's columns packed (through the transpose)
        )

    results = await run_sources(n, ring, body)
    for which in (0, 3):
        a, b, c = (total(ring, [r[which][i] for r in results]) for i in range(3))
        assert np.array_equal(c, a.dot(b) % ring.modulus)
    a, b, c = (total(ring, [r[1][i] for r in results]) for i in range(3))
    assert np.array_equal(c, a * b % ring.modulus)
    assert not np.array_equal(results[0][1][0], results[1][1][0])  # every party has its own
    r = total(ring, [res[2][0] for res in results])
    shifted = total(ring, [res[2][1] for res in results])
    carry = (r >> 18) - shifted  # r never wraps: a carry in [0, n-1] and nothing else
    assert all(0 <= int(v) <= n - 1 for v in carry)
    assert all(int(v) < 2 ** (ring.bits - 2) for v in r)


async def test_the_engine_over_he_triples() -> None:
    rng = np.random.default_rng(3)
    x, w = rng.uniform(-2, 2, (8, 3)), rng.uniform(-2, 2, (3, 1))

    async def party(e: Semi2k) -> Any:
        xs = e.input(0, x if e.rank == 0 else None, x.shape)
        ws = e.input(1, w if e.rank == 1 else None, w.shape)
        return await e.reveal(await e.matmul(xs, ws))

    for n, mode in ((2, "probabilistic"), (3, "probabilistic")):
        for got in await run_engines(n, party, ring=RING64, source=he, trunc_mode=mode):
            assert np.allclose(got, x @ w, atol=2.0**-12)


async def test_a_short_ciphertext_message_is_named() -> None:
    network = MemoryNetwork()

    async def honest() -> None:
        ctx = LinkContext(0, 2, network.backend(0), recv_timeout_s=10)
        await ctx.start(connect_timeout_s=10)
        source = HeTripleSource(ctx, RING64, key_bits=1024, allow_insecure_key_size=True)
        with pytest.raises(MpcShareMismatch, match="rank 1 sent 10 bytes of ciphertexts"):
            await source.mul((2,))
        await ctx.close(timeout_s=10)

    async def liar() -> None:
        ctx = LinkContext(1, 2, network.backend(1), recv_timeout_s=10)
        await ctx.start(connect_timeout_s=10)
        source = HeTripleSource(ctx, RING64, key_bits=1024, allow_insecure_key_size=True)
        await source.setup()  # a real key, then a short message where ciphertexts belong
        await source.link.all_gather(bytes(10))
        await ctx.close(timeout_s=10)

    await asyncio.gather(honest(), liar())
