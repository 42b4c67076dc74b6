"""The south-north transport API in each body style, and the east-west invoke, in-process."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import update

from isthmus.store.schema import ContractRow
from isthmus.store.transport import OutMessage
from isthmus.testing import InProcessCluster, InProcessNode
from isthmus.transport.queues import MAX_COMMITTER_RESTARTS
from isthmus.wire import ptp
from isthmus.wire.proto import ptp_pb2

pytestmark = pytest.mark.anyio
SESSION, TOKEN = "session_job-styles", "tok"


@pytest.fixture
async def pair() -> AsyncIterator[tuple[InProcessNode, InProcessNode]]:
    async with InProcessCluster() as cluster:
        a, b = await cluster.start(2)
        await cluster.connect(a, b)
        for node, other in ((a, b), (b, a)):
            await node.admin_call(
                "POST",
                "/transport/sessions",
                {"session_id": SESSION, "token": TOKEN, "parties": [other.node_id]},
            )
        yield a, b


def headers(peer: InProcessNode, **extra: str) -> dict[str, str]:
    return {
        "x-ptp-session-id": SESSION,
        "x-ptp-token": TOKEN,
        "x-ptp-target-node-id": peer.node_id,
        **extra,
    }


async def test_protobuf_style_push_and_pop(pair: tuple[InProcessNode, InProcessNode]) -> None:
    a, b = pair
    push = ptp_pb2.PushInbound(topic="t", payload=b"proto-body").SerializeToString()
    reply = await a.transport.post(
        "/v1/interconn/chan/push",
        content=push,
        headers=headers(b, **{"content-type": "application/x-protobuf"}),
    )
    assert ptp.parse_outbound(reply.content)[0] == ptp.PtpCode.OK
    assert await a.ctx.transport.forward_once()
    pop = ptp_pb2.PopInbound(topic="t", timeout=1).SerializeToString()
    reply = await b.transport.post(
        "/v1/interconn/chan/pop",
        content=pop,
        headers=headers(a, **{"content-type": "application/x-protobuf"}),
    )
    assert ptp.parse_outbound(reply.content) == (ptp.PtpCode.OK, "", b"proto-body")


async def test_json_style_push_and_pop(pair: tuple[InProcessNode, InProcessNode]) -> None:
    a, b = pair
    body = {"topic": "j", "payload": base64.b64encode(b"json-body").decode()}
    reply = await a.transport.post("/v1/interconn/chan/push", json=body, headers=headers(b))
    assert reply.json()["code"] == ptp.PtpCode.OK
    await a.ctx.transport.forward_once()
    reply = await b.transport.post(
        "/v1/interconn/chan/pop", json={"topic": "j", "timeout": 1}, headers=headers(a)
    )
    assert reply.json()["code"] == ptp.PtpCode.OK
    assert base64.b64decode(reply.json()["content"]) == b"json-body"


async def test_v12_layout_when_asked(pair: tuple[InProcessNode, InProcessNode]) -> None:
    a, b = pair
    reply = await a.transport.post(
        "/v1/interconn/chan/push",
        content=b"raw",
        headers=headers(b, **{"x-ptp-topic": "r", "x-ptp-outbound-layout": "v1.2"}),
    )
    assert ptp.parse_outbound(reply.content, layout="v1.2")[0] == ptp.PtpCode.OK


async def test_bad_bodies_get_a_transport_code_not_a_crash(
    pair: tuple[InProcessNode, InProcessNode],
) -> None:
    a, b = pair
    cases = [
        ({"content-type": "application/x-protobuf"}, b"\xff\xff\xff", ptp.PtpCode.CODEC_ERROR),
        ({"content-type": "application/json"}, b"{not json", ptp.PtpCode.CODEC_ERROR),
        ({"content-type": "application/json"}, b'{"payload": "***"}', ptp.PtpCode.BAD_REQUEST),
    ]
    for extra, body, code in cases:
        reply = await a.transport.post(
            "/v1/interconn/chan/push", content=body, headers=headers(b, **extra)
        )
        assert reply.status_code == 200
        got = (
            reply.json()["code"]
            if extra["content-type"] == "application/json"
            else ptp.parse_outbound(reply.content)[0]
        )
        assert got == code, (body, got)
    missing = await a.transport.post(
        "/v1/interconn/chan/push", content=b"x", headers={"x-ptp-session-id": SESSION}
    )
    assert ptp.parse_outbound(missing.content)[0] in (
        ptp.PtpCode.BAD_REQUEST,
        ptp.PtpCode.UNAUTHORIZED,
    )


async def test_pass_through_invoke_from_a_partner(
    pair: tuple[InProcessNode, InProcessNode],
) -> None:
    a, b = pair
    response = await a.signed_post_bytes(
        b,
        "/v1/interconn/chan/invoke",
        b"one message",
        ptp_headers={"x-ptp-session-id": SESSION, "x-ptp-topic": "inv", "x-ptp-version": "1"},
    )
    outbound = ptp_pb2.Outbound.FromString(response.content)
    assert outbound.code == ptp.PtpCode.OK
    reply = await b.transport.post(
        "/v1/interconn/chan/pop",
        content=b"",
        headers=headers(a, **{"x-ptp-topic": "inv"}),
        params={"timeout": "1"},
    )
    assert ptp.parse_outbound(reply.content) == (ptp.PtpCode.OK, "", b"one message")


async def test_wrapped_invoke_carries_the_containers_push(
    pair: tuple[InProcessNode, InProcessNode],
) -> None:
    """Mesh's wrapped mode: an Inbound whose payload is the container's PushInbound."""
    a, b = pair
    push = ptp_pb2.PushInbound(topic="wrapped", payload=b"inner bytes")
    inbound = ptp_pb2.Inbound(
        metadata={"x-ptp-session-id": SESSION}, payload=push.SerializeToString()
    )
    response = await a.signed_post_bytes(
        b,
        "/v1/interconn/chan/invoke",
        inbound.SerializeToString(),
        ptp_headers={"x-ptp-uri": "/v1/interconn/chan/push", "x-ptp-version": "1.1"},
    )
    assert ptp_pb2.Outbound.FromString(response.content).code == ptp.PtpCode.OK
    reply = await b.transport.post(
        "/v1/interconn/chan/pop",
        content=b"",
        headers=headers(a, **{"x-ptp-topic": "wrapped"}),
        params={"timeout": "1"},
    )
    assert ptp.parse_outbound(reply.content) == (ptp.PtpCode.OK, "", b"inner bytes")
    garbage = await a.signed_post_bytes(
        b,
        "/v1/interconn/chan/invoke",
        b"\xff\xff\xff",
        ptp_headers={
            "x-ptp-session-id": SESSION,
            "x-ptp-uri": "/v1/interconn/chan/push",
            "x-ptp-version": "1.1",
        },
    )
    assert ptp_pb2.Outbound.FromString(garbage.content).code == ptp.PtpCode.CODEC_ERROR


async def test_a_pop_without_target_node_takes_from_any_partner(
    pair: tuple[InProcessNode, InProcessNode],
) -> None:
    """FATE's OSX client pops with session and topic only."""
    a, b = pair
    for body in (b"first", b"second"):
        await a.signed_post_bytes(
            b,
            "/v1/interconn/chan/invoke",
            body,
            ptp_headers={"x-ptp-session-id": SESSION, "x-ptp-topic": "fate", "x-ptp-version": "1"},
        )
    fate_headers = {"x-ptp-session-id": SESSION, "x-ptp-token": TOKEN, "x-ptp-topic": "fate"}
    for expected in (b"first", b"second"):
        reply = await b.transport.post(
            "/v1/interconn/chan/pop", content=b"", headers=fate_headers, params={"timeout": "1"}
        )
        assert ptp.parse_outbound(reply.content) == (ptp.PtpCode.OK, "", expected)
    waiting = asyncio.ensure_future(
        b.transport.post(
            "/v1/interconn/chan/pop", content=b"", headers=fate_headers, params={"timeout": "5"}
        )
    )
    await asyncio.sleep(0.1)
    await a.signed_post_bytes(
        b,
        "/v1/interconn/chan/invoke",
        b"late",
        ptp_headers={"x-ptp-session-id": SESSION, "x-ptp-topic": "fate", "x-ptp-version": "1"},
    )
    reply = await asyncio.wait_for(waiting, 5)
    assert ptp.parse_outbound(reply.content) == (ptp.PtpCode.OK, "", b"late")


async def test_messages_for_another_platform_go_as_ordered_pass_through_invokes(
    pair: tuple[InProcessNode, InProcessNode],
) -> None:
    """A partner whose contract names another system gets one signed pass-through
    invoke per message (B is an Isthmus node here, standing in for any BFIA node)."""
    a, b = pair
    with a.ctx.store.session() as s:
        s.execute(update(ContractRow).values(peer_system="kuscia"))
    for body in (b"one", b"two", b"three"):
        reply = await a.transport.post(
            "/v1/interconn/chan/push", content=body, headers=headers(b, **{"x-ptp-topic": "k"})
        )
        assert ptp.parse_outbound(reply.content)[0] == ptp.PtpCode.OK
    assert await a.ctx.transport.forward_once()
    assert a.ctx.transport._queues.outgoing_by_peer() == {}
    for expected in (b"one", b"two", b"three"):
        reply = await b.transport.post(
            "/v1/interconn/chan/pop",
            content=b"",
            headers=headers(a, **{"x-ptp-topic": "k"}),
            params={"timeout": "1"},
        )
        assert ptp.parse_outbound(reply.content) == (ptp.PtpCode.OK, "", expected)
    # A refusal stops the stream there: nothing overtakes the refused message.
    await b.admin_call("POST", f"/transport/sessions/{SESSION}/release", {})
    await a.transport.post(
        "/v1/interconn/chan/push", content=b"late", headers=headers(b, **{"x-ptp-topic": "k"})
    )
    assert not await a.ctx.transport.forward_once()
    assert [m.payload for m in a.ctx.transport._queues.outgoing_by_peer()[b.node_id]] == [b"late"]


async def test_a_dead_committer_makes_the_node_unready_and_refuses_calls(
    pair: tuple[InProcessNode, InProcessNode], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = pair
    queues = a.ctx.transport._queues
    original = queues._enqueue_forward

    def broken(message: OutMessage, *, loaded: bool = False) -> None:
        if not loaded:
            raise RuntimeError("a bug after the commit")
        original(message, loaded=True)

    monkeypatch.setattr(queues, "_enqueue_forward", broken)
    for _ in range(MAX_COMMITTER_RESTARTS + 1):  # each caller refused, none left hanging
        reply = await a.transport.post("/v1/interconn/chan/push", content=b"x", headers=headers(b))
        assert ptp.parse_outbound(reply.content)[0] == ptp.PtpCode.SYSTEM_ERROR
    ready = await a.admin.get("/readyz")
    assert ready.status_code == 503 and ready.json()["data"]["transport"] is False
    reply = await a.transport.post("/v1/interconn/chan/pop", headers=headers(b))
    assert ptp.parse_outbound(reply.content)[0] == ptp.PtpCode.SYSTEM_ERROR
    assert (await b.admin.get("/readyz")).status_code == 200
