"""East-west transport checks (digest §4.3): ``invoke`` between transport modules, both
ways. The kit, as the partner, sends a signed pass-through ``invoke`` (v1.2) and a
Mesh-wrapped one (v1.1: ``Inbound{payload = PushInbound}``) and pops each from the
target's south-north side; an unsigned ``invoke`` must be refused and store nothing.
The other way, the kit pushes as the container on the target, addressed to itself, and
its listener must receive the message from the target, signed when the target's scheme
and key are known.
"""

from __future__ import annotations

from isthmus.conformance.checks import chan  # the sibling module, not the package
from isthmus.conformance.context import CheckContext
from isthmus.conformance.model import Part
from isthmus.conformance.registry import check
from isthmus.wire import paths, ptp
from isthmus.wire.proto import ptp_pb2
from isthmus.wire.ptp import PtpCode

SESSION_PLAN = "a session the target's operator opened for the kit (its own for this check)"


@check(
    "transport.ew.invoke",
    title="A signed pass-through invoke reaches the target's container side",
    part=Part.TRANSPORT_EW,
    section="§4.3",
    mutates=True,
    plan=(
        SESSION_PLAN,
        f"POST {paths.CHAN_INVOKE}, signed, x-ptp-version: 1, body = payload",
        "expect an OK code; then pop it south-north: expect the same bytes",
    ),
)
async def invoke(ctx: CheckContext) -> None:
    s, topic = chan.session(ctx), chan.topic(ctx)
    payload = f"{topic}:pass-through".encode()
    status, code = await chan.invoke(ctx, s, topic, payload)
    ctx.expect(chan.is_ok(code), f"a signed invoke was refused: HTTP {status}, code {code}")
    popped = await chan.south_north(ctx, "pop", s, topic, timeout_s=5)
    ctx.expect(popped.payload == payload, f"the invoked message popped as {popped.code}")
    ctx.note(f"invoke answered {code}; the container popped the same bytes")


@check(
    "transport.ew.wrapped",
    title="A Mesh-wrapped invoke (v1.1) is unwrapped",
    part=Part.TRANSPORT_EW,
    section="§4.3",
    mutates=True,
    plan=(
        SESSION_PLAN,
        f"POST {paths.CHAN_INVOKE}, signed, x-ptp-uri: {paths.CHAN_PUSH}, no "
        "x-ptp-version, body = Inbound{payload = PushInbound{topic, payload}}",
        "pop: expect the inner payload",
    ),
)
async def wrapped(ctx: CheckContext) -> None:
    s, topic = chan.session(ctx), chan.topic(ctx)
    payload = f"{topic}:wrapped".encode()
    push = ptp_pb2.PushInbound(topic=topic, payload=payload)
    body = ptp_pb2.Inbound(
        payload=push.SerializeToString(), metadata={ptp.SESSION_ID: s.session_id}
    ).SerializeToString()
    status, code = await chan.invoke(
        ctx, s, topic, payload, body=body, extra={ptp.VERSION: "2"}, label="wrapped invoke"
    )
    ctx.expect(chan.is_ok(code), f"a wrapped invoke was refused: HTTP {status}, code {code}")
    popped = await chan.south_north(ctx, "pop", s, topic, timeout_s=5)
    ctx.expect(
        popped.payload == payload,
        f"popped {len(popped.payload)} bytes ({popped.code}), not the inner payload",
    )
    ctx.note("the PushInbound inside Inbound.payload was delivered unwrapped")


@check(
    "transport.ew.unsigned",
    title="An unsigned invoke is refused and stores nothing",
    part=Part.TRANSPORT_EW,
    section="§1.2, §4.3",
    mutates=True,
    plan=(
        SESSION_PLAN,
        f"POST {paths.CHAN_INVOKE} with the routing headers and no signature",
        "expect refused (an envelope or a non-OK Outbound)",
        "pop (timeout 1 s): expect no message",
    ),
)
async def unsigned(ctx: CheckContext) -> None:
    s, topic = chan.session(ctx), chan.topic(ctx)
    status, code = await chan.invoke(
        ctx, s, topic, b"forged", signed=False, label="unsigned invoke"
    )
    ctx.expect(status < 500, f"an unsigned invoke: HTTP {status}")
    ctx.expect(
        not chan.is_ok(code) or status >= 400,
        f"an unsigned invoke was accepted: HTTP {status}, code {code}",
    )
    popped = await chan.south_north(ctx, "pop", s, topic, timeout_s=1)
    ctx.expect(chan.no_message(popped), "the unsigned invoke's message was stored")
    ctx.note(f"an unsigned invoke: refused (HTTP {status}, code {code}); nothing stored")


@check(
    "transport.ew.reverse",
    title="A container's push reaches the partner (the kit's listener)",
    part=Part.TRANSPORT_EW,
    section="§4.1, §4.3",
    mutates=True,
    plan=(
        SESSION_PLAN,
        f"POST {paths.CHAN_PUSH} on the transport listener, x-ptp-target-node-id = the kit",
        f"expect the target to call the kit's listener under {paths.CHAN}/ with the "
        "payload, signed (verified when the target's key and scheme are known)",
    ),
)
async def reverse(ctx: CheckContext) -> None:
    s, topic = chan.session(ctx), chan.topic(ctx)
    if not ctx.kit.listener_address:
        ctx.not_applicable("the kit runs without a listener the target can call")
    ok = ptp_pb2.Outbound(code=PtpCode.OK, message="", metadata={"stored": "1"})
    ctx.listener.answer(paths.CHAN, 200, ok.SerializeToString(), "application/x-protobuf")
    payload = f"{topic}:to-the-kit".encode()
    pushed = await chan.south_north(ctx, "push", s, topic, payload=payload, label="push")
    ctx.expect(pushed.code == PtpCode.OK, f"push: code {pushed.code} {pushed.message}")
    got = await ctx.listener.expect(paths.CHAN, 20)
    ctx.expect(payload in got.body, f"the listener got {got.method} {got.path} without the payload")
    session_id = ptp.read(got.headers, ptp.SESSION_ID)
    ctx.expect(
        session_id in (None, s.session_id) or s.session_id.encode() in got.body,
        f"forwarded under session {session_id!r}, pushed under {s.session_id!r}",
    )
    ctx.expect(
        got.signature_valid is not False,
        "the target's east-west call is not signed with its contract key",
    )
    signed = "signature verified" if got.signature_valid else "signature not checked"
    ctx.note(f"the push arrived as {got.method} {got.path} ({signed})")
