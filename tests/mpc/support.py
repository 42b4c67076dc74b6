"""Run n semi2k parties as asyncio tasks over the in-memory link."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from isthmus.link import LinkContext, MemoryNetwork
from isthmus.mpc.engine import Semi2k, TruncMode
from isthmus.mpc.ring import Ring
from isthmus.mpc.triples import TripleSource
from isthmus.testing.mpc_dealer import SeededDealer

Party = Callable[[Semi2k], Awaitable[Any]]
SourceFactory = Callable[[LinkContext, Ring], TripleSource]


def dealer(ctx: LinkContext, ring: Ring) -> TripleSource:
    return SeededDealer(ring, ctx.rank, ctx.world_size, seed=b"engine-test-seed")


async def run_engines(
    n: int,
    party: Party,
    *,
    ring: Ring,
    fxp_bits: int = 18,
    trunc_mode: TruncMode = "probabilistic",
    source: SourceFactory = dealer,
    network: MemoryNetwork | None = None,
) -> list[Any]:
    network = network or MemoryNetwork()

    async def one(rank: int) -> Any:
        ctx = LinkContext(rank, n, network.backend(rank), recv_timeout_s=10)
        await ctx.start(connect_timeout_s=10)
        engine = Semi2k(ctx, ring, fxp_bits, source(ctx, ring), trunc_mode=trunc_mode)
        try:
            await engine.setup()
            return await party(engine)
        finally:
            await engine.triples.close()
            await ctx.close(timeout_s=10)

    return list(await asyncio.gather(*(one(r) for r in range(n))))
