"""The transport store contract on SQLite and PostgreSQL: what one commit writes, a load
reads back exactly; pops take their payloads out; fragments join in the same commit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from isthmus.crypto.digests import token_digest
from isthmus.store import Store
from isthmus.store.blobs import BlobDir
from isthmus.store.transport import (
    OPEN,
    RELEASED,
    Batch,
    InEntry,
    NewFragment,
    NewIn,
    OutMessage,
    SessionRecord,
    TransportStore,
)


@pytest.fixture
def queues(store_url: str) -> Iterator[TransportStore]:
    store = Store(store_url)
    store.migrate()
    yield TransportStore(store)
    store.dispose()


def session(sid: str = "s1") -> SessionRecord:
    return SessionRecord(sid, token_digest("t"), OPEN, 1, 1)


def out(id_: int, seq: int, payload: bytes, peer: str = "NODE_B") -> OutMessage:
    return OutMessage(id_, "s1", peer, "a-b", seq, payload, len(payload))


def inbound(id_: int, seq: int, payload: bytes, topic: str = "a-b") -> NewIn:
    return NewIn(InEntry(id_, "s1", "NODE_A", topic, len(payload)), seq, payload)


def test_a_commit_is_read_back_by_load(queues: TransportStore) -> None:
    queues.commit(
        Batch(
            new_sessions=[session()],
            out_new=[out(1, 1, b"one"), out(2, 2, b"two"), out(3, 1, b"three", "NODE_C")],
            next_seq={("s1", "NODE_B"): 3, ("s1", "NODE_C"): 2},
            in_new=[inbound(1, 1, b"x"), inbound(2, 2, b"yy", "other")],
            received_upto={("s1", "NODE_A"): 2},
            created_at=5,
        )
    )
    snap = queues.load(out_memory_bytes=4)  # room for "one" only: the rest stays stored
    assert snap.sessions["s1"].state == OPEN
    assert snap.next_seq == {("s1", "NODE_B"): 3, ("s1", "NODE_C"): 2}
    assert snap.received_upto == {("s1", "NODE_A"): 2}
    assert [(m.id, m.seq, m.payload, m.size) for m in snap.out] == [
        (1, 1, b"one", 3),
        (2, 2, None, 3),
        (3, 1, None, 5),
    ]
    assert queues.read_out([2, 3]) == {2: b"two", 3: b"three"}
    assert [(e.id, e.topic, e.size) for e in snap.inbox] == [(1, "a-b", 1), (2, "other", 2)]
    assert (snap.max_out_id, snap.max_in_id) == (3, 2)


def test_marks_are_upserted_and_pops_take_payloads_out(queues: TransportStore) -> None:
    queues.commit(Batch(new_sessions=[session()], in_new=[inbound(1, 1, b"x")]))
    queues.commit(
        Batch(
            received_upto={("s1", "NODE_A"): 1},
            next_seq={("s1", "NODE_B"): 2},
        )
    )
    taken = queues.commit(
        Batch(
            in_take=[1],
            received_upto={("s1", "NODE_A"): 9},
            next_seq={("s1", "NODE_B"): 7},
            out_new=[out(1, 6, b"z")],
        )
    )
    assert taken == {1: b"x"}
    queues.commit(Batch(out_done=[1], session_states={"s1": (RELEASED, 10)}, touched={"s1": 11}))
    snap = queues.load(out_memory_bytes=1 << 20)
    assert snap.inbox == [] and snap.out == []
    assert snap.received_upto == {("s1", "NODE_A"): 9}
    assert snap.next_seq == {("s1", "NODE_B"): 7}
    record = snap.sessions["s1"]
    assert (record.state, record.released_at, record.last_activity_at) == (RELEASED, 10, 11)
    assert (snap.max_out_id, snap.max_in_id) == (0, 0)  # ids restart only from empty tables


def test_fragments_are_held_then_joined_in_order(queues: TransportStore) -> None:
    key = ("s1", "NODE_A", 4)
    queues.commit(
        Batch(
            new_sessions=[session()],
            fragments_new=[
                NewFragment(key, 2, 3, "a-b", b"cc"),
                NewFragment(key, 0, 3, "a-b", b"a"),
            ],
        )
    )
    held = queues.load(out_memory_bytes=0).fragments[key]
    assert (held.count, held.indices, held.size) == (3, frozenset({0, 2}), 3)
    entry = InEntry(1, "s1", "NODE_A", "a-b", 5)
    queues.commit(
        Batch(fragments_new=[NewFragment(key, 1, 3, "a-b", b"bb")], fragments_joined=[(key, entry)])
    )
    snap = queues.load(out_memory_bytes=0)
    assert snap.fragments == {}
    assert [e.id for e in snap.inbox] == [1]
    assert queues.read_in([1]) == {1: b"abbcc"}


def test_a_failed_commit_writes_nothing(queues: TransportStore) -> None:
    queues.commit(Batch(new_sessions=[session()]))
    with pytest.raises(Exception):  # noqa: B017 - the driver's IntegrityError, either backend
        queues.commit(Batch(in_new=[inbound(1, 1, b"x")], new_sessions=[session()]))
    assert queues.load(out_memory_bytes=0).inbox == []


@pytest.fixture
def spilling(store_url: str, tmp_path: Path) -> Iterator[TransportStore]:
    store = Store(store_url)
    store.migrate()
    yield TransportStore(store, blobs=BlobDir(tmp_path / "spill"), spill_bytes=4)
    store.dispose()


def test_large_payloads_live_in_files_and_leave_with_their_rows(
    spilling: TransportStore, tmp_path: Path
) -> None:
    spill = tmp_path / "spill"
    big_out = OutMessage(1, "s1", "NODE_B", "a-b", 1, b"outbound", 8, spilled=True)
    small_out = OutMessage(2, "s1", "NODE_B", "a-b", 2, b"abc", 3)
    big_in = NewIn(InEntry(1, "s1", "NODE_A", "a-b", 7, spilled=True), 1, b"inbound")
    spilling.commit(Batch(new_sessions=[session()], out_new=[big_out, small_out], in_new=[big_in]))
    assert sorted(p.name for p in spill.iterdir()) == ["in-1", "out-1"]
    (spill / "in-99").write_bytes(b"orphan of a failed commit")
    snap = spilling.load(out_memory_bytes=1 << 20)
    assert sorted(p.name for p in spill.iterdir()) == ["in-1", "out-1"]  # swept
    assert [(m.payload, m.size, m.spilled) for m in snap.out] == [
        (b"outbound", 8, True),
        (b"abc", 3, False),
    ]
    assert [(e.size, e.spilled) for e in snap.inbox] == [(7, True)]
    assert spilling.read_in([1]) == {1: b"inbound"}
    assert spilling.commit(Batch(in_take=[1], out_done=[1, 2])) == {1: b"inbound"}
    assert list(spill.iterdir()) == []


def test_a_joined_large_message_is_spilled(spilling: TransportStore, tmp_path: Path) -> None:
    key = ("s1", "NODE_A", 1)
    spilling.commit(
        Batch(
            new_sessions=[session()],
            fragments_new=[
                NewFragment(key, 0, 2, "a-b", b"ab"),
                NewFragment(key, 1, 2, "a-b", b"cd"),
            ],
            fragments_joined=[(key, InEntry(1, "s1", "NODE_A", "a-b", 4, spilled=True))],
        )
    )
    assert (tmp_path / "spill" / "in-1").read_bytes() == b"abcd"
    assert spilling.commit(Batch(in_take=[1])) == {1: b"abcd"}
