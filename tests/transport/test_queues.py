"""The queue engine's rules, on SQLite and PostgreSQL: sessions, limits, FIFO, resends,
fragments, release and expiry, group commit, and recovery from the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from isthmus.store import Store
from isthmus.store.transport import OutMessage, TransportStore
from isthmus.transport.accounting import QueueDepths, QueueLimits
from isthmus.transport.queues import (
    MAX_COMMITTER_RESTARTS,
    Delivery,
    IncomingMessage,
    QueueEngine,
)
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


async def test_depths_add_up_every_session_both_ways(store: Store, queues: QueueEngine) -> None:
    """What ``/metrics`` reads: messages and bytes waiting, out (to be forwarded) and in
    (to be popped), across sessions, until each leaves; a reload counts the same."""
    assert queues.depths() == QueueDepths()
    await queues.open_session("s2", "t", PARTIES)
    sent = await queues.push("s1", "t", "NODE_B", "a-b", b"x" * 10)
    await queues.push("s2", "t", "NODE_B", "a-b", b"y" * 20)
    await queues.receive("NODE_B", [msg(1, b"z" * 5), msg(1, b"w" * 7, session="s2")])
    await queues.receive("NODE_B", [msg(1, b"z" * 5)])  # a resend holds nothing more
    assert queues.depths() == QueueDepths(out_messages=2, out_bytes=30, in_messages=2, in_bytes=12)
    queues = await reopened(store, queues)
    assert queues.depths() == QueueDepths(2, 30, 2, 12)
    queues.acknowledge([sent])  # s1's message reached its partner
    assert await taken(queues.take("s1", "t", "NODE_B", "a-b", remove=True)) == b"z" * 5
    assert queues.depths() == QueueDepths(1, 20, 1, 7)
    await queues.release("s2", "t", None)  # unread data dropped; accepted pushes still go
    assert queues.depths() == QueueDepths(1, 20, 0, 0)
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
        got: list[bytes] = []
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


async def test_a_component_must_present_the_session_token(queues: QueueEngine) -> None:
    """Missing (sent as ""), empty and wrong tokens are one refusal; None is the node's
    own callers (the participant, the admin API), never a component's."""
    await queues.receive("NODE_A", [msg(1, b"one")])
    for token in ("", "wrong"):
        await refused("E0000000403", queues.push("s1", token, "NODE_B", "a-b", b"x"))
        await refused("E0000000403", queues.take("s1", token, "NODE_A", "a-b", remove=True))
        await refused("E0000000403", queues.take("s1", token, "NODE_A", "a-b", remove=False))
        await refused("E0000000403", queues.release("s1", token, None))
    assert queues.usage("s1") == {"out_count": 0, "out_bytes": 0, "in_count": 1, "in_bytes": 3}
    assert await taken(queues.take("s1", "t", "NODE_A", "a-b", remove=True)) == b"one"
    await refused("E0000000400", queues.open_session("s9", ""))


async def test_a_session_takes_and_sends_only_for_its_parties(
    store: Store, queues: QueueEngine
) -> None:
    stranger = await queues.receive("NODE_C", [msg(1, b"intruder")])
    assert (stranger.accepted, stranger.stored, stranger.refused_session) == (0, 0, "s1")
    assert stranger.refusal is not None and stranger.refusal.ptp_code == "E0000000403"
    await refused("E0000000403", queues.push("s1", "t", "NODE_C", "a-c", b"leak"))
    # A session with no parties recorded (an operator named none): nobody, either way.
    await queues.open_session("lonely", "t")
    assert (await queues.receive("NODE_A", [msg(1, b"x", session="lonely")])).accepted == 0
    await refused("E0000000403", queues.push("lonely", "t", "NODE_A", "a-b", b"x"))
    queues = await reopened(store, queues)  # the parties are durable
    assert (await queues.receive("NODE_C", [msg(1, b"again")])).accepted == 0
    assert (await queues.receive("NODE_A", [msg(1, b"ok")])).stored == 1
    assert queues.usage("s1")["in_count"] == 1
    await refused("E0000000400", queues.open_session("s1", "t", frozenset({"NODE_A"})))
    await queues.aclose()


async def test_one_party_cannot_fill_a_session(queues: QueueEngine) -> None:
    flood = await queues.receive("NODE_A", [msg(i, b"a") for i in range(1, 6)])
    assert (flood.accepted, flood.refusal and flood.refusal.ptp_code) == (3, "E0000000700")
    assert (await queues.receive("NODE_B", [msg(1, b"b"), msg(2, b"b")])).stored == 2


async def test_a_returned_message_is_given_out_again_first(queues: QueueEngine) -> None:
    await queues.receive("NODE_A", [msg(i, b"%d" % i) for i in (1, 2, 3)])
    first = await queues.take("s1", "t", "NODE_A", "a-b", remove=True)
    assert first is not None and first.payload == b"1"
    # While it is in flight its queue gives nothing else (it would be overtaken).
    assert await queues.take("s1", "t", "NODE_A", "a-b", remove=True) is None
    assert await queues.take("s1", "t", None, "a-b", remove=True) is None
    first.returned()
    first.delivered()  # settling twice changes nothing
    assert await taken(queues.take("s1", "t", "NODE_A", "a-b", remove=True)) == b"1"
    second = await queues.take("s1", "t", "NODE_A", "a-b", remove=True)
    assert second is not None
    assert await queues.release("s1", "t", "a-b") == 2  # one queued, one in flight
    second.returned()  # its topic was released meanwhile: dropped, not requeued
    assert await queues.take("s1", "t", "NODE_A", "a-b", remove=True) is None
    assert queues.usage("s1")["in_count"] == 0


async def test_a_pop_cancelled_while_waiting_takes_nothing(queues: QueueEngine) -> None:
    waiting = asyncio.ensure_future(queues.pop("s1", "t", "NODE_A", "a-b", 10))
    await asyncio.sleep(0.01)
    waiting.cancel()
    await queues.receive("NODE_A", [msg(1, b"kept")])
    assert await taken(queues.pop("s1", "t", "NODE_A", "a-b", 1)) == b"kept"


async def test_acknowledged_mode_gives_a_message_again_until_it_is_named(
    store: Store, queues: QueueEngine
) -> None:
    await queues.receive("NODE_A", [msg(1, b"one"), msg(2, b"two")])
    one = await queues.take("s1", "t", "NODE_A", "a-b", remove=True, ack=0)
    assert one is not None and one.payload == b"one"
    again = await queues.take("s1", "t", "NODE_A", "a-b", remove=True, ack=0)  # reply lost
    assert again is not None and (again.payload, again.id) == (b"one", one.id)
    two = await queues.take("s1", "t", "NODE_A", "a-b", remove=True, ack=one.id)
    assert two is not None and two.payload == b"two"
    queues = await reopened(store, queues)  # "one" was removed; "two" never acknowledged
    assert await taken(queues.take("s1", "t", "NODE_A", "a-b", remove=True)) == b"two"
    await refused("E0000000400", queues.take("s1", "t", None, "a-b", remove=True, ack=0))
    await queues.aclose()


async def test_a_cancelled_caller_does_not_cancel_the_commit_others_await(
    queues: QueueEngine,
) -> None:
    queues.limits = QueueLimits()
    for _ in range(20):
        pushes = [
            asyncio.ensure_future(queues.push("s1", "t", "NODE_B", "a-b", b"x")) for _ in range(10)
        ]
        await asyncio.sleep(0)  # every push has joined the batch
        for push in pushes[::2]:
            push.cancel()
        done = await asyncio.gather(*pushes, return_exceptions=True)
        assert all(not isinstance(d, BaseException) for d in done[1::2])
    assert queues.alive
    assert await queues.push("s1", "t", "NODE_B", "a-b", b"still") is not None


async def test_a_dying_committer_refuses_its_callers_then_stays_down(
    queues: QueueEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    queues.limits = QueueLimits()  # the pushes were committed: they fill the session
    original = queues._enqueue_forward

    def broken(message: OutMessage, *, loaded: bool = False) -> None:
        if not loaded:  # after a commit, not while reloading
            raise RuntimeError("a bug after the commit")
        original(message, loaded=True)

    monkeypatch.setattr(queues, "_enqueue_forward", broken)
    for _ in range(MAX_COMMITTER_RESTARTS + 1):  # each refused, none left hanging
        await refused(
            "E0000000500", asyncio.wait_for(queues.push("s1", "t", "NODE_B", "a-b", b"x"), 30)
        )
    assert not queues.alive
    await refused("E0000000500", queues.push("s1", "t", "NODE_B", "a-b", b"x"))
    await refused("E0000000500", queues.take("s1", "t", "NODE_A", "a-b", remove=True))
