"""Transport header spellings, both ways, and the protobuf body style (digest §4.1-§4.4).

The ``x-ptp-*`` headers are spelled differently on the wire: the spec, Kuscia and yacl
send ``x-ptp-source-node-id``, Mesh and FATE's OSX ``x-ptp-from-node-id``; yacl spells
the vendor header ``x-ptp-tecn-provider-code``. The digest's advice is "accept both"
(§4.1), so the kit sends each variant *to* the target (an ``invoke`` with the Mesh
spelling, a pop with yacl's) and expects it to work as the spec's spelling does; and it
reads what the target *sends* (a container's push forwarded to the kit) for every header
§4.1 requires east-west, either spelling counting.

Body styles: south-north, v1.2 §5.1 makes ``application/x-protobuf`` mandatory beside
JSON (the ``PopInbound`` / ``TransportOutbound`` messages); JSON has its own check
(``transport.sn.json``). East-west the body is opaque bytes (§4.3): its only protobuf
form is the wrapped ``Inbound{payload = PushInbound}`` that ``transport.ew.wrapped``
checks, so there is no separate east-west protobuf check.
"""

from __future__ import annotations

from isthmus.conformance.checks import chan  # the sibling module, not the package
from isthmus.conformance.context import CheckContext
from isthmus.conformance.model import Part, TransportSession
from isthmus.conformance.registry import check
from isthmus.wire import paths, ptp
from isthmus.wire.proto import ptp_pb2
from isthmus.wire.ptp import PtpCode

SESSION_PLAN = "a session the target's operator opened for the kit (its own for this check)"
#: Required east-west (§4.1 table), each with the spellings that count.
SENT_EAST_WEST = (
    ptp.SESSION_ID,
    ptp.TARGET_NODE_ID,
    ptp.SOURCE_NODE_ID,
    ptp.TRACE_ID,
    ptp.TECH_PROVIDER_CODE,
    ptp.VERSION,
    ptp.URI,
)


def _url(ctx: CheckContext, kind: str) -> str:
    url = str(ctx.target.transport_address).rstrip("/") + f"{paths.CHAN}/{kind}"
    return url if "://" in url else "http://" + url


async def _invoked(ctx: CheckContext, s: TransportSession, topic: str, data: bytes) -> None:
    status, code = await chan.invoke(ctx, s, topic, data)
    ctx.expect(chan.is_ok(code), f"invoke refused: HTTP {status}, code {code}")


@check(
    "transport.ew.from-spelling",
    title="An invoke naming its source x-ptp-from-node-id (Mesh, FATE OSX) is accepted",
    part=Part.TRANSPORT_EW,
    section="§4.1, §4.3",
    mutates=True,
    plan=(
        SESSION_PLAN,
        f"POST {paths.CHAN_INVOKE}, signed, pass-through, with {ptp.FROM_NODE_ID} instead of "
        f"{ptp.SOURCE_NODE_ID}",
        "expect an OK code; then pop it south-north from the kit: expect the same bytes",
    ),
)
async def from_spelling(ctx: CheckContext) -> None:
    s, topic = chan.session(ctx), chan.topic(ctx)
    payload = f"{topic}:from-spelling".encode()
    status, code = await chan.invoke(
        ctx,
        s,
        topic,
        payload,
        omit=(ptp.SOURCE_NODE_ID,),
        extra={ptp.FROM_NODE_ID: ctx.kit.node_id},
        label=f"invoke with {ptp.FROM_NODE_ID}",
    )
    ctx.expect(
        chan.is_ok(code),
        f"an invoke with {ptp.FROM_NODE_ID} was refused: HTTP {status}, code {code} (the "
        "digest: accept both spellings, §4.1)",
    )
    popped = await chan.south_north(ctx, "pop", s, topic, timeout_s=5)
    ctx.expect(popped.payload == payload, f"the message popped as {popped.code}, not intact")
    ctx.note(f"{ptp.FROM_NODE_ID} accepted as the source; the container popped the message")


@check(
    "transport.sn.tecn-spelling",
    title="A pop with yacl's x-ptp-tecn-provider-code is served",
    part=Part.TRANSPORT_SN,
    section="§4.1, §4.4",
    mutates=True,
    plan=(
        SESSION_PLAN,
        "invoke m1",
        f"POST {paths.CHAN_POP}?timeout=5 with {ptp.TECN_PROVIDER_CODE} (SecretFlow yacl's "
        f"spelling) and no {ptp.TECH_PROVIDER_CODE}: expect m1",
    ),
)
async def tecn_spelling(ctx: CheckContext) -> None:
    s, topic = chan.session(ctx), chan.topic(ctx)
    message = f"{topic}:tecn".encode()
    await _invoked(ctx, s, topic, message)
    headers = chan.routing(s, topic, ctx.kit.node_id)
    headers[ptp.TECN_PROVIDER_CODE] = headers.pop(ptp.TECH_PROVIDER_CODE)
    headers["content-type"] = "application/octet-stream"
    reply = await ctx.http.raw(
        "POST",
        _url(ctx, "pop"),
        content=b"",
        headers=headers,
        params={"timeout": "5"},
        label=f"pop with {ptp.TECN_PROVIDER_CODE}",
    )
    popped = chan.outbound(ctx, reply, "chan/pop")
    ctx.expect(
        popped.code == PtpCode.OK and popped.payload == message,
        f"a pop with {ptp.TECN_PROVIDER_CODE} got {popped.code} {popped.message!r} "
        f"({len(popped.payload)} bytes): SecretFlow's container sends that spelling (§4.4)",
    )
    ctx.note(f"{ptp.TECN_PROVIDER_CODE} served like {ptp.TECH_PROVIDER_CODE}")


@check(
    "transport.ew.headers-sent",
    title="The target's own east-west call carries every x-ptp header §4.1 requires",
    part=Part.TRANSPORT_EW,
    section="§4.1, §4.3",
    mutates=True,
    plan=(
        SESSION_PLAN,
        f"POST {paths.CHAN_PUSH} on the transport listener, x-ptp-target-node-id = the kit",
        "on the kit's listener: expect "
        + ", ".join(SENT_EAST_WEST)
        + f" (either spelling: {ptp.FROM_NODE_ID}, {ptp.TECN_PROVIDER_CODE} count), the "
        "session and node ids the kit expects",
    ),
)
async def headers_sent(ctx: CheckContext) -> None:
    s, topic = chan.session(ctx), chan.topic(ctx)
    if not ctx.kit.listener_address:
        ctx.not_applicable("the kit runs without a listener the target can call")
    ok = ptp_pb2.Outbound(code=PtpCode.OK, message="")
    ctx.listener.answer(paths.CHAN, 200, ok.SerializeToString(), "application/x-protobuf")
    pushed = await chan.south_north(
        ctx, "push", s, topic, payload=f"{topic}:headers".encode(), label="push"
    )
    ctx.expect(pushed.code == PtpCode.OK, f"push: code {pushed.code} {pushed.message}")
    got = await ctx.listener.expect(paths.CHAN, 20)
    absent = [name for name in SENT_EAST_WEST if not ptp.read(got.headers, name)]
    ctx.expect(not absent, f"the target's {got.path} lacks {', '.join(absent)} (§4.1)")
    expected = {
        ptp.SESSION_ID: s.session_id,
        ptp.TARGET_NODE_ID: ctx.kit.node_id,
        ptp.SOURCE_NODE_ID: ctx.target.node_id,
    }
    for name, value in expected.items():
        sent = ptp.read(got.headers, name)
        ctx.expect(sent == value, f"{name} is {sent!r}, not {value!r}")
    spelled = [
        spelling
        for name in (ptp.SOURCE_NODE_ID, ptp.TECH_PROVIDER_CODE)
        for spelling in ptp.spellings(name)
        if spelling in got.headers
    ]
    ctx.note(f"{got.path}: every required header present, spelled {', '.join(spelled)}")
    if not ptp.read(got.headers, ptp.TOKEN):
        ctx.note(f"(no {ptp.TOKEN}: §1.3 advises receivers not to validate it yet)")


@check(
    "transport.sn.protobuf",
    title="The protobuf body style: PopInbound in, TransportOutbound out",
    part=Part.TRANSPORT_SN,
    section="§4.2",
    mutates=True,
    plan=(
        SESSION_PLAN,
        "invoke m1",
        f"POST {paths.CHAN_POP}?timeout=1 with content-type application/x-protobuf, body "
        "PopInbound{topic, timeout: 5}, no x-ptp-topic (the topic must come from the body)",
        "expect TransportOutbound{payload: m1, code: E0000000000}",
    ),
)
async def protobuf_style(ctx: CheckContext) -> None:
    s, topic = chan.session(ctx), chan.topic(ctx)
    message = f"{topic}:protobuf".encode()
    await _invoked(ctx, s, topic, message)
    headers = {**chan.routing(s, topic, ctx.kit.node_id), "content-type": "application/x-protobuf"}
    del headers[ptp.TOPIC]  # the topic is the body's: a target reading raw pops nothing
    body = ptp_pb2.PopInbound(topic=topic, timeout=5).SerializeToString()
    reply = await ctx.http.raw(
        "POST",
        _url(ctx, "pop"),
        content=body,
        headers=headers,
        params={"timeout": "1"},
        label="protobuf pop",
    )
    popped = chan.outbound(ctx, reply, "protobuf chan/pop")
    ctx.expect(
        popped.code == PtpCode.OK and popped.payload == message,
        f"a PopInbound pop got {popped.code} {popped.message!r} ({len(popped.payload)} bytes)",
    )
    ctx.note("application/x-protobuf: PopInbound answered with the message in TransportOutbound")
