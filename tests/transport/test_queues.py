"""The queue engine's rules, on SQLite and PostgreSQL: sessions, limits, FIFO, resends,
fragments, release and expiry, group commit, and recovery from the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from isthmus.store import Store
from isthmus.store.transport import TransportStore
from isthmus.transport.queues import Delivery, IncomingMessage, QueueEngine, QueueLimits
from isthmus.wire.errors import TransportRefused

pytestmark = pytest.mark.anyio
LIMITS = QueueLimits(max_message_bytes=1000, max_session_messages=5, max_session_bytes=3000)
#: Two parties: each may hold at most half (rounded up) of a session's in queue.
PARTIES = frozenset({"NODE_A", "NODE_B"})


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    store = Store(store_url)
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture
async def queues(store: Store) -> AsyncIterator[QueueEngine]:
    engine = QueueEngine(TransportStore(store), LIMITS)
    await engine.start()
    await engine.open_session("s1", "t", PARTIES)
    yield engine
    await engine.aclose()


async def reopened(store: Store, engine: QueueEngine) -> QueueEngine:
    """A fresh engine on the same store, as after a crash: only what was committed."""
    await engine.aclose()
    fresh = QueueEngine(TransportStore(store), LIMITS)
    await fresh.start()
    return fresh


async def refused(code: str, call: object) -> None:
    with pytest.raises(TransportRefused) as exc:
        await call  # type: ignore[misc]
    assert exc.value.ptp_code == code, exc.value.message


async def taken(call: object) -> bytes | None:
    """The payload of a take or pop, its delivery settled as handed to the client."""
    delivery: Delivery | None = await call  # type: ignore[misc]
    if delivery is None:
        return None
    delivery.delivered()
    return delivery.payload


def msg(
    seq: int | None, payload: bytes, topic: str = "a-b", session: str = "s1"
) -> IncomingMessage:
    return IncomingMessage(session, topic, seq, payload)


async def test_sessions_must_be_opened_and_tokens_match(queues: QueueEngine) -> None:
    await refused("E0000000404", queues.push("nope", "t", "NODE_B", "a-b", b"x"))
    assert await queues.open_session("s1", "t", PARTIES) is False  # idempotent with the same token
    await refused("E0000000403", queues.open_session("s1", "other", PARTIES))
    await refused("E0000000403", queues.push("s1", "wrong", "NODE_B", "a-b", b"x"))
    await refused("E0000000403", queues.take("s1", "wrong", "NODE_A", "a-b", remove=True))


async def test_streams_are_numbered_and_acknowledged(store: Store, queues: QueueEngine) -> None:
    await queues.open_session("s3", "t", frozenset({"NODE_B", "NODE_C"}))
    first = await queues.push("s3", "t", "NODE_B", "a-b", b"1")
    second = await queues.push("s3", "t", "NODE_B", "a-b", b"2")
    other = await queues.push("s3", "t", "NODE_C", "a-c", b"3")
    assert (first.seq, second.seq, other.seq) == (1, 2, 1)
    waiting = queues.outgoing_by_peer()
    assert [m.payload for m in waiting["NODE_B"]] == [b"1", b"2"]
    queues.acknowledge([first, other])
    queues = await reopened(store, queues)  # the acknowledgement was committed too
    assert {p: [m.seq for m in ms] for p, ms in queues.outgoing_by_peer().items()} == {
        "NODE_B": [2]
    }
    third = await queues.push("s3", "t", "NODE_B", "a-b", b"4")
    assert third.seq == 3  # numbering survives the restart
    await queues.aclose()


async def test_concurrent_pushes_share_commits_and_keep_order(
    store: Store, queues: QueueEngine
) -> None:
    engine = QueueEngine(TransportStore(store), QueueLimits())
    await engine.start()
    await engine.open_session("s2", "t", PARTIES)
    sent = await asyncio.gather(
        *(engine.push("s2", "t", "NODE_B", "x", b"%d" % i) for i in range(200))
    )
    assert sorted(m.seq for m in sent) == list(range(1, 201))
    assert [m.seq for m in engine.outgoing_by_peer()["NODE_B"]] == list(range(1, 201))
    engine = await reopened(store, engine)
    assert len(engine.outgoing_by_peer()["NODE_B"]) == 200
    await engine.aclose()


async def test_limits_answer_back_pressure_and_too_large(queues: QueueEngine) -> None:
    await refused("E0000000413", queues.push("s1", "t", "NODE_B", "a-b", b"x" * 1001))
    sent = [await queues.push("s1", "t", "NODE_B", "a-b", b"x" * 10) for _ in range(5)]
    await refused("E0000000700", queues.push("s1", "t", "NODE_B", "a-b", b"x"))
    queues.acknowledge(sent[:1])  # the partner took one: room again
    await queues.push("s1", "t", "NODE_B", "a-b", b"x")
    assert queues.usage("s1")["out_count"] == 5


async def test_in_queue_is_fifo_per_topic_and_drops_resends(
    store: Store, queues: QueueEngine
) -> None:
    result = await queues.receive("NODE_A", [msg(1, b"one"), msg(2, b"two"), msg(3, b"3", "o")])
    assert (result.accepted, result.stored, result.refusal) == (3, 3, None)
    assert (await queues.receive("NODE_A", [msg(1, b"one")])).stored == 0  # resend
    assert await taken(queues.take("s1", "t", "NODE_A", "a-b", remove=False)) == b"one"  # peek
    assert await taken(queues.take("s1", "t", "NODE_A", "a-b", remove=True)) == b"one"
    # A resend after the original was popped is still recognised (the stream mark).
    assert (await queues.receive("NODE_A", [msg(1, b"one"), msg(2, b"two")])).stored == 0
    queues = await reopened(store, queues)
    assert (await queues.receive("NODE_A", [msg(2, b"two")])).stored == 0
    assert await taken(queues.take("s1", "t", "NODE_A", "a-b", remove=True)) == b"two"
    assert await taken(queues.take("s1", "t", "NODE_A", "a-b", remove=True)) is None
    assert await taken(queues.take("s1", "t", "NODE_A", "o", remove=True)) == b"3"
    await queues.aclose()


async def test_unnumbered_messages_are_all_kept(queues: QueueEngine) -> None:
    await queues.receive("NODE_B", [msg(None, b"a"), msg(None, b"a")])
    assert await taken(queues.take("s1", "t", "NODE_B", "a-b", remove=True)) == b"a"
    assert await taken(queues.take("s1", "t", "NODE_B", "a-b", remove=True)) == b"a"


async def test_a_batch_is_stored_up_to_the_first_refusal(queues: QueueEngine) -> None:
    batch = [msg(i, b"x" * 10) for i in range(1, 8)]  # NODE_A's share of the 5 is 3
    result = await queues.receive("NODE_A", batch)
    assert (result.accepted, result.stored, result.refused_session) == (3, 3, "s1")
    assert result.refusal is not None and result.refusal.ptp_code == "E0000000700"
    await taken(queues.take("s1", "t", "NODE_A", "a-b", remove=True))
    again = await queues.receive("NODE_A", batch)  # the sender resends the whole batch
    assert (again.accepted, again.stored, again.refusal) == (4, 1, again.refusal)
    unknown = await queues.receive("NODE_A", [msg(1, b"x", session="nope")])
    assert unknown.accepted == 0 and unknown.refusal is not None
    assert unknown.refusal.ptp_code == "E0000000404"


async def test_fragments_become_one_message_in_any_order(store: Store, queues: QueueEngine) -> None:
    def piece(index: int, data: bytes, seq: int = 1) -> IncomingMessage:
        return IncomingMessage("s1", "a-b", seq, data, (index, 3))

    assert (await queues.receive("NODE_A", [piece(2, b"cc"), piece(0, b"aa")])).stored == 0
    queues = await reopened(store, queues)  # held fragments survive a restart
    assert (await queues.receive("NODE_A", [piece(0, b"aa")])).stored == 0  # resent piece
    assert (await queues.receive("NODE_A", [piece(1, b"bb")])).stored == 1
    assert (await queues.receive("NODE_A", [piece(1, b"bb")])).stored == 0  # after: no-op
    assert await taken(queues.take("s1", "t", "NODE_A", "a-b", remove=True)) == b"aabbcc"
    bad = await queues.receive("NODE_A", [IncomingMessage("s1", "a-b", 2, b"x", (3, 3))])
    assert bad.refusal is not None and bad.refusal.ptp_code == "E0000000400"
    await queues.aclose()


async def test_release_refuses_further_use_and_drops_unread(
    store: Store, queues: QueueEngine
) -> None:
    await queues.receive("NODE_A", [msg(1, b"one"), msg(2, b"two", "x-y")])
    assert await queues.release("s1", "t", topic="x-y") == 1  # one topic only
    assert await taken(queues.take("s1", "t", "NODE_A", "a-b", remove=False)) == b"one"
    assert await queues.release("s1", "t", None) == 1
    queues = await reopened(store, queues)
    await refused("E0000000608", queues.push("s1", "t", "NODE_B", "a-b", b"x"))
    await refused("E0000000608", queues.take("s1", "t", "NODE_A", "a-b", remove=True))
    result = await queues.receive("NODE_A", [msg(3, b"x")])
    assert result.refusal is not None and result.refusal.ptp_code == "E0000000608"
    assert queues.usage("s1")["in_count"] == 0
    await queues.aclose()


async def test_waiting_pops_wake_on_arrival_and_on_release(queues: QueueEngine) -> None:
    waiting = asyncio.ensure_future(taken(queues.pop("s1", "t", "NODE_A", "a-b", 10)))
    await asyncio.sleep(0.05)
    await queues.receive("NODE_A", [msg(1, b"hello")])
    assert await asyncio.wait_for(waiting, 2) == b"hello"
    assert await taken(queues.pop("s1", "t", "NODE_A", "a-b", 0.05)) is None  # times out empty
    waiting = asyncio.ensure_future(taken(queues.pop("s1", "t", "NODE_A", "a-b", 10)))
    await asyncio.sleep(0.05)
    await queues.release("s1", "t", None)
    with pytest.raises(TransportRefused):
        await asyncio.wait_for(waiting, 2)


async def test_concurrent_pops_take_each_message_once(queues: QueueEngine) -> None:
    await queues.open_session("s2", "t", PARTIES)
    engine_limits = QueueLimits()
    queues.limits = engine_limits
    await queues.receive("NODE_A", [msg(i, b"%d" % i, session="s2") for i in range(1, 41)])

    async def popper() -> list[bytes]:
        got = []
        while True:
            payload = await taken(queues.take("s2", "t", "NODE_A", "a-b", remove=True))
            if payload is None:
                return got
            got.append(payload)

    results = await asyncio.gather(*(popper() for _ in range(6)))
    popped = [p for r in results for p in r]
    assert sorted(popped, key=int) == [b"%d" % i for i in range(1, 41)]


async def test_idle_sessions_expire_with_everything_they_hold(
    store: Store, queues: QueueEngine
) -> None:
    await queues.receive("NODE_A", [msg(1, b"one")])
    await queues.push("s1", "t", "NODE_B", "a-b", b"out")
    assert await queues.expire_idle(idle_ms=60_000) == []
    assert await queues.expire_idle(idle_ms=-1) == ["s1"]
    assert queues.outgoing_by_peer() == {}
    queues = await reopened(store, queues)
    assert queues.outgoing_by_peer() == {}
    await refused("E0000000608", queues.take("s1", "t", "NODE_A", "a-b", remove=True))
    await queues.aclose()


async def test_a_failed_commit_is_refused_and_state_reloads(
    store: Store, queues: QueueEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await queues.push("s1", "t", "NODE_B", "a-b", b"kept")

    def broken(batch: object) -> dict[int, bytes]:
        raise RuntimeError("disk full")

    monkeypatch.setattr(queues.store, "commit", broken)
    await refused("E0000000500", queues.push("s1", "t", "NODE_B", "a-b", b"lost"))
    monkeypatch.undo()
    assert [m.payload for m in queues.outgoing_by_peer()["NODE_B"]] == [b"kept"]
    again = await queues.push("s1", "t", "NODE_B", "a-b", b"next")
    assert again.seq == 2  # the failed push's number was not burnt into the stream
