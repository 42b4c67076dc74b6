"""What the forwarder counts as sent to a partner (``TrafficMeter``, the node's
``isthmus_transport_sent_bytes``): only messages the partner said it stored, whole,
once each; never a refused or a dropped one. The partner is a stub answering
``Outbound``s, so each kind of answer is tried on purpose."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from isthmus.store import Store
from isthmus.store.transport import TransportStore
from isthmus.transport.codec import META_ACCEPTED
from isthmus.transport.forwarder import Forwarder, Route
from isthmus.transport.queues import QueueEngine
from isthmus.wire import ptp
from isthmus.wire.proto import ptp_pb2
from isthmus.wire.ptp import PtpCode

pytestmark = pytest.mark.anyio


class Meter:
    def __init__(self) -> None:
        self.sent: dict[str, int] = {}

    def sent_to(self, partner: str, size: int) -> None:
        self.sent[partner] = self.sent.get(partner, 0) + size

    def received_from(self, partner: str, size: int) -> None:  # pragma: no cover
        raise AssertionError("the forwarder only sends")


class Partner:
    """Answers each east-west call with the next ``Outbound`` of ``answers``."""

    def __init__(self) -> None:
        self.answers: list[ptp_pb2.Outbound] = []

    async def call_bytes(self, *_: Any, **__: Any) -> bytes:
        return bytes(self.answers.pop(0).SerializeToString())


@pytest.fixture
async def engine(tmp_path: Any) -> AsyncIterator[QueueEngine]:
    store = Store(f"sqlite:///{tmp_path}/store.db")
    store.migrate()
    queues = QueueEngine(TransportStore(store))
    await queues.start()
    await queues.open_session("s1", "t", frozenset({"NODE_B"}))
    yield queues
    await queues.aclose()
    store.dispose()


async def test_only_what_the_partner_stored_is_counted(engine: QueueEngine) -> None:
    partner, meter = Partner(), Meter()
    forwarder = Forwarder(
        engine,
        partner,  # type: ignore[arg-type]
        lambda peer: Route("https://b.example", native=True),
        meter=meter,
        retry_s=0.0,
    )
    for size in (10, 20, 40):
        await engine.push("s1", "t", "NODE_B", "a-b", b"x" * size)
    # the partner stores the first two frames, then says the session is full
    partner.answers.append(
        ptp_pb2.Outbound(
            code=PtpCode.BUFFER_FULL,
            message="full",
            metadata={META_ACCEPTED: "2", ptp.SESSION_ID: "s1"},
        )
    )
    assert await forwarder.forward_once() is True
    assert meter.sent == {"NODE_B": 30}
    partner.answers.append(ptp_pb2.Outbound(code=PtpCode.BUFFER_FULL, message="full"))
    assert await forwarder.forward_once() is False  # refused whole: nothing counted
    assert meter.sent == {"NODE_B": 30}
    partner.answers.append(ptp_pb2.Outbound(code=PtpCode.OK))
    assert await forwarder.forward_once() is True
    assert meter.sent == {"NODE_B": 70}
    assert engine.depths().out_messages == 0
