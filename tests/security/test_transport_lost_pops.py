"""Issue #12, item 10: pops and pushes abandoned at random moments lose nothing.

Real node processes A and B. Pushers at A and poppers at B, on both south-north faces,
abandon hundreds of calls at random moments:

* HTTP: the client stops waiting by closing its side of the connection (a half-close:
  the server sees the client go exactly as when it disconnects, while anything the server
  had already written still reaches the test, so the test knows what it was given);
* gRPC: the client cancels the call. A cancelled call whose reply was already on the wire
  is indistinguishable for a client from one the server never answered, so the gRPC
  poppers use the explicit acknowledgement (``x-isthmus-ack``) to be told again.

Then every message whose push was answered OK has been received exactly once, in push
order; a message whose push was abandoned was received at most once; both nodes are
still ready and the transport still answers.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc
import httpx
import pytest

from isthmus.testing import ProcessCluster, ProcessNode, free_port
from isthmus.wire import ptp
from isthmus.wire.proto import ptp_pb2, ptp_pb2_grpc

pytestmark = [pytest.mark.multinode, pytest.mark.anyio]
SESSION, TOKEN = "session_job-cancel", "cancel-token"
MESSAGES = 80  # per topic
TOPICS = ("http-0", "http-1", "grpc-0", "grpc-1")
#: Abandoned calls wait at most this long before they are abandoned.
MAX_DELAY_S = 0.02
#: A bound on the whole exchange, only so that a broken build fails instead of hanging.
BOUND_S = 180.0
CALL_BOUND_S = 30.0


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[ProcessNode, ProcessNode]]:
    with ProcessCluster() as cluster:
        with cluster.together():
            a, b = (
                cluster.add_node(node_id, transport_grpc_port=free_port())
                for node_id in ("NODE_A", "NODE_B")
            )
        cluster.connect(a, b)
        for node, other in ((a, b), (b, a)):
            node.admin.post(
                "/transport/sessions",
                {"session_id": SESSION, "token": TOKEN, "parties": [other.node_id]},
            )
        yield a, b


@dataclass
class Tally:
    """One topic: what its pusher knows was accepted, and what its popper was given."""

    accepted: list[bytes] = field(default_factory=list)
    unknown: list[bytes] = field(default_factory=list)
    received: list[bytes] = field(default_factory=list)
    pushing: bool = True
    #: Calls given up at a random moment, and those of them that got no reply at all.
    abandoned_pushes: int = 0
    abandoned_pops: int = 0
    unanswered_pushes: int = 0
    unanswered_pops: int = 0


def headers(peer: ProcessNode, topic: str) -> dict[str, str]:
    return {
        "x-ptp-session-id": SESSION,
        "x-ptp-token": TOKEN,
        "x-ptp-topic": topic,
        "x-ptp-target-node-id": peer.node_id,
    }


async def http_call(
    node: ProcessNode, kind: str, hdrs: dict[str, str], body: bytes, abandon_after: float | None
) -> tuple[str, bytes] | None:
    """One call over its own connection; ``abandon_after``: half-close after that long.
    Returns (code, payload) of the reply if one arrived, else None."""
    host, port = node.config.transport_address.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        head = "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
        request = (
            f"POST /v1/interconn/chan/{kind}?timeout=1 HTTP/1.1\r\nhost: {host}\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n{head}\r\n"
        ).encode() + body
        writer.write(request)
        await writer.drain()
        if abandon_after is not None:
            await asyncio.sleep(abandon_after)
            writer.write_eof()  # the client goes; what the server wrote before still comes
        try:
            data = await asyncio.wait_for(reader.read(), CALL_BOUND_S)
        except TimeoutError:
            raise AssertionError(
                f"{kind} {hdrs['x-ptp-topic']}: no reply and no close (abandoned after "
                f"{abandon_after})"
            ) from None
    finally:
        writer.close()
    if not data:
        return None
    status_head, _, content = data.partition(b"\r\n\r\n")
    assert status_head.startswith(b"HTTP/1.1 200"), data[:200]
    code, _, payload = ptp.parse_outbound(content)
    return code, payload


async def grpc_call(call: grpc.aio.UnaryUnaryCall, abandon_after: float | None) -> object | None:
    """The reply of ``call``, or None if it was cancelled before it completed."""
    if abandon_after is not None:
        await asyncio.sleep(abandon_after)
        if call.cancel():
            return None
    try:
        return await call
    except asyncio.CancelledError:  # pragma: no cover - cancelled above
        return None


def maybe_delay(rng: random.Random) -> float | None:
    return rng.uniform(0, MAX_DELAY_S) if rng.random() < 0.5 else None


async def push_all(
    a: ProcessNode, b: ProcessNode, topic: str, tally: Tally, face: str, rng: random.Random
) -> None:
    stub = None
    channel = None
    if face == "grpc":
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{a.config.transport.grpc_port}")
        stub = ptp_pb2_grpc.PrivateTransferTransportStub(channel)  # type: ignore[no-untyped-call]
    try:
        for i in range(MESSAGES):
            payload = f"{topic}:{i:03d}".encode()
            delay = maybe_delay(rng)
            tally.abandoned_pushes += delay is not None
            code: str | None = None
            if stub is None:
                reply = await http_call(a, "push", headers(b, topic), payload, delay)
                code = None if reply is None else reply[0]
            else:
                call = stub.push(
                    ptp_pb2.PushInbound(topic=topic, payload=payload),
                    metadata=tuple(headers(b, topic).items()),
                    timeout=CALL_BOUND_S,
                )
                outbound = await grpc_call(call, delay)
                code = None if outbound is None else outbound.code  # type: ignore[attr-defined]
            if code == ptp.PtpCode.OK:
                tally.accepted.append(payload)
            elif code is None:
                tally.unknown.append(payload)
                tally.unanswered_pushes += 1
            else:
                raise AssertionError(f"push {payload!r} refused: {code}")
    finally:
        tally.pushing = False
        if channel is not None:
            await channel.close()


async def pop_all(
    a: ProcessNode, b: ProcessNode, topic: str, tally: Tally, face: str, rng: random.Random
) -> None:
    """Pop until the pusher is done and the queue stays empty."""
    channel = stub = None
    if face == "grpc":
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{b.config.transport.grpc_port}")
        stub = ptp_pb2_grpc.PrivateTransferTransportStub(channel)  # type: ignore[no-untyped-call]
    last_delivery = "0"
    empty_in_a_row = 0
    try:
        # Done when the pusher is, and the queue stayed empty for several whole pops
        # (the forwarder delivers in milliseconds): a lost message shows in the checks.
        while tally.pushing or empty_in_a_row < 5:
            delay = maybe_delay(rng)
            tally.abandoned_pops += delay is not None
            got: tuple[str, bytes] | None
            if stub is None:
                got = await http_call(b, "pop", headers(a, topic), b"", delay)
            else:
                call = stub.pop(
                    ptp_pb2.PopInbound(topic=topic, timeout=1),
                    metadata=(*headers(a, topic).items(), ("x-isthmus-ack", last_delivery)),
                    timeout=CALL_BOUND_S,
                )
                outbound = await grpc_call(call, delay)
                got = None
                if outbound is not None:
                    got = (outbound.code, outbound.payload)  # type: ignore[attr-defined]
                    if outbound.code == ptp.PtpCode.OK:  # type: ignore[attr-defined]
                        trailing = dict(await call.trailing_metadata() or ())
                        last_delivery = str(trailing.get("x-isthmus-delivery", last_delivery))
            if got is None:
                tally.unanswered_pops += 1
                continue
            code, payload = got
            if code == ptp.PtpCode.OK:
                tally.received.append(payload)
                empty_in_a_row = 0
            else:
                assert code == ptp.PtpCode.NOT_FOUND, code
                empty_in_a_row += 0 if tally.pushing else 1
    finally:
        if channel is not None:
            await channel.close()


async def test_abandoned_pops_and_pushes_lose_nothing(
    pair: tuple[ProcessNode, ProcessNode],
) -> None:
    a, b = pair
    rng = random.Random(20261201)
    tallies = {topic: Tally() for topic in TOPICS}
    work = []
    for n, topic in enumerate(TOPICS):
        pop_face = topic.split("-")[0]
        push_face = ("http", "grpc")[n % 2]
        seed = rng.random()
        work.append(push_all(a, b, topic, tallies[topic], push_face, random.Random(seed)))
        work.append(pop_all(a, b, topic, tallies[topic], pop_face, random.Random(seed + 1)))
    await asyncio.wait_for(asyncio.gather(*work), BOUND_S)

    for topic, tally in tallies.items():
        received = tally.received
        assert len(received) == len(set(received)), f"{topic}: a message came twice"
        assert set(tally.accepted) <= set(received), f"{topic}: an accepted message was lost"
        assert set(received) <= set(tally.accepted) | set(tally.unknown), topic
        in_order = [m for m in received if m in set(tally.accepted)]
        assert in_order == tally.accepted, f"{topic}: out of order"
    assert sum(t.abandoned_pops for t in tallies.values()) >= 100
    assert sum(t.abandoned_pushes for t in tallies.values()) >= 100
    assert sum(t.unanswered_pops for t in tallies.values()) > 0  # some really were cut off
    assert sum(t.unanswered_pushes for t in tallies.values()) > 0
    # Both nodes are ready and their transport answers as before.
    async with httpx.AsyncClient(timeout=30) as client:
        for node in (a, b):
            admin = node.config.admin
            ready = await client.get(f"http://{admin.host}:{admin.port}/readyz")
            assert ready.status_code == 200, ready.text
    assert (await http_call(a, "push", headers(b, "after"), b"after", None)) == (
        ptp.PtpCode.OK,
        b"",
    )
    assert (await http_call(b, "pop", headers(a, "after"), b"", None)) == (
        ptp.PtpCode.OK,
        b"after",
    )
    for node in (a, b):
        lines = node.log_path.read_text().splitlines()
        errors = [line for line in lines if '"level": "ERROR"' in line]
        assert not errors, errors[:3]
