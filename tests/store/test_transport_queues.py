"""Transport queues in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from isthmus.store import Store
from isthmus.store.transport import QueueLimits, TransportStore
from isthmus.wire.errors import TransportRefused


@pytest.fixture
def queues(store_url: str) -> Iterator[TransportStore]:
    store = Store(store_url)
    store.migrate()
    yield TransportStore(
        store, QueueLimits(max_message_bytes=1000, max_session_messages=5, max_session_bytes=3000)
    )
    store.dispose()


def expect_code(exc: pytest.ExceptionInfo[TransportRefused], code: str) -> None:
    assert exc.value.ptp_code == code, exc.value.message


def test_sessions_must_be_opened_and_tokens_match(queues: TransportStore) -> None:
    with pytest.raises(TransportRefused) as exc:
        queues.push_out("s1", "t", "NODE_B", "a-b", b"x")
    expect_code(exc, "E0000000404")
    assert queues.open_session("s1", "t") is True
    assert queues.open_session("s1", "t") is False  # idempotent with the same token
    with pytest.raises(TransportRefused) as exc:
        queues.open_session("s1", "other")
    expect_code(exc, "E0000000403")
    with pytest.raises(TransportRefused) as exc:
        queues.push_out("s1", "wrong", "NODE_B", "a-b", b"x")
    expect_code(exc, "E0000000403")


def test_out_queue_numbers_each_stream_and_acks_forget(queues: TransportStore) -> None:
    queues.open_session("s1", "t")
    first = queues.push_out("s1", "t", "NODE_B", "a-b", b"1")
    second = queues.push_out("s1", "t", "NODE_B", "a-b", b"2")
    other = queues.push_out("s1", "t", "NODE_C", "a-c", b"3")
    assert (first.seq, second.seq, other.seq) == (1, 2, 1)
    assert [m.payload for m in queues.pending_out()] == [b"1", b"2", b"3"]
    queues.ack_out([first, other])
    assert [m.payload for m in queues.pending_out()] == [b"2"]


def test_limits_answer_back_pressure_and_too_large(queues: TransportStore) -> None:
    queues.open_session("s1", "t")
    with pytest.raises(TransportRefused) as exc:
        queues.push_out("s1", "t", "NODE_B", "a-b", b"x" * 1001)
    expect_code(exc, "E0000000413")
    sent = [queues.push_out("s1", "t", "NODE_B", "a-b", b"x" * 10) for _ in range(5)]
    with pytest.raises(TransportRefused) as exc:
        queues.push_out("s1", "t", "NODE_B", "a-b", b"x")
    expect_code(exc, "E0000000700")
    queues.ack_out(sent[:1])  # the partner took one: room again
    queues.push_out("s1", "t", "NODE_B", "a-b", b"x")


def test_in_queue_is_fifo_per_topic_and_dedups_resends(queues: TransportStore) -> None:
    queues.open_session("s1", "t")
    assert queues.store_in("s1", "NODE_A", "a-b", 1, b"one")
    assert queues.store_in("s1", "NODE_A", "a-b", 2, b"two")
    assert queues.store_in("s1", "NODE_A", "other", 3, b"three")
    assert not queues.store_in("s1", "NODE_A", "a-b", 1, b"one")  # resend
    assert queues.take_in("s1", "t", "NODE_A", "a-b", remove=False) == b"one"  # peek
    assert queues.take_in("s1", "t", "NODE_A", "a-b", remove=True) == b"one"
    assert queues.take_in("s1", "t", "NODE_A", "a-b", remove=True) == b"two"
    assert queues.take_in("s1", "t", "NODE_A", "a-b", remove=True) is None
    assert queues.take_in("s1", "t", "NODE_A", "other", remove=True) == b"three"


def test_racing_resends_store_one_copy(queues: TransportStore) -> None:
    queues.open_session("s1", "t")
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def deliver() -> None:
        barrier.wait()
        results.append(queues.store_in("s1", "NODE_A", "a-b", 7, b"m"))

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 5 + [True]
    assert queues.take_in("s1", "t", "NODE_A", "a-b", remove=True) == b"m"
    assert queues.take_in("s1", "t", "NODE_A", "a-b", remove=True) is None


def test_fragments_become_one_message_in_any_order(queues: TransportStore) -> None:
    queues.open_session("s1", "t")
    assert not queues.store_fragment("s1", "NODE_A", "a-b", 1, 2, 3, b"cc")
    assert not queues.store_fragment("s1", "NODE_A", "a-b", 1, 0, 3, b"aa")
    assert not queues.store_fragment("s1", "NODE_A", "a-b", 1, 0, 3, b"aa")  # resend
    assert queues.store_fragment("s1", "NODE_A", "a-b", 1, 1, 3, b"bb")
    assert not queues.store_fragment("s1", "NODE_A", "a-b", 1, 1, 3, b"bb")  # after: no-op
    assert queues.take_in("s1", "t", "NODE_A", "a-b", remove=True) == b"aabbcc"
    with pytest.raises(TransportRefused) as exc:
        queues.store_fragment("s1", "NODE_A", "a-b", 2, 3, 3, b"x")
    expect_code(exc, "E0000000400")


def test_release_refuses_further_use_and_drops_unread(queues: TransportStore) -> None:
    queues.open_session("s1", "t")
    queues.store_in("s1", "NODE_A", "a-b", 1, b"one")
    queues.store_in("s1", "NODE_A", "x-y", 2, b"two")
    assert queues.release("s1", "t", topic="x-y") == 1  # one topic only
    assert queues.take_in("s1", "t", "NODE_A", "a-b", remove=False) == b"one"
    assert queues.release("s1", "t") == 1
    for call in (
        lambda: queues.push_out("s1", "t", "NODE_B", "a-b", b"x"),
        lambda: queues.store_in("s1", "NODE_A", "a-b", 3, b"x"),
        lambda: queues.take_in("s1", "t", "NODE_A", "a-b", remove=True),
    ):
        with pytest.raises(TransportRefused) as exc:
            call()
        expect_code(exc, "E0000000608")


def test_idle_sessions_expire(queues: TransportStore) -> None:
    queues.open_session("s1", "t")
    queues.store_in("s1", "NODE_A", "a-b", 1, b"one")
    assert queues.expire_idle(idle_ms=60_000) == []
    assert queues.expire_idle(idle_ms=-1) == ["s1"]
    with pytest.raises(TransportRefused) as exc:
        queues.take_in("s1", "t", "NODE_A", "a-b", remove=True)
    expect_code(exc, "E0000000608")


def test_concurrent_pushes_get_distinct_sequence_numbers(store_url: str) -> None:
    store = Store(store_url)
    store.migrate()
    queues = TransportStore(store)
    queues.open_session("s1", "t")
    seqs: list[int] = []
    errors: list[Exception] = []
    barrier = threading.Barrier(8)

    def pusher(n: int) -> None:
        barrier.wait()
        for i in range(10):
            try:
                seqs.append(queues.push_out("s1", "t", "NODE_B", "x", b"%d-%d" % (n, i)).seq)
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=pusher, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(seqs) == list(range(1, 81))
    pending = queues.pending_out(limit=1000)
    assert [m.seq for m in pending] == list(range(1, 81))  # storage order is sequence order
    store.dispose()


def test_concurrent_pops_take_each_message_once(store_url: str) -> None:
    store = Store(store_url)
    store.migrate()
    queues = TransportStore(store)
    queues.open_session("s1", "t")
    for seq in range(1, 41):
        queues.store_in("s1", "NODE_A", "x", seq, b"%d" % seq)
    taken: list[bytes] = []
    errors: list[Exception] = []
    barrier = threading.Barrier(6)

    def popper() -> None:
        barrier.wait()
        try:
            while (payload := queues.take_in("s1", "t", "NODE_A", "x", remove=True)) is not None:
                taken.append(payload)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=popper) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(taken, key=int) == [b"%d" % seq for seq in range(1, 41)]
    store.dispose()
