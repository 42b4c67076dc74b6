"""The queue engine against a model, under random interleavings (hypothesis stateful):
pushes, partial acknowledgements, partner batches with resends, pops, peeks, topic
releases and restarts from the store. Invariants: per-topic FIFO, every message popped
exactly once, numbering that never goes back, counters that match the queues."""

from __future__ import annotations

import asyncio
import tempfile
from collections import deque
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from isthmus.store import Store
from isthmus.store.blobs import BlobDir
from isthmus.store.transport import TransportStore
from isthmus.transport.queues import IncomingMessage, QueueEngine

TOPICS = st.sampled_from(["t1", "t2"])


class QueueModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.loop = asyncio.new_event_loop()
        self.store = Store(f"sqlite:///{self.tmp.name}/q.db")
        self.store.migrate()
        self.engine = self.run(self.fresh())
        self.run(self.engine.open_session("s", "t", frozenset({"NODE_A", "NODE_B"})))
        self.out: deque[bytes] = deque()  # pushed for NODE_B, not acknowledged
        self.last_seq = 0
        self.sent_seq = 0  # partner NODE_A's numbering
        self.history: list[IncomingMessage] = []
        self.inbox: dict[str, deque[bytes]] = {"t1": deque(), "t2": deque()}

    def run(self, job: Any) -> Any:
        return self.loop.run_until_complete(job)

    async def fresh(self) -> QueueEngine:
        spill = BlobDir(Path(self.tmp.name) / "spill")
        engine = QueueEngine(TransportStore(self.store, blobs=spill, spill_bytes=8))
        await engine.start()
        return engine

    @rule(payload=st.binary(max_size=16))
    def push(self, payload: bytes) -> None:
        message = self.run(self.engine.push("s", "t", "NODE_B", "x", payload))
        assert message.seq > self.last_seq
        self.last_seq = message.seq
        self.out.append(payload)

    @rule(count=st.integers(1, 5))
    def acknowledge(self, count: int) -> None:
        waiting = self.engine.outgoing_by_peer().get("NODE_B", [])
        self.engine.acknowledge(waiting[:count])
        for _ in waiting[:count]:
            self.out.popleft()

    @rule(topics=st.lists(TOPICS, min_size=1, max_size=4), resend=st.integers(0, 3))
    def receive(self, topics: list[str], resend: int) -> None:
        resent = self.history[-resend:] if resend else []
        fresh = []
        for topic in topics:
            self.sent_seq += 1
            payload = b"m%d" % self.sent_seq * (1 + self.sent_seq % 3)
            fresh.append(IncomingMessage("s", topic, self.sent_seq, payload))
            self.inbox[topic].append(payload)
        self.history.extend(fresh)
        batch = resent + fresh
        result = self.run(self.engine.receive("NODE_A", batch))
        assert result.refusal is None and result.stored == len(topics)

    @rule(topic=TOPICS, remove=st.booleans(), reply_lost=st.booleans())
    def take(self, topic: str, remove: bool, reply_lost: bool) -> None:
        delivery = self.run(self.engine.take("s", "t", "NODE_A", topic, remove=remove))
        got = None if delivery is None else delivery.payload
        expected = self.inbox[topic]
        assert got == (expected[0] if expected else None)
        if delivery is not None and reply_lost:
            delivery.returned()  # back at the head of its queue
        elif delivery is not None:
            delivery.delivered()
            if remove:
                expected.popleft()

    @precondition(lambda self: any(self.inbox.values()))
    @rule(topic=TOPICS)
    def release_topic(self, topic: str) -> None:
        dropped = self.run(self.engine.release("s", "t", topic))
        assert dropped == len(self.inbox[topic])
        self.inbox[topic].clear()

    @rule()
    def restart(self) -> None:
        self.run(self.engine.aclose())
        self.engine = self.run(self.fresh())

    @invariant()
    def matches_the_model(self) -> None:
        waiting = self.engine.outgoing_by_peer().get("NODE_B", [])
        assert self.run(self.engine.payloads(waiting)) == list(self.out)
        usage = self.engine.usage("s")
        assert usage["out_count"] == len(self.out)
        assert usage["in_count"] == sum(len(q) for q in self.inbox.values())
        assert usage["in_bytes"] == sum(len(p) for q in self.inbox.values() for p in q)

    def teardown(self) -> None:
        self.run(self.engine.aclose())
        self.store.dispose()
        self.loop.close()
        self.tmp.cleanup()


TestQueueModel = QueueModel.TestCase
TestQueueModel.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
