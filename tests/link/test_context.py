"""LinkContext over the in-memory, direct gRPC and blackbox backends."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import pytest

from isthmus.link import BlackboxBackend, DirectBackend, LinkContext, MemoryNetwork, keys
from isthmus.testing import free_port
from isthmus.wire import ptp
from isthmus.wire.errors import LinkError, LinkTimeout
from isthmus.wire.proto import link_pb2

pytestmark = pytest.mark.anyio

Party = Callable[[LinkContext], Awaitable[object]]


async def run_parties(contexts: list[LinkContext], party: Party) -> list[object]:
    async def one(ctx: LinkContext) -> object:
        await ctx.start(connect_timeout_s=10)
        try:
            return await party(ctx)
        finally:
            await ctx.close(timeout_s=10)

    return list(await asyncio.gather(*(one(c) for c in contexts)))


def memory_contexts(n: int, **options: object) -> tuple[MemoryNetwork, list[LinkContext]]:
    network = MemoryNetwork()
    return network, [
        LinkContext(r, n, network.backend(r), recv_timeout_s=10, **options) for r in range(n)
    ]  # type: ignore[arg-type]


async def test_p2p_in_order_with_yacl_keys() -> None:
    network, contexts = memory_contexts(2)

    async def party(ctx: LinkContext) -> object:
        peer = 1 - ctx.rank
        for i in range(3):
            await ctx.send(peer, b"%d-%d" % (ctx.rank, i))
        return [await ctx.recv(peer) for _ in range(3)]

    assert await run_parties(contexts, party) == [
        [b"1-0", b"1-1", b"1-2"],
        [b"0-0", b"0-1", b"0-2"],
    ]
    sent_keys = [r.key for dst, r in network.sent if r.sender_rank == 0]
    assert sent_keys[0] == "connect_0\x01\x020"
    assert sent_keys[1:4] == ["root:P2P-1:0->1", "root:P2P-2:0->1", "root:P2P-3:0->1"]
    assert sent_keys[-1] == keys.FIN_KEY


async def test_collectives_with_three_parties() -> None:
    _, contexts = memory_contexts(3)

    async def party(ctx: LinkContext) -> object:
        gathered = await ctx.gather(b"g%d" % ctx.rank, root=0)
        broadcast = await ctx.broadcast(b"hello" if ctx.rank == 1 else None, root=1)
        scattered = await ctx.scatter([b"s0", b"s1", b"s2"] if ctx.rank == 2 else None, root=2)
        everyone = await ctx.all_gather(b"a%d" % ctx.rank)
        await ctx.barrier()
        return gathered, broadcast, scattered, everyone

    results = await run_parties(contexts, party)
    assert results[0] == ([b"g0", b"g1", b"g2"], b"hello", b"s0", [b"a0", b"a1", b"a2"])
    assert results[1][1:] == (b"hello", b"s1", [b"a0", b"a1", b"a2"])  # type: ignore[index]
    assert results[2][0] is None  # type: ignore[index]


async def test_large_values_travel_chunked_and_sub_channels_have_own_counters() -> None:
    network, contexts = memory_contexts(2, max_chunk_bytes=8192)
    big = os.urandom(100_000)

    async def party(ctx: LinkContext) -> object:
        sub = ctx.spawn()
        if ctx.rank == 0:
            await sub.send(1, big)
            await ctx.send(1, b"small")
            return None
        return await ctx.recv(0), await sub.recv(0)

    results = await run_parties(contexts, party)
    assert results[1] == (b"small", big)
    chunked = [r for _, r in network.sent if r.key == "root-0:P2P-1:0->1"]
    assert len(chunked) == 13 and {r.trans_type for r in chunked} == {1}


async def test_numbered_messages_are_acked_and_stripped() -> None:
    network, contexts = memory_contexts(2, number_messages=True, throttle_window=2)

    async def party(ctx: LinkContext) -> object:
        if ctx.rank == 0:
            for i in range(5):  # more than the window: needs ACKs to get through
                await ctx.send(1, b"n%d" % i)
            return None
        return [await ctx.recv(0) for _ in range(5)]

    results = await run_parties(contexts, party)
    assert results[1] == [b"n%d" % i for i in range(5)]
    data_keys = [r.key for _, r in network.sent if r.key.startswith("root:")]
    assert data_keys[0] == "root:P2P-1:0->1\x01\x021"
    assert len([r for _, r in network.sent if r.key == keys.ACK_KEY]) == 5
    fins = [r.value for _, r in network.sent if r.key == keys.FIN_KEY and r.sender_rank == 0]
    assert fins == [b"5"]


async def test_a_silent_peer_times_out_clearly() -> None:
    _, contexts = memory_contexts(2)
    ctx = contexts[0]
    ctx.recv_timeout_s = 0.3
    await ctx.backend.start(ctx._on_push)
    with pytest.raises(LinkTimeout, match="rank 1"):
        await ctx.recv(1)


async def test_a_peer_that_ended_the_link_fails_waits_once_it_falls_quiet() -> None:
    """A wait on a rank whose FIN came fails ``fin_grace_s`` after the last message from
    that rank, naming the key, not after the receive timeout (an hour here)."""
    _, contexts = memory_contexts(2)
    waiting, leaving = contexts
    waiting.recv_timeout_s = 3600
    waiting.fin_grace_s = 0.2
    await asyncio.gather(waiting.start(connect_timeout_s=10), leaving.start(connect_timeout_s=10))
    await leaving.send(0, b"the one message")
    assert await waiting.recv(1) == b"the one message"
    pending = asyncio.create_task(waiting.recv(1))
    closing = asyncio.create_task(leaving.close(timeout_s=10))
    with pytest.raises(LinkError, match=r"rank 1 ended the link \(FIN\) and sent no 'root:P2P-2"):
        await asyncio.wait_for(pending, 10)
    with pytest.raises(LinkError, match="and sent no 'root:P2P-3"):
        await asyncio.wait_for(waiting.recv(1), 10)
    await waiting.close(timeout_s=10)
    await closing


async def test_a_message_overtaken_by_the_fin_is_still_received() -> None:
    """SecretFlow sends asynchronously: its FIN may arrive before its last message."""
    _, contexts = memory_contexts(2)
    waiting = contexts[0]
    waiting.recv_timeout_s = 3600
    await waiting.backend.start(waiting._on_push)
    pending = asyncio.create_task(waiting.recv(1))
    await waiting._on_push(link_pb2.PushRequest(sender_rank=1, key=keys.FIN_KEY, value=b"0"))
    late = keys.p2p_key("root", 1, 1, 0)
    await waiting._on_push(link_pb2.PushRequest(sender_rank=1, key=late, value=b"late"))
    assert await asyncio.wait_for(pending, 10) == b"late"


async def test_direct_backend_over_real_grpc() -> None:
    addresses = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    contexts = [
        LinkContext(r, 2, DirectBackend(r, addresses), recv_timeout_s=10, max_chunk_bytes=64 * 1024)
        for r in range(2)
    ]
    big = os.urandom(500_000)

    async def party(ctx: LinkContext) -> object:
        if ctx.rank == 0:
            await ctx.send(1, big)
            return await ctx.recv(1)
        value = await ctx.recv(0)
        await ctx.send(0, value[:10])
        return value

    results = await run_parties(contexts, party)
    assert results == [big[:10], big]


def _blackbox_env(**extra: str) -> dict[str, str]:
    return {
        "config.node_id.guest.0": "NODE_A",
        "config.node_id.host.0": "NODE_B",
        "config.self_role": "guest.0",
        "config.session_id": "session_job-trace",
        "system.transport": "127.0.0.1:9",
        **extra,
    }


async def test_blackbox_calls_always_carry_a_trace_id() -> None:
    """``x-ptp-trace-id`` is required (digest §4.1): ``config.trace_id`` when the
    platform gives one, else a fresh ``<unix seconds>_<random>`` per link."""
    given, _ = BlackboxBackend.from_env(_blackbox_env(**{"config.trace_id": "trace_task-1"}))
    assert given._headers(1, "guest.0-host.0")[ptp.TRACE_ID] == "trace_task-1"
    first, _ = BlackboxBackend.from_env(_blackbox_env())
    second, _ = BlackboxBackend.from_env(_blackbox_env())
    made = first._headers(1, "guest.0-host.0")[ptp.TRACE_ID]
    seconds, _, tail = made.partition("_")
    assert seconds.isdigit() and len(tail) == 16
    assert made != second.trace_id
