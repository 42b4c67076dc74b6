"""The transport calls the transport checks make (digest §4.2, §4.3): east-west
``invoke`` as the partner, south-north ``push/pop/peek/release`` as the algorithm
container, and the sessions they use.

A session and its token are what a job's scheduler gives its containers (§2.7
``config.session_id``, ``config.token``): nobody else can have them. So the kit, playing
the container, uses sessions the target's operator opened for it (``target.
transport_sessions``, the kit's node id among their parties), one per check, never
reused within a run: no check sees another's messages, and the release check may end
its own. Topics are the run's own ids besides.

South-north calls use the raw style (body = payload, routing in ``x-ptp-*`` headers,
``?timeout=``), the one SecretFlow's yacl and Kuscia use, and read the 3-field
``TransportOutbound`` they parse; the JSON style has its own check. East-west ``invoke``
is pass-through (``x-ptp-version: 1``, v1.2 §5.2), signed like every east-west call.
"""

from __future__ import annotations

import base64
from typing import Any

from isthmus.conformance.context import CheckContext
from isthmus.conformance.model import TransportSession
from isthmus.conformance.recording import Reply
from isthmus.transport.codec import foreign_reply_code
from isthmus.wire import paths, ptp

USED = "transport.sessions.used"
OK_CODES = ("E0000000000", "0", "200")
PROVIDER = "isthmus-conformance"


def session(ctx: CheckContext) -> TransportSession:
    """A session of the run not used by any other check yet (the check's own)."""
    if not ctx.target.transport_address:
        ctx.not_applicable("no transport_address: the target's south-north API is unknown")
    used: int = ctx.state.get(USED, 0)
    sessions = ctx.target.transport_sessions
    if used >= len(sessions):
        ctx.not_applicable(
            "no transport session left for this check: a session's token reaches only the "
            "containers a job starts (§2.7), so the target's operator must open sessions "
            f"for the kit (target.transport_sessions: {len(sessions)} given, all used)"
        )
    ctx.state[USED] = used + 1
    chosen = sessions[used]
    ctx.http.secret(chosen.token)
    return chosen


def topic(ctx: CheckContext) -> str:
    return ctx.ids.new("topic")


def routing(
    s: TransportSession, topic_name: str, peer: str, token: str | None = None
) -> dict[str, str]:
    return {
        ptp.SESSION_ID: s.session_id,
        ptp.TOKEN: s.token if token is None else token,
        ptp.TARGET_NODE_ID: peer,
        ptp.TOPIC: topic_name,
        ptp.TECH_PROVIDER_CODE: PROVIDER,
        ptp.TRACE_ID: topic_name,
    }


async def south_north(
    ctx: CheckContext,
    kind: str,
    s: TransportSession,
    topic_name: str,
    *,
    payload: bytes = b"",
    timeout_s: float | None = None,
    token: str | None = None,
    peer: str | None = None,
    label: str = "",
) -> ptp.Reply:
    """One raw-style call on the target's transport listener; its ``TransportOutbound``."""
    url = str(ctx.target.transport_address).rstrip("/") + f"{paths.CHAN}/{kind}"
    if "://" not in url:
        url = "http://" + url
    params = None if timeout_s is None else {"timeout": f"{timeout_s:g}"}
    headers = routing(s, topic_name, peer or ctx.kit.node_id, token)
    headers["content-type"] = "application/octet-stream"
    reply = await ctx.http.raw(
        "POST", url, content=payload, headers=headers, params=params, label=label or kind
    )
    return outbound(ctx, reply, f"chan/{kind}")


def outbound(ctx: CheckContext, reply: Reply, what: str) -> ptp.Reply:
    ctx.expect(reply.status < 500, f"{what}: HTTP {reply.status}")
    try:
        return ptp.parse_outbound(reply.body)
    except ValueError as exc:
        ctx.fail(
            f"{what}: the reply is not a TransportOutbound{{payload=1, code=2, "
            f"message=3}} (§4.2, §4.4): {exc}"
        )


async def invoke(
    ctx: CheckContext,
    s: TransportSession,
    topic_name: str,
    payload: bytes,
    *,
    signed: bool = True,
    label: str = "invoke",
    extra: dict[str, str] | None = None,
    body: bytes | None = None,
    omit: tuple[str, ...] = (),
) -> tuple[int, str]:
    """East-west ``invoke`` as the partner: ``(HTTP status, code)``; the code is the
    ``Outbound``'s, or the envelope's when the target refused before its handler.
    ``omit``: spec headers left out (another spelling in ``extra`` replaces them)."""
    headers: dict[str, str] = {
        ptp.VERSION: ptp.PASS_THROUGH_VERSION,
        ptp.URI: paths.CHAN_PUSH,
        ptp.SESSION_ID: s.session_id,
        ptp.TOPIC: topic_name,
        ptp.SOURCE_NODE_ID: ctx.kit.node_id,
        ptp.TARGET_NODE_ID: ctx.target.node_id,
        ptp.TECH_PROVIDER_CODE: PROVIDER,
        ptp.TRACE_ID: topic_name,
        "content-type": "application/octet-stream",
        **(extra or {}),
    }
    for name in omit:
        headers.pop(name, None)
    content = payload if body is None else body
    send = ctx.http.signed if signed else ctx.http.unsigned
    reply = await send("POST", paths.CHAN_INVOKE, content=content, headers=headers, label=label)
    return reply.status, reply_code(reply)


def reply_code(reply: Reply) -> str:
    if isinstance(reply.json, dict):
        return str(reply.json.get("code"))
    try:
        return foreign_reply_code(reply.body)[0]
    except ValueError:
        return f"(unreadable reply, HTTP {reply.status})"


def is_ok(code: Any) -> bool:
    return str(code) in OK_CODES


def no_message(reply: ptp.Reply) -> bool:
    """An empty pop: no payload, whatever the code (``E0000000404`` in Kuscia, yacl and
    Isthmus; the spec only says "empty on timeout")."""
    return not reply.payload


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
