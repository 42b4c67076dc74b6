"""The fixed Beaver mask (SecureML §4.2): one opening of E = X - A serves X@Y and Xᵀ@Y
again and again, exactly, with the test dealer and with the real Beaver service; the
service refuses transposed buffers whose shapes do not fit; a source that drew a fresh A
per product (the mistake the design forbids) gives wrong products, which these tests see.

Products run with ``fxp_bits=0`` on small integers, so every product is exact and is
compared for equality (no truncation error to hide a slip)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.link import LinkContext
from isthmus.mpc.beaver_client import TtpTripleSource
from isthmus.mpc.engine import Semi2k
from isthmus.mpc.ring import RING64, RING128, Ring, Tensor
from isthmus.mpc.triples import FixedMaskTriples, TripleSource
from isthmus.testing.mpc_dealer import SeededDealer
from isthmus.wire.errors import MpcInputError
from isthmus.wire.proto import beaver_pb2 as pb
from tests.mpc.support import SourceFactory, dealer, run_engines
from tests.mpc.test_beaver_client import each, parties, service, total

RINGS = {64: RING64, 128: RING128}


def case(seed: int, m: int, k: int, reuses: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """X (m, k) and ``reuses`` right operands, alternating Y (k, 2) and Y' (m, 3)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-50, 50, (m, k)).astype(float)
    ys = [rng.integers(-50, 50, (k, 2) if i % 2 == 0 else (m, 3)).astype(float)
          for i in range(reuses)]  # fmt: skip
    return x, ys


def expected(x: np.ndarray, ys: list[np.ndarray]) -> list[np.ndarray]:
    return [x @ y if i % 2 == 0 else x.T @ y for i, y in enumerate(ys)]


async def products(
    world: int, ring: Ring, x: np.ndarray, ys: list[np.ndarray], source: SourceFactory
) -> list[list[np.ndarray]]:
    """Every party's revealed products: one mask of X, reused for X@Y and Xᵀ@Y'."""
    last = world - 1

    async def party(engine: Semi2k) -> list[np.ndarray]:
        sx = engine.input(0, x if engine.rank == 0 else None, x.shape)
        mask = await engine.fixed_left(sx)
        out = []
        for i, y in enumerate(ys):
            sy = engine.input(last, y if engine.rank == last else None, y.shape)
            z = await engine.matmul_fixed(mask if i % 2 == 0 else mask.T, sy)
            revealed = await engine.reveal(z)
            assert revealed is not None
            out.append(revealed)
        return out

    return await run_engines(world, party, ring=ring, fxp_bits=0, source=source)


@settings(max_examples=12, deadline=None)
@given(
    world=st.sampled_from([2, 3]),
    bits=st.sampled_from([64, 128]),
    m=st.integers(1, 6),
    k=st.integers(1, 6),
    reuses=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_dealer_products_over_many_reuses_are_exact(
    world: int, bits: int, m: int, k: int, reuses: int, seed: int
) -> None:
    x, ys = case(seed, m, k, reuses)
    for got in asyncio.run(products(world, RINGS[bits], x, ys, dealer)):
        for z, want in zip(got, expected(x, ys), strict=True):
            assert np.array_equal(z, want)


def service_source(host: str, sid: str, *, lookahead: bool) -> SourceFactory:
    def source(ctx: LinkContext, ring: Ring) -> TripleSource:
        return TtpTripleSource(ring, ctx.rank, ctx.world_size, 0, host, sid, lookahead=lookahead)

    return source


@settings(max_examples=6, deadline=None)
@given(
    world=st.sampled_from([2, 3]),
    bits=st.sampled_from([64, 128]),
    m=st.integers(1, 5),
    k=st.integers(1, 5),
    reuses=st.integers(1, 5),
    lookahead=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_service_products_over_many_reuses_are_exact(
    world: int, bits: int, m: int, k: int, reuses: int, lookahead: bool, seed: int
) -> None:
    x, ys = case(seed, m, k, reuses)

    async def run() -> list[list[np.ndarray]]:
        async with service() as host:
            source = service_source(host, uuid.uuid4().hex, lookahead=lookahead)
            return await products(world, RINGS[bits], x, ys, source)

    for got in asyncio.run(run()):
        for z, want in zip(got, expected(x, ys), strict=True):
            assert np.array_equal(z, want)


pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(("ring", "world"), [(RING64, 2), (RING128, 3)])
async def test_an_epoch_loop_over_many_masks_with_lookahead(ring: Ring, world: int) -> None:
    """SS-LR's pattern: masks made first, then epochs of X_j@w and X_jᵀ@err for every j;
    the source fetches the next handle's tuple ahead (cyclically) and stays exact."""
    rng = np.random.default_rng(3)
    xs = [rng.integers(-9, 9, (4, 3)).astype(float) for _ in range(3)]
    w = rng.integers(-9, 9, (3, 1)).astype(float)
    err = rng.integers(-9, 9, (4, 1)).astype(float)

    async def party(engine: Semi2k) -> list[np.ndarray]:
        masks = [
            await engine.fixed_left(engine.input(0, x if engine.rank == 0 else None, x.shape))
            for x in xs
        ]
        sw = engine.input(1, w if engine.rank == 1 else None, w.shape)
        se = engine.input(1, err if engine.rank == 1 else None, err.shape)
        out = []
        for _ in range(3):
            for mask in masks:
                for z in (
                    await engine.matmul_fixed(mask, sw),
                    await engine.matmul_fixed(mask.T, se),
                ):
                    revealed = await engine.reveal(z)
                    assert revealed is not None
                    out.append(revealed)
        return out

    want = [p for x in xs for p in (x @ w, x.T @ err)] * 3
    async with service() as host:
        source = service_source(host, uuid.uuid4().hex, lookahead=True)
        results = await run_engines(world, party, ring=ring, fxp_bits=0, source=source)
    for got in results:
        assert all(np.array_equal(z, y) for z, y in zip(got, want, strict=True))


@pytest.mark.parametrize(("ring", "world"), [(RING64, 2), (RING128, 3)])
async def test_service_tuples_keep_a_and_give_fresh_b(ring: Ring, world: int) -> None:
    """At the tuple level: C = A@B and C' = Aᵀ@B' for the same A, B fresh each time."""
    async with service() as host:
        sources = parties(ring, world, host)
        fixed = await each(sources, "fixed", 3, 4)
        handles = {handle for handle, _ in fixed}
        assert len(handles) == 1  # lockstep: the same name on every rank
        (handle,) = handles
        a = total(ring, [share for _, share in fixed])
        seen = []
        for transpose in (False, True, False, True):
            drawn = [s.matmul_for(handle, 2, transpose=transpose) for s in sources]
            b, c = zip(*await asyncio.gather(*drawn), strict=True)
            left = a.T if transpose else a
            assert (total(ring, c) == left.dot(total(ring, b)) % ring.modulus).all()
            seen.append(total(ring, b).tobytes())
        assert len(set(seen)) == len(seen)
        await each(sources, "close")


async def test_the_service_refuses_transposed_buffers_that_do_not_fit() -> None:
    async with service() as host:
        sources = parties(RING64, 2, host)
        await each(sources, "open")
        stub, sid = sources[0]._stub, sources[0].session_id
        size = RING64.element_bytes

        def meta(count: int, elements: int, transpose: bool = False) -> pb.PrgBufferMeta:
            return pb.PrgBufferMeta(prg_count=count, size=elements * size, transpose=transpose)

        async def dot(inputs: list[pb.PrgBufferMeta], m: int, k: int, n: int) -> Any:
            request = pb.AdjustDotRequest(
                session_id=sid, prg_inputs=inputs, field=pb.FM64, m=m, n=n, k=k
            )
            return await stub.AdjustDot(request)

        # A drawn as (3, 4) serving Aᵀ (4, 3) @ B (3, 2): fits
        good = await dot([meta(0, 12, True), meta(10, 6), meta(20, 8)], 4, 3, 2)
        assert good.code == 0
        # B sized for the untransposed product (4, 2): refused before any work
        bad = await dot([meta(0, 12, True), meta(10, 8), meta(20, 8)], 4, 3, 2)
        assert bad.code != 0 and bad.message.startswith("bad_request")
        # C may not be flagged, nor may any buffer of another adjustment
        bad = await dot([meta(0, 12, True), meta(10, 6), meta(20, 8, True)], 4, 3, 2)
        assert bad.code != 0 and "may not be transposed" in bad.message
        mul = pb.AdjustMulRequest(
            session_id=sid, prg_inputs=[meta(0, 4, True), meta(1, 4), meta(2, 4)], field=pb.FM64
        )
        assert (await stub.AdjustMul(mul)).code != 0
        await each(sources, "close")


async def test_an_unknown_handle_is_refused() -> None:
    async with service() as host:
        sources = parties(RING64, 2, host)
        with pytest.raises(MpcInputError):
            await sources[0].matmul_for(12345, 1)
        await each(sources, "close")


class FreshA(SeededDealer):
    """The mutation: a fresh A per product instead of the fixed one."""

    async def matmul_for(
        self, handle: int, n: int, *, transpose: bool = False
    ) -> tuple[Tensor, Tensor]:
        m, k = self.ring.shape(self._fixed[handle])
        fresh, _ = await self.fixed(m, k)
        return await super().matmul_for(fresh, n, transpose=transpose)


class Plain:
    """A source without the extension: the engine must fall back to ordinary triples."""

    def __init__(self, inner: SeededDealer) -> None:
        self.ring, self.mul, self.matmul = inner.ring, inner.mul, inner.matmul
        self.trunc, self.close = inner.trunc, inner.close


async def test_a_fresh_a_per_product_breaks_the_products() -> None:
    """Mutation check: the exactness asserted above depends on A staying fixed."""
    x, ys = case(5, 4, 3, 2)

    def source(ctx: LinkContext, ring: Ring) -> TripleSource:
        return FreshA(ring, ctx.rank, ctx.world_size, seed=b"fixed-mask-seed!")

    got = (await products(2, RING64, x, ys, source))[0]
    assert not all(np.array_equal(z, w) for z, w in zip(got, expected(x, ys), strict=True))


async def test_without_the_extension_the_engine_falls_back_to_ordinary_triples() -> None:
    x, ys = case(9, 3, 4, 4)

    def source(ctx: LinkContext, ring: Ring) -> TripleSource:
        plain = Plain(SeededDealer(ring, ctx.rank, ctx.world_size))
        assert not isinstance(plain, FixedMaskTriples)
        return plain  # type: ignore[return-value]

    for got in await products(2, RING128, x, ys, source):
        for z, want in zip(got, expected(x, ys), strict=True):
            assert np.array_equal(z, want)


async def test_shapes_are_checked() -> None:
    async def party(engine: Semi2k) -> None:
        sx = engine.input(0, np.ones((2, 3)) if engine.rank == 0 else None, (2, 3))
        with pytest.raises(MpcInputError):
            await engine.fixed_left(engine.reshape(sx, (6,)))
        mask = await engine.fixed_left(sx)
        assert mask.shape == (2, 3) and mask.T.shape == (3, 2) and mask == mask.T.T
        with pytest.raises(MpcInputError):
            await engine.matmul_fixed(mask, engine.input(0, None, (2, 1)))
        with pytest.raises(MpcInputError):
            await engine.matmul_fixed(mask.T, engine.input(0, None, (3, 1)))

    await run_engines(2, party, ring=RING64)
