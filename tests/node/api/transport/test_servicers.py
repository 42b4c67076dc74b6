"""The gRPC faces of the transport module, against real node processes.

South-north: ``org.ppc.ptp.PrivateTransferTransport`` on ``transport.grpc_port`` (what
FATE's BFIA container speaks). East-west: ``org.ppc.ptp.PrivateTransferProtocol`` on
``interconn.grpc_port``, signed like HTTP with the gRPC method path as the path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest

from isthmus.node.api.transport.servicers import (
    INVOKE_METHOD,
    MAX_POP_TIMEOUT_S,
    TRANSPORT_METHOD,
    pop_timeout_s,
)
from isthmus.node.config import load_config
from isthmus.node.grpc_server import start_grpc_servers, stop_grpc_servers
from isthmus.node.home import read_private_key
from isthmus.peer.signing import NodeIdentity, sign_request
from isthmus.testing import InProcessCluster, ProcessCluster, ProcessNode, free_port
from isthmus.testing.pki import IssuedCert, TestPki
from isthmus.wire import ptp
from isthmus.wire.proto import ptp_pb2, ptp_pb2_grpc
from isthmus.wire.ptp import PtpCode

pytestmark = pytest.mark.multinode
SESSION, TOKEN = "session_job-grpc", "grpc-token"
#: East-west calls made by hand use their own session, so their sequence numbers never
#: meet those of node A's forwarder.
EW_SESSION = "session_job-grpc-ew"


def identity_of(node: ProcessNode) -> NodeIdentity:
    """The node's signing identity, loaded as in tests/node/test_east_west_auth.py."""
    config = load_config(node.home)
    return NodeIdentity(config.node.node_id, config.node.inst_id, read_private_key(config))


class Node:
    """A node and gRPC stubs for both of its faces."""

    def __init__(self, node: ProcessNode) -> None:
        self.node = node
        self.node_id = node.node_id
        config = node.config
        self.channels = [
            grpc.insecure_channel(f"{config.transport.host}:{config.transport.grpc_port}"),
            grpc.insecure_channel(f"{config.interconn.host}:{config.interconn.grpc_port}"),
        ]
        self.sn = ptp_pb2_grpc.PrivateTransferTransportStub(self.channels[0])
        self.ew = ptp_pb2_grpc.PrivateTransferProtocolStub(self.channels[1])
        self.identity = identity_of(node)

    def close(self) -> None:
        for channel in self.channels:
            channel.close()


@pytest.fixture(scope="module")
def nodes() -> Iterator[tuple[Node, Node]]:
    with ProcessCluster() as cluster:
        with cluster.together():
            started = [
                cluster.add_node(
                    node_id, transport_grpc_port=free_port(), interconn_grpc_port=free_port()
                )
                for node_id in ("NODE_A", "NODE_B")
            ]
        cluster.connect(*started)
        for node, other in zip(started, reversed(started), strict=True):
            node.admin.post(
                "/transport/sessions",
                {"session_id": SESSION, "token": TOKEN, "parties": [other.node_id]},
            )
        started[1].admin.post(
            "/transport/sessions",
            {"session_id": EW_SESSION, "token": TOKEN, "parties": ["NODE_A"]},
        )
        a, b = Node(started[0]), Node(started[1])
        yield a, b
        a.close()
        b.close()
        for node in started:  # no handler crashed along the way
            assert '"level": "ERROR"' not in node.log_path.read_text(), node.log_tail()


def meta(peer: Node | str, *, session: str = SESSION, token: str = TOKEN, **extra: str) -> Any:
    """South-north metadata as FATE sends it (vendor code, trace id) plus the token."""
    pairs = {
        "x-ptp-session-id": session,
        "x-ptp-token": token,
        "x-ptp-target-node-id": peer if isinstance(peer, str) else peer.node_id,
        "x-ptp-tech-provider-code": "FATE",
        "x-ptp-trace-id": "trace-1",
        **{k.replace("_", "-"): v for k, v in extra.items()},
    }
    return tuple(pairs.items())


def push(node: Node, peer: Node, topic: str, payload: bytes, **extra: str) -> str:
    reply = node.sn.push(
        ptp_pb2.PushInbound(topic=topic, payload=payload), metadata=meta(peer, **extra)
    )
    return str(reply.code)


def pop(
    node: Node,
    peer: Node,
    topic: str,
    wait_s: int,
    *,
    session: str = SESSION,
    deadline_s: float | None = None,
) -> tuple[str, bytes]:
    reply = node.sn.pop(
        ptp_pb2.PopInbound(topic=topic, timeout=wait_s),
        metadata=meta(peer, session=session),
        timeout=deadline_s,
    )
    return reply.code, reply.payload


def peek(node: Node, peer: Node, topic: str, *, session: str = SESSION) -> tuple[str, bytes]:
    reply = node.sn.peek(ptp_pb2.PeekInbound(topic=topic), metadata=meta(peer, session=session))
    return reply.code, reply.payload


# --- south-north ----------------------------------------------------------------------


def test_grpc_push_to_a_grpc_pop_at_b_in_fifo_order(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    sent = [f"m{i}".encode() for i in range(20)]
    for payload in sent:
        assert push(a, b, "guest-host", payload) == PtpCode.OK
    received = [pop(b, a, "guest-host", 10) for _ in sent]
    assert received == [(PtpCode.OK, payload) for payload in sent]
    started = time.monotonic()
    assert pop(b, a, "guest-host", 1) == (PtpCode.NOT_FOUND, b"")  # empty: code, no payload
    assert 0.8 < time.monotonic() - started < 5
    # The other direction, with the topic in metadata instead of the message.
    back = b.sn.push(
        ptp_pb2.PushInbound(payload=b"reply"), metadata=meta(a, x_ptp_topic="host-guest")
    )
    assert back.code == PtpCode.OK
    assert pop(a, b, "host-guest", 10) == (PtpCode.OK, b"reply")


def test_grpc_push_http_pop_and_peek(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    assert push(a, b, "mixed", b"over grpc") == PtpCode.OK
    deadline = time.monotonic() + 15
    while peek(b, a, "mixed")[0] != PtpCode.OK:
        assert time.monotonic() < deadline, "message never arrived"
        time.sleep(0.05)
    assert peek(b, a, "mixed") == (PtpCode.OK, b"over grpc")  # peek does not consume
    response = httpx.post(
        f"http://{b.node.config.transport_address}/v1/interconn/chan/pop",
        content=b"",
        headers={
            "x-ptp-session-id": SESSION,
            "x-ptp-token": TOKEN,
            "x-ptp-target-node-id": a.node_id,
            "x-ptp-topic": "mixed",
        },
        params={"timeout": "5"},
    )
    assert ptp.parse_outbound(response.content) == (PtpCode.OK, "", b"over grpc")
    assert peek(b, a, "mixed") == (PtpCode.NOT_FOUND, b"")


def test_refusals_are_codes_in_the_reply_not_grpc_errors(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    unknown = a.sn.push(
        ptp_pb2.PushInbound(topic="t", payload=b"x"), metadata=meta(b, session="nope")
    )
    assert (unknown.code, unknown.payload) == (PtpCode.NOT_FOUND, b"")
    assert "nope" in unknown.message
    wrong_token = a.sn.push(ptp_pb2.PushInbound(topic="t"), metadata=meta(b, token="bad"))
    assert wrong_token.code == PtpCode.UNAUTHORIZED
    no_session = a.sn.pop(ptp_pb2.PopInbound(topic="t", timeout=1), metadata=())
    assert no_session.code == PtpCode.BAD_REQUEST
    # FATE pops without x-ptp-target-node-id: any partner's message of the topic.
    no_peer = a.sn.pop(
        ptp_pb2.PopInbound(topic="t", timeout=1),
        metadata=(("x-ptp-session-id", SESSION), ("x-ptp-token", TOKEN)),
    )
    assert no_peer.code == PtpCode.NOT_FOUND  # nothing queued: "poll again"
    no_peer_push = a.sn.push(
        ptp_pb2.PushInbound(topic="t", payload=b"x"),
        metadata=(("x-ptp-session-id", SESSION), ("x-ptp-token", TOKEN)),
    )
    assert no_peer_push.code == PtpCode.BAD_REQUEST  # a push must say where it goes
    release = a.sn.release(ptp_pb2.ReleaseInbound(topic="unused", timeout=10), metadata=meta(b))
    assert release.code == PtpCode.OK and "0 unread" in release.message
    # As on HTTP, x-ptp-outbound-layout: v1.2 asks for the 4-field TransportOutbound.
    push_v12 = a.channels[0].unary_unary(
        "/org.ppc.ptp.PrivateTransferTransport/push",
        request_serializer=ptp_pb2.PushInbound.SerializeToString,
        response_deserializer=ptp_pb2.TransportOutboundV12.FromString,
    )
    v12 = push_v12(
        ptp_pb2.PushInbound(topic="t"),
        metadata=meta(b, session="nope", x_ptp_outbound_layout="v1.2"),
    )
    assert (v12.code, v12.payload) == (PtpCode.NOT_FOUND, b"")


def test_fate_pop_timeout_is_clamped_and_ends_before_the_deadline(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    started = time.monotonic()
    # FATE sends timeout=36000000; with a 1.5 s gRPC deadline the pop answers NOT_FOUND
    # shortly before the deadline instead of failing with DEADLINE_EXCEEDED.
    assert pop(b, a, "fate-topic", 36_000_000, deadline_s=1.5) == (PtpCode.NOT_FOUND, b"")
    assert 1.0 < time.monotonic() - started < 1.5


def test_pop_timeout_unit_and_clamp() -> None:
    assert pop_timeout_s(0, 120.0, None) == 120.0  # 0 = the configured default
    assert pop_timeout_s(5, 120.0, None) == 5.0  # seconds
    assert pop_timeout_s(36_000_000, 120.0, None) == MAX_POP_TIMEOUT_S == 3600.0
    assert pop_timeout_s(-3, 120.0, None) == 0.0
    assert pop_timeout_s(36_000_000, 120.0, 10.0) == pytest.approx(9.75)
    assert pop_timeout_s(0, 120.0, 0.1) == 0.0


# --- east-west ------------------------------------------------------------------------


def signed(
    sender: Node | NodeIdentity, target: Node | str, path: str, body: bytes, **ptp_headers: str
) -> tuple[tuple[str, str], ...]:
    """Call metadata signed like an HTTP request: method POST, the gRPC method path, no
    query, the serialized (first) Inbound as the body, x-ptp-* metadata inside."""
    headers = {k.replace("_", "-"): v for k, v in ptp_headers.items()}
    bfia = sign_request(
        sender.identity if isinstance(sender, Node) else sender,
        method="POST",
        path=path,
        query="",
        target_node_id=target if isinstance(target, str) else target.node_id,
        body=body,
        ptp_headers=headers,
    )
    return tuple({**bfia, **headers}.items())


def test_signed_invoke_is_stored_at_b_and_poppable(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    # Routing in Inbound.metadata ...
    inbound = ptp_pb2.Inbound(
        metadata={"x-ptp-session-id": EW_SESSION, "x-ptp-topic": "inv"}, payload=b"invoked"
    )
    body = inbound.SerializeToString()
    reply = b.ew.invoke(inbound, metadata=signed(a, b, INVOKE_METHOD, body))
    assert (reply.code, dict(reply.metadata)) == (PtpCode.OK, {"stored": "1"})
    # ... or in the call's metadata (then inside the signature, as x-ptp-* headers).
    second = ptp_pb2.Inbound(payload=b"second")
    md = signed(
        a,
        b,
        INVOKE_METHOD,
        second.SerializeToString(),
        x_ptp_session_id=EW_SESSION,
        x_ptp_topic="inv",
        x_ptp_seq="7",
        x_ptp_version="1",
    )
    assert b.ew.invoke(second, metadata=md).code == PtpCode.OK
    assert pop(b, a, "inv", 5, session=EW_SESSION) == (PtpCode.OK, b"invoked")
    assert pop(b, a, "inv", 5, session=EW_SESSION) == (PtpCode.OK, b"second")
    unknown = ptp_pb2.Inbound(metadata={"x-ptp-session-id": "nope"}, payload=b"x")
    refused = b.ew.invoke(
        unknown, metadata=signed(a, b, INVOKE_METHOD, unknown.SerializeToString())
    )
    assert refused.code == PtpCode.NOT_FOUND  # a logical refusal: status OK, code in body


def frame(seq: int, payload: bytes, session: str = EW_SESSION) -> ptp_pb2.Inbound:
    return ptp_pb2.Inbound(
        metadata={"x-ptp-session-id": session, "x-ptp-topic": "stream", "x-ptp-seq": str(seq)},
        payload=payload,
    )


def test_transport_stream_one_reply_per_frame_in_order(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    frames = [frame(101, b"s1"), frame(102, b"s2"), frame(1, b"x", "nope"), frame(103, b"s3")]
    md = signed(a, b, TRANSPORT_METHOD, frames[0].SerializeToString())
    replies = list(b.ew.transport(iter(frames), metadata=md))
    assert [r.code for r in replies] == [PtpCode.OK, PtpCode.OK, PtpCode.NOT_FOUND, PtpCode.OK]
    assert [r.metadata["stored"] for r in (replies[0], replies[1], replies[3])] == ["1"] * 3
    # A resend of the same frames is stored no second time.
    md = signed(a, b, TRANSPORT_METHOD, frames[0].SerializeToString())
    again = list(b.ew.transport(iter(frames[:2]), metadata=md))
    assert [dict(r.metadata) for r in again] == [{"stored": "0"}] * 2
    got = [pop(b, a, "stream", 5, session=EW_SESSION) for _ in range(3)]
    assert got == [(PtpCode.OK, b"s1"), (PtpCode.OK, b"s2"), (PtpCode.OK, b"s3")]
    assert peek(b, a, "stream", session=EW_SESSION) == (PtpCode.NOT_FOUND, b"")


def test_after_a_refused_frame_later_frames_of_its_session_are_not_stored(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    broken = frame(202, b"bad")
    broken.metadata["x-ptp-fragment"] = "5/2"  # index out of range: refused
    frames = [frame(201, b"t1"), broken, frame(203, b"t3"), frame(2, b"x", "nope")]
    md = signed(a, b, TRANSPORT_METHOD, frames[0].SerializeToString())
    replies = list(b.ew.transport(iter(frames), metadata=md))
    assert [r.code for r in replies] == [
        PtpCode.OK,
        PtpCode.BAD_REQUEST,
        PtpCode.BAD_REQUEST,  # 203 would overtake 202 once the partner resends it
        PtpCode.NOT_FOUND,  # other sessions are not held up
    ]
    assert "not stored" in replies[2].message
    assert pop(b, a, "stream", 5, session=EW_SESSION) == (PtpCode.OK, b"t1")
    assert peek(b, a, "stream", session=EW_SESSION) == (PtpCode.NOT_FOUND, b"")


def refusal(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        result = call()
        if not isinstance(result, ptp_pb2.Outbound):
            list(result)  # a stream: the refusal surfaces while reading
    return caught.value.code(), caught.value.details()


def test_unsigned_or_wrongly_signed_calls_are_refused_and_store_nothing(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    evil = ptp_pb2.Inbound(
        metadata={"x-ptp-session-id": EW_SESSION, "x-ptp-topic": "evil"}, payload=b"evil"
    )
    body = evil.SerializeToString()
    harmless = ptp_pb2.Inbound(metadata={"x-ptp-session-id": EW_SESSION}).SerializeToString()
    good = signed(a, b, INVOKE_METHOD, body)
    cases = {
        "unsigned": (
            lambda: b.ew.invoke(evil, metadata=(("x-source-node-id", a.node_id),)),
            grpc.StatusCode.UNAUTHENTICATED,
            "20001 UNSIGNED",
        ),
        "other body": (
            lambda: b.ew.invoke(evil, metadata=signed(a, b, INVOKE_METHOD, harmless)),
            grpc.StatusCode.UNAUTHENTICATED,
            "20002 BAD_SIGNATURE",
        ),
        "other path": (
            lambda: b.ew.invoke(evil, metadata=signed(a, b, TRANSPORT_METHOD, body)),
            grpc.StatusCode.UNAUTHENTICATED,
            "20002 BAD_SIGNATURE",
        ),
        "moved topic": (
            lambda: b.ew.invoke(evil, metadata=(*good, ("x-ptp-topic", "elsewhere"))),
            grpc.StatusCode.UNAUTHENTICATED,
            "20002 BAD_SIGNATURE",
        ),
        "other target": (
            lambda: b.ew.invoke(evil, metadata=signed(a, "NODE_C", INVOKE_METHOD, body)),
            grpc.StatusCode.PERMISSION_DENIED,
            "20010 WRONG_TARGET",
        ),
        "unsigned stream": (
            lambda: b.ew.transport(iter([frame(900, b"evil")]), metadata=()),
            grpc.StatusCode.UNAUTHENTICATED,
            "20001 UNSIGNED",
        ),
    }
    for name, (call, status, details) in cases.items():
        code, text = refusal(call)
        assert (code, text.split(":")[0]) == (status, details), name
    assert b.ew.invoke(evil, metadata=good).code == PtpCode.OK  # the genuine call passes once
    code, text = refusal(lambda: b.ew.invoke(evil, metadata=good))
    assert (code, text.split(":")[0]) == (grpc.StatusCode.UNAUTHENTICATED, "20003 REPLAYED_NONCE")
    assert pop(b, a, "evil", 5, session=EW_SESSION) == (PtpCode.OK, b"evil")
    assert peek(b, a, "evil", session=EW_SESSION) == (PtpCode.NOT_FOUND, b"")  # exactly one
    assert peek(b, a, "stream", session=EW_SESSION) == (PtpCode.NOT_FOUND, b"")
    refused = b.node.admin.get("/audit", action="request.refused", limit=1000)
    assert any(INVOKE_METHOD in event["subject"] for event in refused)


# --- east-west over mutual TLS --------------------------------------------------------


@pytest.fixture(scope="module")
def tls_nodes(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ProcessNode, ProcessNode, TestPki, dict[str, IssuedCert]]]:
    pki = TestPki(tmp_path_factory.mktemp("pki"))
    certs = {name: pki.issue(name) for name in ("NODE_A", "NODE_B", "MALLORY")}
    with ProcessCluster() as cluster:
        with cluster.together():
            a, b = (
                cluster.add_node(
                    node_id,
                    interconn_grpc_port=free_port(),
                    tls_cert_file=certs[node_id].cert_file,
                    tls_key_file=certs[node_id].key_file,
                    tls_ca_file=pki.ca_file,
                )
                for node_id in ("NODE_A", "NODE_B")
            )
        cluster.connect(a, b)
        b.admin.post(
            "/transport/sessions",
            {"session_id": EW_SESSION, "token": TOKEN, "parties": ["NODE_A"]},
        )
        yield a, b, pki, certs


def test_east_west_grpc_uses_the_interconn_tls_and_its_pins(tls_nodes: Any) -> None:
    a, b, pki, certs = tls_nodes
    sender = identity_of(a)
    target = f"127.0.0.1:{b.config.interconn.grpc_port}"

    def invoke_as(cert: IssuedCert, payload: bytes) -> ptp_pb2.Outbound:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=pki.ca_file.read_bytes(),
            private_key=cert.key_file.read_bytes(),
            certificate_chain=cert.cert_file.read_bytes(),
        )
        inbound = ptp_pb2.Inbound(
            metadata={"x-ptp-session-id": EW_SESSION, "x-ptp-topic": "tls"}, payload=payload
        )
        md = signed(sender, b.node_id, INVOKE_METHOD, inbound.SerializeToString())
        with grpc.secure_channel(target, credentials) as channel:
            stub = ptp_pb2_grpc.PrivateTransferProtocolStub(channel)
            return stub.invoke(inbound, metadata=md, timeout=10)

    assert invoke_as(certs["NODE_A"], b"over TLS").code == PtpCode.OK
    # A's valid signature from a connection with another certificate of the same CA.
    code, text = refusal(lambda: invoke_as(certs["MALLORY"], b"mallory"))
    assert (code, text.split(":")[0]) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "20011 TLS_PEER_MISMATCH",
    )
    with grpc.insecure_channel(target) as plain:  # no TLS at all: no connection
        stub = ptp_pb2_grpc.PrivateTransferProtocolStub(plain)
        code, _ = refusal(lambda: stub.invoke(ptp_pb2.Inbound(), timeout=2))
        assert code == grpc.StatusCode.UNAVAILABLE
    view = b.admin.get("/audit", action="request.refused", limit=1000)
    assert any("TLS_PEER_MISMATCH" in event["details"] for event in view)


@pytest.mark.anyio
async def test_an_open_stream_is_cut_off_when_the_contract_ends() -> None:
    """In-process nodes, B's real gRPC listener: a stream authorised at its start does
    not outlive the contract."""
    async with InProcessCluster() as cluster:
        a = await cluster.add_node("NODE_A")
        b = await cluster.add_node("NODE_B", interconn_grpc_port=free_port())
        contract_id = await cluster.connect(a, b)
        await b.admin_call(
            "POST",
            "/transport/sessions",
            {"session_id": EW_SESSION, "token": TOKEN, "parties": ["NODE_A"]},
        )
        servers = await start_grpc_servers(b.ctx)
        assert len(servers) == 1  # transport.grpc_port is 0: that face stays off
        try:
            address = f"127.0.0.1:{b.ctx.config.interconn.grpc_port}"
            async with grpc.aio.insecure_channel(address) as channel:
                stub = ptp_pb2_grpc.PrivateTransferProtocolStub(channel)
                first = frame(301, b"before")
                call = stub.transport(
                    metadata=signed(
                        a.ctx.identity, "NODE_B", TRANSPORT_METHOD, first.SerializeToString()
                    )
                )
                await call.write(first)
                assert (await call.read()).code == PtpCode.OK
                await b.admin_call("POST", f"/contracts/{contract_id}/terminate", {"reason": "t"})
                # Cut without another frame: a silent stream does not outlive the contract
                # (the bound only keeps a broken build from hanging the run).
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await asyncio.wait_for(call.read(), 30)
                assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
                assert caught.value.details().startswith("20007 CONTRACT_TERMINATED")
        finally:
            await stop_grpc_servers(servers, grace_s=0)
        stored = await b.ctx.transport.pop(EW_SESSION, TOKEN, "NODE_A", "stream", 0)
        assert stored is not None and stored.payload == b"before"
        stored.delivered()
        assert await b.ctx.transport.pop(EW_SESSION, TOKEN, "NODE_A", "stream", 0) is None


def test_kuscia_package_paths_and_wrapped_invoke(nodes: tuple[Node, Node]) -> None:
    """Kuscia's ``org.ppc.grpc_ptp`` method paths reach the same services, signed over
    the path actually called; a wrapped invoke (Mesh) carries the container's push."""
    a, b = nodes
    kuscia_invoke = "/org.ppc.grpc_ptp.PrivateTransferProtocol/invoke"
    push = ptp_pb2.PushInbound(topic="kuscia", payload=b"wrapped via grpc_ptp")
    inbound = ptp_pb2.Inbound(
        metadata={"x-ptp-session-id": EW_SESSION}, payload=push.SerializeToString()
    )
    body = inbound.SerializeToString()
    call = b.channels[1].unary_unary(
        kuscia_invoke,
        request_serializer=ptp_pb2.Inbound.SerializeToString,
        response_deserializer=ptp_pb2.Outbound.FromString,
    )
    md = signed(a, b, kuscia_invoke, body, x_ptp_uri="/v1/interconn/chan/push")
    assert call(inbound, metadata=md).code == PtpCode.OK
    with pytest.raises(grpc.RpcError) as refused:  # signed for the other package's path
        call(inbound, metadata=signed(a, b, INVOKE_METHOD, body))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    kuscia_pop = b.channels[0].unary_unary(
        "/org.ppc.grpc_ptp.PrivateTransferTransport/pop",
        request_serializer=ptp_pb2.PopInbound.SerializeToString,
        response_deserializer=ptp.parse_outbound,
    )
    reply = kuscia_pop(
        ptp_pb2.PopInbound(topic="kuscia", timeout=5), metadata=meta(a, session=EW_SESSION)
    )
    assert reply == (PtpCode.OK, "", b"wrapped via grpc_ptp")
