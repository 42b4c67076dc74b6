"""Large pushes stored once, and rounds in flight together, between two queue engines.

Node A's engine and forwarder send to node B's engine through a bridge that does what
B's ``chan/transport`` route does (unframe, decode, ``receive``, answer an ``Outbound``),
so each case runs in one process without sockets. The SIGKILL cases with real nodes are
in ``test_transport_faults.py``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from isthmus.store import Store
from isthmus.store.transport import TransportStore
from isthmus.transport import queues as queues_module
from isthmus.transport.codec import META_ACCEPTED, from_inbound
from isthmus.transport.forwarder import Forwarder, Route
from isthmus.transport.queues import IncomingMessage, QueueEngine
from isthmus.wire import ptp
from isthmus.wire.errors import PeerNoConnection
from isthmus.wire.framing import unframe
from isthmus.wire.proto import ptp_pb2
from isthmus.wire.ptp import PtpCode

pytestmark = pytest.mark.anyio
BIG = 4096  # stored once at and above this size in these tests


class Bridge:
    """B's east-west route in miniature; ``down`` makes it unreachable, ``delay``
    holds each call that long before B sees it, ``calls`` counts them."""

    def __init__(self, b: QueueEngine) -> None:
        self.b = b
        self.down = False
        self.delay = 0.0
        self.calls = 0
        self.bodies: list[list[IncomingMessage]] = []
        #: Called on each call before B sees it (what A holds then, say).
        self.watch: Any = None
        self.seen: list[Any] = []

    async def call_bytes(self, *_: Any, body: bytes, **__: Any) -> bytes:
        self.calls += 1
        if self.down:
            raise PeerNoConnection("B is down")
        # Odd calls wait longer: a later round overtakes an earlier one on the way.
        await asyncio.sleep(self.delay if self.calls % 2 else 0.0)
        if self.watch is not None:
            self.seen.append(self.watch())
        messages = [from_inbound(f) for f in unframe(body, max_message_bytes=1 << 26)]
        self.bodies.append(messages)
        result = await self.b.receive("NODE_A", messages)
        meta = {META_ACCEPTED: str(result.accepted)}
        if result.refusal is not None:
            meta[ptp.SESSION_ID] = result.refused_session or ""
            answer = ptp_pb2.Outbound(code=result.refusal.ptp_code, metadata=meta)
        else:
            answer = ptp_pb2.Outbound(code=PtpCode.OK, metadata=meta)
        return bytes(answer.SerializeToString())


def _engine(path: Path, node: str, peer: str) -> tuple[Store, QueueEngine]:
    store = Store(f"sqlite:///{path}/{node}.db")
    store.migrate()
    return store, QueueEngine(TransportStore(store), direct_bytes=BIG, direct_wait_s=5.0)


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[QueueEngine, QueueEngine, Bridge]]:
    store_a, a = _engine(tmp_path, "a", "NODE_B")
    store_b, b = _engine(tmp_path, "b", "NODE_A")
    for engine, peer in ((a, "NODE_B"), (b, "NODE_A")):
        await engine.start()
        await engine.open_session("s1", "t", frozenset({peer}))
    yield a, b, Bridge(b)
    for engine, store in ((a, store_a), (b, store_b)):
        await engine.aclose()
        store.dispose()


def _forwarder(a: QueueEngine, bridge: Bridge, **options: Any) -> Forwarder:
    return Forwarder(
        a,
        bridge,  # type: ignore[arg-type]
        lambda peer: Route("http://b.example", native=True),
        retry_s=0.0,
        idle_poll_s=0.05,
        **options,
    )


def _out_rows(a: QueueEngine) -> int:
    return len(a.store.load(out_memory_bytes=0).out)


async def _pop_all(b: QueueEngine, count: int) -> list[bytes]:
    got: list[bytes] = []
    while len(got) < count:
        delivery = await b.pop("s1", "t", "NODE_A", "x", 5.0)
        assert delivery is not None, f"only {len(got)} of {count} arrived"
        got.append(delivery.payload)
        delivery.delivered()
    assert await b.pop("s1", "t", "NODE_A", "x", 0.0) is None  # nothing more
    return got


async def test_a_large_push_is_answered_once_the_partner_stored_it(
    pair: tuple[QueueEngine, QueueEngine, Bridge],
) -> None:
    a, b, bridge = pair
    bridge.watch = lambda: {
        len(m.payload or b"") for m in a.store.load(out_memory_bytes=1 << 20).out
    }
    runner = asyncio.create_task(_forwarder(a, bridge).run())
    try:
        sent = [b"small-1", b"L" * BIG, b"small-2", b"M" * (3 * BIG)]
        for payload in sent:
            await a.push("s1", "t", "NODE_B", "x", payload)
        assert await _pop_all(b, len(sent)) == sent  # in order, each once
        # Only the small ones were ever rows at A; all were acknowledged.
        assert set().union(*bridge.seen) <= {len(b"small-1")}
        assert _out_rows(a) == 0
        assert a.depths().out_messages == 0
    finally:
        runner.cancel()


async def test_an_unreachable_partner_leaves_the_large_push_stored_here(
    pair: tuple[QueueEngine, QueueEngine, Bridge],
) -> None:
    a, b, bridge = pair
    bridge.down = True
    forwarder = _forwarder(a, bridge)
    runner = asyncio.create_task(forwarder.run())
    try:
        await a.push("s1", "t", "NODE_B", "x", b"L" * BIG)  # answered: kept here
        assert _out_rows(a) == 1
        await a.push("s1", "t", "NODE_B", "x", b"N" * BIG)  # partner known down: at once
        assert _out_rows(a) == 2
        bridge.down = False
        assert await _pop_all(b, 2) == [b"L" * BIG, b"N" * BIG]
    finally:
        runner.cancel()
    for _ in range(100):  # the acknowledgement's commit is not awaited by anyone
        if _out_rows(a) == 0:
            break
        await asyncio.sleep(0.01)
    assert _out_rows(a) == 0


async def test_numbers_handed_out_stay_above_the_store_after_a_restart(
    pair: tuple[QueueEngine, QueueEngine, Bridge], tmp_path: Path
) -> None:
    a, _, bridge = pair
    runner = asyncio.create_task(_forwarder(a, bridge).run())
    try:
        first = await a.push("s1", "t", "NODE_B", "x", b"L" * BIG)
    finally:
        runner.cancel()
    with sqlite3.connect(tmp_path / "a.db") as db:
        (held,) = db.execute("SELECT next_seq FROM transport_streams").fetchone()
    # The store holds a number above the one the partner has: a restarted node that
    # reused it would see its next message dropped as a resend.
    assert held > first.seq
    snapshot = a.store.load(out_memory_bytes=0)
    assert snapshot.next_seq[("s1", "NODE_B")] == held


async def test_rounds_in_flight_together_arrive_in_order(
    pair: tuple[QueueEngine, QueueEngine, Bridge],
) -> None:
    a, b, bridge = pair
    bridge.delay = 0.03
    forwarder = _forwarder(a, bridge, max_rounds=3, batch_max_bytes=64, min_extra_round_bytes=0)
    runner = asyncio.create_task(forwarder.run())
    try:
        sent = [b"m%03d" % i for i in range(60)]
        for payload in sent:
            await a.push("s1", "t", "NODE_B", "x", payload)
        assert await _pop_all(b, len(sent)) == sent
    finally:
        runner.cancel()
    gated = [m for body in bridge.bodies for m in body if m.after is not None]
    assert gated, "no round was sent while another was in flight"


async def test_small_messages_wait_for_the_round_in_flight(
    pair: tuple[QueueEngine, QueueEngine, Bridge],
) -> None:
    """Below ``min_extra_round_bytes`` no second round starts: small messages ride
    together in the next one rather than each paying a request."""
    a, b, bridge = pair
    bridge.delay = 0.03
    forwarder = _forwarder(a, bridge, max_rounds=3, min_extra_round_bytes=1024)
    runner = asyncio.create_task(forwarder.run())
    try:
        sent = [b"m%03d" % i for i in range(30)]
        for payload in sent:
            await a.push("s1", "t", "NODE_B", "x", payload)
        assert await _pop_all(b, len(sent)) == sent
    finally:
        runner.cancel()
    assert not [m for body in bridge.bodies for m in body if m.after is not None]


async def test_a_round_whose_predecessor_never_came_is_refused_whole(
    pair: tuple[QueueEngine, QueueEngine, Bridge], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, b, _ = pair
    monkeypatch.setattr(queues_module, "AFTER_WAIT_S", 0.05)
    late = IncomingMessage("s1", "x", 3, b"third", after=2)
    result = await b.receive("NODE_A", [late])
    assert (result.accepted, result.stored, result.refused_session) == (0, 0, "s1")
    assert result.refusal is not None and result.refusal.ptp_code == PtpCode.TIMEOUT
    # Once the earlier ones are there, the same round is stored.
    first = [IncomingMessage("s1", "x", seq, b"m%d" % seq) for seq in (1, 2)]
    assert (await b.receive("NODE_A", first)).stored == 2
    assert (await b.receive("NODE_A", [late])).stored == 1
