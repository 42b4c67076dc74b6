"""Issue #12, items 3, 4 and 6 (transport): attacks on real node processes.

* A local user without the session's token (none, empty, wrong) calls push, pop, peek
  and release on both south-north faces: refused, and nothing is queued, taken or
  released.
* A contracted partner that is not a party of a session pushes into it: refused, and
  nothing is stored; a component cannot push to a partner outside its session either.
* One party fills a session: it gets only its share, and the other party's messages
  still get in.
* Hostile routing (ids that are paths, deep JSON): the transport's own error codes,
  nothing stored, no 500.
* The gRPC faces (item 13): garbage is a transport code, not UNKNOWN; a silent
  east-west stream is closed. (A stream cut when its contract ends:
  ``tests/node/api/transport/test_servicers.py::test_an_open_stream_is_cut_off_when_the_contract_ends``.)
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Iterator

import grpc
import pytest

from isthmus.testing import ProcessCluster, ProcessNode, free_port
from isthmus.wire import ptp
from isthmus.wire.proto import ptp_pb2_grpc
from tests.security.transport_support import (
    HTTP,
    KINDS,
    chan_grpc,
    chan_http,
    grpc_channel,
    invoke_as,
    open_session,
    session_state,
    stored,
)

pytestmark = pytest.mark.multinode
TOKEN = "the-session-token"
S = "session_job-sec"  # parties: A and B
Q = "session_job-quota"  # parties: A, B and C
OK, FORBIDDEN, BAD = ptp.PtpCode.OK, ptp.PtpCode.UNAUTHORIZED, ptp.PtpCode.BAD_REQUEST
#: Far longer than the first-frame deadline (``servicers.FIRST_FRAME_S``).
SILENT_BOUND_S = 60.0
#: Each session holds at most 6 unread messages: 3 per partner in Q (two partners).
LIMIT = 6


class Trio:
    def __init__(self, a: ProcessNode, b: ProcessNode, c: ProcessNode) -> None:
        self.a, self.b, self.c = a, b, c
        self.grpc = grpc_channel(a)


@pytest.fixture(scope="module")
def three() -> Iterator[Trio]:
    with ProcessCluster(env={"ISTHMUS_TRANSPORT__MAX_SESSION_MESSAGES": str(LIMIT)}) as cluster:
        with cluster.together():
            a = cluster.add_node(
                "NODE_A", transport_grpc_port=free_port(), interconn_grpc_port=free_port()
            )
            b = cluster.add_node("NODE_B")
            c = cluster.add_node("NODE_C")
        cluster.connect_all()  # C is a contracted partner of A and B
        open_session(a, S, TOKEN, [b.node_id])
        open_session(b, S, TOKEN, [a.node_id])
        open_session(c, S, TOKEN, [a.node_id])  # C's own side names A, but A's does not
        open_session(a, Q, TOKEN, [b.node_id, c.node_id])
        open_session(b, Q, TOKEN, [a.node_id])
        open_session(c, Q, TOKEN, [a.node_id])
        nodes = Trio(a, b, c)
        yield nodes
        nodes.grpc.close()


def eventually(check: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("face", ["http", "grpc"])
def test_calls_without_the_session_token_are_refused_and_change_nothing(
    three: Trio, face: str
) -> None:
    a, b = three.a, three.b
    topic = f"tokens-{face}"

    def call(kind: str, token: str | None) -> tuple[str, str, bytes]:
        common = {"session": S, "token": token, "peer": b.node_id, "topic": topic}
        if face == "http":
            return chan_http(a, kind, body=b"stolen", **common)  # type: ignore[arg-type]
        return chan_grpc(three.grpc, kind, body=b"stolen", **common)  # type: ignore[arg-type]

    # B's component sends A's component one message; it waits, unread, at A.
    assert (
        chan_http(b, "push", session=S, token=TOKEN, peer=a.node_id, topic=topic, body=b"m")[0]
        == OK
    )
    eventually(lambda: stored(a, "transport_in", S, b.node_id) == 1, "the message reaches A")
    out_before = stored(a, "transport_out", S)
    for token in (None, "", "wrong-token"):
        for kind in KINDS:
            code, message, payload = call(kind, token)
            assert (code, payload) == (FORBIDDEN, b""), (face, token, kind, message)
    # Nothing was queued for B, nothing taken or peeked away, the session still open.
    assert stored(a, "transport_out", S) == out_before
    assert stored(a, "transport_in", S, b.node_id) == 1
    assert session_state(a, S) == "OPEN"
    assert call("pop", TOKEN)[0::2] == (OK, b"m")


def test_a_contracted_partner_outside_the_session_cannot_push_into_it(three: Trio) -> None:
    a, b, c = three.a, three.b, three.c
    # C signs correctly and has an approved contract with A, but S is A's job with B.
    code, message = invoke_as(c, a, session=S, topic="intrude", payload=b"forged")
    assert code == FORBIDDEN, message
    assert stored(a, "transport_in", S, c.node_id) == 0
    nothing = chan_http(
        a, "pop", session=S, token=TOKEN, peer=c.node_id, topic="intrude", timeout=0
    )
    assert nothing[0] == ptp.PtpCode.NOT_FOUND
    # B, a party, is accepted the same way.
    assert invoke_as(b, a, session=S, topic="party", payload=b"fine")[0] == OK
    # And A's own component cannot send the session's data to C.
    out_before = stored(a, "transport_out", S)
    leak = chan_http(a, "push", session=S, token=TOKEN, peer=c.node_id, topic="x", body=b"leak")
    assert leak[0] == FORBIDDEN
    assert stored(a, "transport_out", S) == out_before


def test_one_party_cannot_fill_a_session_the_others_need(three: Trio) -> None:
    a, b, c = three.a, three.b, three.c
    for i in range(LIMIT):  # as much as B's side lets it send
        code = chan_http(
            b, "push", session=Q, token=TOKEN, peer=a.node_id, topic="q", body=b"b%d" % i
        )
        assert code[0] == OK
    eventually(lambda: stored(a, "transport_in", Q, b.node_id) >= LIMIT // 2, "B's share is in")
    assert (
        chan_http(c, "push", session=Q, token=TOKEN, peer=a.node_id, topic="q", body=b"c")[0] == OK
    )
    eventually(lambda: stored(a, "transport_in", Q, c.node_id) == 1, "C's message gets in")
    assert stored(a, "transport_in", Q, b.node_id) == LIMIT // 2  # never more than its share
    got = [chan_http(a, "pop", session=Q, token=TOKEN, peer=c.node_id, topic="q", timeout=5)[2]]
    for _ in range(LIMIT):  # the rest of B's messages follow as room is made, in order
        got.append(
            chan_http(a, "pop", session=Q, token=TOKEN, peer=b.node_id, topic="q", timeout=20)[2]
        )
    assert got == [b"c"] + [b"b%d" % i for i in range(LIMIT)]


@pytest.mark.parametrize(
    ("session", "peer", "topic"),
    [
        ("../../../../tmp/x", "NODE_B", "t"),
        ("session_job-sec/..", "NODE_B", "t"),
        ("s" * 300, "NODE_B", "t"),
        (S, "../NODE_B", "t"),
        (S, "NODE_B", "a topic with spaces"),
        (S, "NODE_B", "t" * 300),
    ],
)
def test_hostile_routing_values_are_the_transport_error(
    three: Trio, session: str, peer: str, topic: str
) -> None:
    a = three.a
    out_before = stored(a, "transport_out", S)
    for kind in KINDS:
        code, message, _ = chan_http(
            a, kind, session=session, token=TOKEN, peer=peer, topic=topic, body=b"x"
        )
        assert code == BAD, (kind, message)
        code, message, _ = chan_grpc(
            three.grpc, kind, session=session, token=TOKEN, peer=peer, topic=topic, body=b"x"
        )
        assert code == BAD, (kind, message)
    assert stored(a, "transport_out", S) == out_before


@pytest.mark.parametrize("ack", ["-1", "abc", "1e3", "9" * 20, "0x10"])
def test_a_hostile_acknowledgement_is_the_transport_error_and_takes_nothing(
    three: Trio, ack: str
) -> None:
    a, b = three.a, three.b
    topic = "ack-attack"
    assert (
        chan_http(b, "push", session=S, token=TOKEN, peer=a.node_id, topic=topic, body=b"m")[0]
        == OK
    )
    eventually(lambda: stored(a, "transport_in", S, b.node_id) >= 1, "the message is in")
    before = stored(a, "transport_in", S, b.node_id)
    code, _, payload = chan_http(
        a, "pop", session=S, token=TOKEN, peer=b.node_id, topic=topic,
        headers={"x-isthmus-ack": ack},
    )  # fmt: skip
    assert (code, payload) == (BAD, b"")
    assert stored(a, "transport_in", S, b.node_id) == before
    code, _, payload = chan_http(a, "pop", session=S, token=TOKEN, peer=b.node_id, topic=topic)
    assert (code, payload) == (OK, b"m")


def test_deep_or_huge_json_is_a_transport_error_not_a_500(three: Trio) -> None:
    a, b = three.a, three.b
    url = f"http://{a.config.transport_address}/v1/interconn/chan/push"
    headers = {
        "content-type": "application/json",
        "x-ptp-session-id": S,
        "x-ptp-token": TOKEN,
        "x-ptp-target-node-id": b.node_id,
    }
    out_before = stored(a, "transport_out", S)
    deep = b'{"topic": "j", "payload": "", "x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    reply = HTTP.post(url, content=deep, headers=headers)
    assert reply.status_code == 200 and reply.json()["code"] == ptp.PtpCode.CODEC_ERROR
    ok = {"topic": "j", "payload": base64.b64encode(b"fine").decode()}
    assert HTTP.post(url, json=ok, headers=headers).json()["code"] == OK
    assert stored(a, "transport_out", S) == out_before + 1
    assert '"level": "ERROR"' not in a.log_path.read_text()


def test_the_grpc_face_gives_transport_codes_for_hostile_requests(three: Trio) -> None:
    """Item 13: bytes that are not the method's message are ``E0000000616`` with
    status OK, not UNKNOWN and a traceback in the log."""
    a = three.a
    raw = three.grpc.unary_unary("/org.ppc.ptp.PrivateTransferTransport/pop")
    for garbage in (b"\xff\xff\xff\xff", b"\x0a\xff\xff\xff\xff\x0f"):
        reply = raw(garbage, metadata=[("x-ptp-session-id", S), ("x-ptp-token", TOKEN)], timeout=30)
        code, _, payload = ptp.parse_outbound(reply)
        assert (code, payload) == (ptp.PtpCode.CODEC_ERROR, b"")
    text = a.log_path.read_text()
    assert "Traceback" not in text and '"level": "ERROR"' not in text


@pytest.mark.anyio
async def test_an_east_west_stream_that_never_sends_is_closed(three: Trio) -> None:
    """Item 13: a stream opened to the east-west gRPC face and left silent does not hold
    the server forever (the first frame is due within ``FIRST_FRAME_S``)."""
    a = three.a
    address = f"{a.config.interconn.host}:{a.config.interconn.grpc_port}"
    async with grpc.aio.insecure_channel(address) as channel:
        stub = ptp_pb2_grpc.PrivateTransferProtocolStub(channel)  # type: ignore[no-untyped-call]
        call = stub.transport()
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            # The bound only keeps a broken build from hanging the run.
            await asyncio.wait_for(call.read(), SILENT_BOUND_S)
    assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "no frame within" in (ended.value.details() or "")
