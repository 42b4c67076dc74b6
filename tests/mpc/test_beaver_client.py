"""TtpTripleSource against the real servicer on a grpc.aio server on 127.0.0.1: the
parties' shares reconstruct to valid tuples, and every refusal is a catalogued MpcError."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Sequence
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from isthmus.beaver import BeaverLimits, SessionTable
from isthmus.beaver.servicer import BeaverServicer, Gate
from isthmus.link import LinkContext
from isthmus.mpc.beaver_client import TtpTripleSource, tls_credentials
from isthmus.mpc.engine import Semi2k, TruncMode
from isthmus.mpc.ring import RING64, RING128, Ring, Tensor
from isthmus.mpc.triples import TripleSource
from isthmus.testing.pki import TestPki
from isthmus.wire.errors import (
    BeaverRefused,
    BeaverUnreachable,
    ErrorCode,
    MpcError,
    MpcInputError,
)
from isthmus.wire.proto import beaver_pb2 as pb
from isthmus.wire.proto import beaver_pb2_grpc
from tests.mpc.support import run_engines

pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def service(
    limits: BeaverLimits | None = None, gate: Gate | None = None
) -> AsyncIterator[str]:
    table = SessionTable(limits or BeaverLimits(complete_wait_s=5))
    servicer = BeaverServicer(table) if gate is None else BeaverServicer(table, gate=gate)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(servicer.handlers())
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


def parties(ring: Ring, world: int, host: str, *, adjust_rank: int = 0) -> list[TtpTripleSource]:
    sid = uuid.uuid4().hex
    return [TtpTripleSource(ring, r, world, adjust_rank, host, sid) for r in range(world)]


def total(ring: Ring, shares: Sequence[Tensor]) -> np.ndarray:
    return np.asarray(sum(ring.to_unsigned_int(s) for s in shares)) % ring.modulus


async def each(sources: Sequence[TtpTripleSource], call: str, *args: Any) -> list[Any]:
    return list(await asyncio.gather(*(getattr(s, call)(*args) for s in sources)))


def xor_all(shares: Sequence[Tensor]) -> Tensor:
    return np.bitwise_xor.reduce(np.stack(shares), axis=0)


@pytest.mark.parametrize(("ring", "world"), [(RING64, 2), (RING128, 3)])
async def test_parties_get_valid_tuples_from_the_service(ring: Ring, world: int) -> None:
    async with service() as host:
        sources = parties(ring, world, host, adjust_rank=world - 1)
        await each(sources, "open")
        a, b, c = zip(*await each(sources, "mul", (2, 3)), strict=True)
        assert (total(ring, c) == total(ring, a) * total(ring, b) % ring.modulus).all()
        a, b, c = zip(*await each(sources, "matmul", 2, 4, 3), strict=True)
        assert (total(ring, c) == total(ring, a).dot(total(ring, b)) % ring.modulus).all()
        r, rb = zip(*await each(sources, "trunc", (5,), 7), strict=True)
        signed = [x - ring.modulus if x >> (ring.bits - 1) else x for x in total(ring, r)]
        assert total(ring, rb).tolist() == [(x >> 7) % ring.modulus for x in signed]
        r, rc, rb = zip(*await each(sources, "trunc_pr", (5,), 7), strict=True)
        top = ring.bits - 1
        assert (total(ring, rb) == total(ring, r) >> top).all()
        assert (total(ring, rc) == (total(ring, r) % (1 << top)) >> 7).all()
        a, b, c = zip(*await each(sources, "and_triple", (4,)), strict=True)
        assert (xor_all(c) == (xor_all(a) & xor_all(b))).all()
        bits = await each(sources, "rand_bit", (16,))
        assert set(total(ring, bits).tolist()) <= {0, 1}
        await each(sources, "close")


async def test_only_the_adjust_rank_talks_to_the_service_between_open_and_close() -> None:
    calls: list[int] = []

    async def gate(_: Any) -> str | None:
        calls.append(1)
        return None

    async with service(gate=gate) as host:
        sources = parties(RING64, 3, host, adjust_rank=1)
        await each(sources, "open")
        calls.clear()
        await each(sources, "mul", (3,))
        await each(sources, "trunc", (3,), 4)
        assert len(calls) == 2
        await each(sources, "close")


@pytest.mark.parametrize("ring", [RING64, RING128], ids=str)
async def test_lookahead_tuples_stay_valid_and_are_fetched_ahead(ring: Ring) -> None:
    calls: list[int] = []

    async def gate(_: Any) -> str | None:
        calls.append(1)
        return None

    async with service(gate=gate) as host:
        sid = uuid.uuid4().hex
        sources = [TtpTripleSource(ring, r, 2, 0, host, sid, lookahead=True) for r in range(2)]
        await each(sources, "open")
        calls.clear()
        # repeated and interleaved kinds and shapes, as a training loop asks for them
        for _ in range(3):
            a, b, c = zip(*await each(sources, "matmul", 4, 3, 1), strict=True)
            assert (total(ring, c) == total(ring, a).dot(total(ring, b)) % ring.modulus).all()
            a, b, c = zip(*await each(sources, "mul", (2, 2)), strict=True)
            assert (total(ring, c) == total(ring, a) * total(ring, b) % ring.modulus).all()
            a, b, c = zip(*await each(sources, "matmul", 3, 4, 1), strict=True)
            assert (total(ring, c) == total(ring, a).dot(total(ring, b)) % ring.modulus).all()
        # each call fetched the next of its kind ahead: 9 used + 3 drawn ahead (the last
        # three may still be on their way to the service when the loop ends)
        for _ in range(500):
            if len(calls) >= 12:
                break
            await asyncio.sleep(0.01)
        assert len(calls) == 12
        await each(sources, "close")


async def test_tls_to_the_service_with_its_ca(tmp_path: Path) -> None:
    """With the service's CA the parties reach a TLS-only service (their seeds travel
    encrypted); a client without it, or with another CA, cannot connect at all."""
    pki, other = TestPki(tmp_path / "ca"), TestPki(tmp_path / "other", name="Other CA")
    issued = pki.issue("beaver")
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(BeaverServicer(SessionTable(BeaverLimits())).handlers())
    creds = grpc.ssl_server_credentials(
        [(issued.key_file.read_bytes(), issued.cert_file.read_bytes())]
    )
    port = server.add_secure_port("127.0.0.1:0", creds)
    await server.start()
    try:
        host, sid = f"127.0.0.1:{port}", uuid.uuid4().hex
        ca = tls_credentials(pki.ca_file.read_text())
        sources = [
            TtpTripleSource(RING64, r, 2, 0, host, sid, credentials=ca, timeout_s=5)
            for r in range(2)
        ]
        await each(sources, "open")
        a, b, c = zip(*await each(sources, "mul", (3,)), strict=True)
        assert (total(RING64, c) == total(RING64, a) * total(RING64, b) % RING64.modulus).all()
        await each(sources, "close")
        wrong = tls_credentials(other.ca_file.read_text())
        for credentials in (None, wrong):
            stranger = TtpTripleSource(
                RING64, 0, 2, 0, host, uuid.uuid4().hex, credentials=credentials, timeout_s=2
            )
            with pytest.raises(BeaverUnreachable):
                await stranger.open()
    finally:
        await server.stop(0)


def test_a_ca_that_is_not_pem_is_refused() -> None:
    with pytest.raises(MpcInputError):
        tls_credentials("not a certificate")


async def refusal(call: Awaitable[Any]) -> BeaverRefused:
    with pytest.raises(BeaverRefused) as info:
        await call
    assert info.value.code == ErrorCode.BEAVER_REFUSED and isinstance(info.value, MpcError)
    return info.value


async def test_refusals_name_their_reason() -> None:
    async with service(BeaverLimits(max_elements=8, complete_wait_s=0.05)) as host:
        p0, p1 = parties(RING64, 2, host)
        await p0.open()
        # rank 1 has not registered: the adjustment waits, then is refused
        assert (await refusal(p0.mul((2,)))).details["reason"] == "session_incomplete"
        intruder = TtpTripleSource(RING64, 0, 2, 0, host, p0.session_id)
        assert (await refusal(intruder.open())).details["reason"] == "duplicate_rank"
        stranger = TtpTripleSource(RING64, 1, 3, 0, host, p0.session_id)
        assert (await refusal(stranger.open())).details["reason"] == "world_size_mismatch"
        await p1.open()
        assert (await refusal(p0.mul((9,)))).details["reason"] == "too_large"
        await p1.close()
        await p0.close()  # the second close ends the session
        with pytest.raises(MpcError, match="was closed"):
            await p0.mul((2,))
        async with grpc.aio.insecure_channel(host) as channel:
            stub = beaver_pb2_grpc.BeaverServiceStub(channel)  # type: ignore[no-untyped-call]
            metas = [pb.PrgBufferMeta(size=16)] * 3
            request = pb.AdjustMulRequest(session_id=p0.session_id, prg_inputs=metas, field=pb.FM64)
            reply = await stub.AdjustMul(request)
        assert reply.message.startswith("unknown_session:")


async def test_a_bad_field_is_refused() -> None:
    async with service() as host, grpc.aio.insecure_channel(host) as channel:
        stub = beaver_pb2_grpc.BeaverServiceStub(channel)  # type: ignore[no-untyped-call]
        metas = [pb.PrgBufferMeta(size=4)] * 3
        reply = await stub.AdjustMul(
            pb.AdjustMulRequest(session_id="s", prg_inputs=metas, field=pb.FM32)
        )
    assert reply.code != 0 and reply.message.startswith("bad_field:")


async def test_a_gate_refusal_is_permission_denied() -> None:
    async def closed(_: Any) -> str | None:
        return "not on the list"

    async with service(gate=closed) as host:
        (p0,) = parties(RING64, 1, host)
        exc = await refusal(p0.open())
        assert exc.details["grpc_status"] == "PERMISSION_DENIED"
        await p0.close()  # nothing was left open


async def test_an_unreachable_service_is_reported() -> None:
    async with service() as host:
        pass  # the port is closed again
    source = TtpTripleSource(RING64, 0, 2, 0, host, "s", timeout_s=2)
    with pytest.raises(BeaverUnreachable) as info:
        await source.open()
    assert info.value.code == ErrorCode.BEAVER_UNREACHABLE


def test_the_seed_stays_out_of_the_repr() -> None:
    source = TtpTripleSource(RING64, 0, 2, 0, "127.0.0.1:1", "s")
    assert source._seed.hex() not in repr(source) and "seed" not in repr(source)


@pytest.mark.parametrize(("world", "mode"), [(2, "precise"), (3, "probabilistic")])
async def test_the_semi2k_engine_runs_on_service_triples(world: int, mode: TruncMode) -> None:
    """The seam: Semi2k takes a TtpTripleSource as its TripleSource (opened on first use);
    3 parties truncate with the service's trunc pairs, precise mode with its TruncPr
    tuples (exact truncation)."""
    rng = np.random.default_rng(7)
    x, y = rng.uniform(-2, 2, (3, 4)), rng.uniform(-2, 2, (4, 2))
    async with service() as host:
        sid = uuid.uuid4().hex

        def source(ctx: LinkContext, ring: Ring) -> TripleSource:
            return TtpTripleSource(ring, ctx.rank, ctx.world_size, 0, host, sid)

        async def party(engine: Semi2k) -> Any:
            sx = engine.input(0, x if engine.rank == 0 else None, x.shape)
            sy = engine.input(world - 1, y if engine.rank == world - 1 else None, y.shape)
            return await engine.reveal(await engine.matmul(sx, sy))

        results = await run_engines(world, party, ring=RING64, trunc_mode=mode, source=source)
    for result in results:
        assert np.allclose(result, x @ y, atol=1e-3)
