"""South-north transport checks (digest §4.2, §4.3): the kit plays the algorithm
container on the target's transport listener. Messages reach the target's queues the
way a partner's do, by the kit's signed east-west ``invoke`` (a node's own pushes leave
for the partner, so only a partner can fill a queue a container pops), and the kit pops
them as the container: in order, intact at any size including empty and large, peeked
without being consumed, an empty pop returning within its timeout, a wrong token and a
released session refused.

Each check uses its own session (``chan.session``) and topics, so nothing it sends can
reach a real job; a session the release check ends was opened for the kit alone.
"""

from __future__ import annotations

import hashlib
import json

from isthmus.conformance.checks import chan  # the sibling module, not the package
from isthmus.conformance.context import CheckContext
from isthmus.conformance.model import Part, TransportSession
from isthmus.conformance.registry import check
from isthmus.wire import paths
from isthmus.wire.ptp import PtpCode

LARGE = 2 * 1024 * 1024
SESSION_PLAN = "a session the target's operator opened for the kit (its own for this check)"


async def _fill(ctx: CheckContext, s: TransportSession, topic: str, *payloads: bytes) -> None:
    for i, payload in enumerate(payloads):
        status, code = await chan.invoke(ctx, s, topic, payload, label=f"invoke #{i + 1}")
        ctx.expect(chan.is_ok(code), f"invoke #{i + 1} refused: HTTP {status}, code {code}")


@check(
    "transport.sn.order",
    title="Messages pop in the order they arrived (FIFO per session and topic)",
    part=Part.TRANSPORT_SN,
    section="§4.2, §4.3",
    mutates=True,
    plan=(
        SESSION_PLAN,
        f"3 signed pass-through invokes on {paths.CHAN_INVOKE}: m1, m2, m3",
        f"3 pops on the transport listener's {paths.CHAN_POP}: expect m1, m2, m3",
    ),
)
async def order(ctx: CheckContext) -> None:
    s, topic = chan.session(ctx), chan.topic(ctx)
    sent = [f"{topic}:m{i}".encode() for i in (1, 2, 3)]
    await _fill(ctx, s, topic, *sent)
    got = []
    for i in range(len(sent)):
        reply = await chan.south_north(ctx, "pop", s, topic, timeout_s=5, label=f"pop #{i + 1}")
        ctx.expect(reply.code == PtpCode.OK, f"pop #{i + 1}: code {reply.code} {reply.message}")
        got.append(reply.payload)
    ctx.expect(
        got == sent,
        f"popped {[g.decode(errors='replace') for g in got]}, pushed "
        f"{[x.decode() for x in sent]}: not first in, first out",
    )
    ctx.note("three messages popped in the order they were pushed")


@check(
    "transport.sn.peek",
    title="peek shows the head without taking it; pop then takes it",
    part=Part.TRANSPORT_SN,
    section="§4.2",
    mutates=True,
    plan=(
        SESSION_PLAN,
        "invoke m1",
        "peek twice: expect m1 both times",
        "pop: expect m1",
        "pop (timeout 1 s): expect no message",
    ),
)
async def peek(ctx: CheckContext) -> None:
    s, topic = chan.session(ctx), chan.topic(ctx)
    message = f"{topic}:peeked".encode()
    await _fill(ctx, s, topic, message)
    for i in (1, 2):
        seen = await chan.south_north(ctx, "peek", s, topic, label=f"peek #{i}")
        ctx.expect(seen.payload == message, f"peek #{i}: {seen.code} {seen.payload[:40]!r}")
    popped = await chan.south_north(ctx, "pop", s, topic, timeout_s=5)
    ctx.expect(popped.payload == message, f"pop after peek: {popped.code} {popped.message}")
    empty = await chan.south_north(ctx, "pop", s, topic, timeout_s=1, label="pop, now empty")
    ctx.expect(chan.no_message(empty), "the peeked and popped message came out twice")
    ctx.note("peek left the message in place; pop took it once")


@check(
    "transport.sn.sizes",
    title="An empty and a 2 MiB payload arrive intact",
    part=Part.TRANSPORT_SN,
    section="§4.2, §4.4",
    mutates=True,
    plan=(
        SESSION_PLAN,
        "invoke an empty payload, then 2 MiB of bytes",
        "pop: expect code OK with an empty payload (not 'no message')",
        "pop: expect the 2 MiB, same SHA-256",
    ),
)
async def sizes(ctx: CheckContext) -> None:
    s, topic = chan.session(ctx), chan.topic(ctx)
    large = hashlib.sha256(topic.encode()).digest() * (LARGE // 32)
    await _fill(ctx, s, topic, b"", large)
    empty = await chan.south_north(ctx, "pop", s, topic, timeout_s=5, label="pop empty")
    ctx.expect(
        empty.code == PtpCode.OK and not empty.payload,
        f"an empty message popped as code {empty.code}, {len(empty.payload)} bytes: an "
        "empty payload is a message, not 'nothing to pop'",
    )
    big = await chan.south_north(ctx, "pop", s, topic, timeout_s=10, label="pop 2 MiB")
    ctx.expect(big.code == PtpCode.OK, f"2 MiB pop: code {big.code} {big.message}")
    ctx.expect(
        hashlib.sha256(big.payload).digest() == hashlib.sha256(large).digest(),
        f"2 MiB popped as {len(big.payload)} different bytes",
    )
    ctx.note("an empty message and a 2 MiB one arrived intact, in order")


@check(
    "transport.sn.pop-timeout",
    title="A pop on an empty topic returns empty within its timeout",
    part=Part.TRANSPORT_SN,
    section="§4.2",
    mutates=False,
    plan=(
        SESSION_PLAN,
        f"POST {paths.CHAN_POP}?timeout=1 on a topic nobody pushed to",
        "expect: an answer (no payload) well within the kit's 10 s client timeout",
    ),
)
async def pop_timeout(ctx: CheckContext) -> None:
    s, topic = chan.session(ctx), chan.topic(ctx)
    reply = await chan.south_north(ctx, "pop", s, topic, timeout_s=1, label="pop empty topic")
    ctx.expect(chan.no_message(reply), f"an empty topic gave {len(reply.payload)} bytes")
    ctx.note(f"empty pop answered within its timeout: code {reply.code or '(none)'}")


@check(
    "transport.sn.token",
    title="A wrong x-ptp-token is refused and takes nothing",
    part=Part.TRANSPORT_SN,
    section="§1.3, §4.2",
    mutates=True,
    plan=(
        SESSION_PLAN,
        "invoke m1",
        "pop with a wrong x-ptp-token: expect a non-OK code, no payload",
        "pop with the right token: expect m1",
    ),
)
async def token(ctx: CheckContext) -> None:
    s, topic = chan.session(ctx), chan.topic(ctx)
    message = f"{topic}:guarded".encode()
    await _fill(ctx, s, topic, message)
    wrong = await chan.south_north(
        ctx, "pop", s, topic, timeout_s=1, token=ctx.ids.new("token"), label="pop, wrong token"
    )
    ctx.expect(
        wrong.code != PtpCode.OK and not wrong.payload,
        f"a wrong token popped: code {wrong.code}, {len(wrong.payload)} bytes",
    )
    right = await chan.south_north(ctx, "pop", s, topic, timeout_s=5, label="pop, its token")
    ctx.expect(right.payload == message, f"the right token then got {right.code}")
    ctx.note(f"a wrong token is refused ({wrong.code}); the message waited for the right one")


@check(
    "transport.sn.release",
    title="A released session refuses further use",
    part=Part.TRANSPORT_SN,
    section="§4.2, §4.3",
    mutates=True,
    plan=(
        SESSION_PLAN,
        "invoke m1 (left unread)",
        f"POST {paths.CHAN_RELEASE} (no topic: the session): expect OK",
        "pop: expect a non-OK code and no payload (608 = released)",
        "invoke m2: expect refused",
    ),
)
async def release(ctx: CheckContext) -> None:
    s, topic = chan.session(ctx), chan.topic(ctx)
    await _fill(ctx, s, topic, f"{topic}:unread".encode())
    released = await chan.south_north(ctx, "release", s, "", label="release the session")
    ctx.expect(released.code == PtpCode.OK, f"release: code {released.code} {released.message}")
    after = await chan.south_north(ctx, "pop", s, topic, timeout_s=1, label="pop after release")
    ctx.expect(not after.payload, "the released session still gave its unread message")
    ctx.expect(after.code != PtpCode.OK, f"a pop on a released session answered {after.code}")
    status, code = await chan.invoke(ctx, s, topic, b"late", label="invoke after release")
    ctx.expect(not chan.is_ok(code), f"a released session accepted a message: {code}")
    if after.code != PtpCode.SESSION_RELEASED:
        ctx.note(f"(the code is {after.code}, not {PtpCode.SESSION_RELEASED} 'session released')")
    ctx.note(f"after release: pop {after.code}, invoke refused ({code}, HTTP {status})")


@check(
    "transport.sn.json",
    title="The JSON body style: push body {payload: base64}, pop answers content",
    part=Part.TRANSPORT_SN,
    section="§4.2",
    mutates=True,
    plan=(
        SESSION_PLAN,
        "invoke m1",
        f"POST {paths.CHAN_POP} with content-type application/json {{topic, timeout: 5}}",
        "expect JSON {code: E0000000000, message, content: base64(m1)}",
    ),
)
async def json_style(ctx: CheckContext) -> None:
    s, topic = chan.session(ctx), chan.topic(ctx)
    message = f"{topic}:json".encode()
    await _fill(ctx, s, topic, message)
    url = str(ctx.target.transport_address).rstrip("/") + paths.CHAN_POP
    if "://" not in url:
        url = "http://" + url
    headers = {**chan.routing(s, topic, ctx.kit.node_id), "content-type": "application/json"}
    body = json.dumps({"topic": topic, "timeout": 5}).encode()
    reply = await ctx.http.raw("POST", url, content=body, headers=headers, label="JSON pop")
    ctx.expect(isinstance(reply.json, dict), f"a JSON pop answered HTTP {reply.status}, not JSON")
    assert isinstance(reply.json, dict)
    ctx.expect(reply.json.get("code") == PtpCode.OK, f"JSON pop: code {reply.json.get('code')}")
    ctx.expect(
        reply.json.get("content") == chan.b64(message),
        "JSON pop: content is not base64 of the message",
    )
    ctx.note("application/json pop answered {code, message, content: base64}")
