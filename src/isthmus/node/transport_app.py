"""The south-north transport app: what algorithm components call on ``system.transport``.

``POST /v1/interconn/chan/{push,pop,peek,release}`` in the three body styles real clients
use, told apart by ``Content-Type``:

* raw bytes (SecretFlow's yacl, Kuscia): the body *is* the payload; session, topic and
  peer ride in ``x-ptp-*`` headers; ``timeout`` in the query;
* ``application/x-protobuf`` (the spec's gRPC messages over HTTP): ``PushInbound`` and
  friends;
* ``application/json`` (the spec's JSON): ``{"payload": base64, "topic", "timeout"}``.

Replies are HTTP 200 with the transport code in the body: a protobuf
``TransportOutbound`` in the 3-field layout clients parse (``payload=1, code=2,
message=3``), the v1.2 text's 4-field layout when the request carries
``x-ptp-outbound-layout: v1.2``, or JSON for JSON requests.

A bare ASGI app rather than a framework: this path runs twice per algorithm message (a
push on one node, a pop on the other), and routing, request and response objects cost
more than the queue work itself. Bodies are bounded: a payload above
``transport.max_message_bytes`` is refused with ``E0000000413`` before it is read whole.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from isthmus.node.context import NodeContext
from isthmus.wire import paths, ptp
from isthmus.wire.envelope import error, ok
from isthmus.wire.errors import ErrorCode, TransportRefused
from isthmus.wire.proto import ptp_pb2
from isthmus.wire.ptp import PtpCode

log = logging.getLogger("isthmus.transport")

PROTOBUF_TYPES = (
    "application/x-protobuf",
    "application/protobuf",
    "application/proto",
    "application/grpc+proto",
)
LAYOUT_HEADER = "x-ptp-outbound-layout"


@dataclass(frozen=True)
class ChanRequest:
    """One south-north call, whatever its body style."""

    style: str  # "raw" | "protobuf" | "json"
    session_id: str
    token: str | None
    peer_node_id: str | None
    topic: str
    payload: bytes
    timeout_s: float | None


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
#: Room above ``max_message_bytes`` for the protobuf or JSON envelope of a payload.
ENVELOPE_HEADROOM = 64 * 1024 + 1024


def style_of(headers: dict[str, str]) -> str:
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in PROTOBUF_TYPES:
        return "protobuf"
    return "json" if content_type == "application/json" else "raw"


def parse(headers: dict[str, str], query: dict[str, str], body: bytes, kind: str) -> ChanRequest:
    style = style_of(headers)
    topic = ptp.read(headers, ptp.TOPIC) or ""
    timeout: float | None = None
    payload = b""
    if "timeout" in query:
        timeout = _number(query["timeout"])
    if style == "protobuf":
        message = {
            "push": ptp_pb2.PushInbound,
            "pop": ptp_pb2.PopInbound,
            "peek": ptp_pb2.PeekInbound,
            "release": ptp_pb2.ReleaseInbound,
        }[kind]()
        try:
            message.ParseFromString(body)
        except Exception as exc:  # protobuf's DecodeError
            raise TransportRefused(PtpCode.CODEC_ERROR, f"body is not a {kind} message") from exc
        topic = message.topic or topic
        if kind == "push":
            payload = message.payload
        if kind in ("pop", "release") and message.timeout:
            timeout = _number(message.timeout)  # FATE sends 36000000: clamp like the rest
    elif style == "json":
        fields = _json_body(body)
        topic = str(fields.get("topic") or topic)
        if kind == "push":
            payload = _b64(fields.get("payload", ""))
        if "timeout" in fields:
            timeout = _number(fields["timeout"])
    elif kind == "push":
        payload = body
    session_id = ptp.read(headers, ptp.SESSION_ID)
    if not session_id:
        raise TransportRefused(PtpCode.BAD_REQUEST, "x-ptp-session-id is required")
    return ChanRequest(
        style=style,
        session_id=session_id,
        token=ptp.read(headers, ptp.TOKEN),
        peer_node_id=ptp.read(headers, ptp.TARGET_NODE_ID),
        topic=topic,
        payload=payload,
        timeout_s=timeout,
    )


def _number(value: Any) -> float:
    try:
        return max(0.0, min(float(value), 3600.0))
    except (TypeError, ValueError):
        raise TransportRefused(PtpCode.BAD_REQUEST, f"timeout {value!r} is not a number") from None


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        fields = json.loads(body or b"{}")
    except ValueError as exc:
        raise TransportRefused(PtpCode.CODEC_ERROR, "body is not valid JSON") from exc
    if not isinstance(fields, dict):
        raise TransportRefused(PtpCode.BAD_REQUEST, "JSON body must be an object")
    return fields


def _b64(value: Any) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise TransportRefused(PtpCode.BAD_REQUEST, "payload must be base64") from None


def reply(
    headers: dict[str, str],
    call: ChanRequest | None,
    code: str,
    message: str = "",
    payload: bytes = b"",
) -> tuple[bytes, str]:
    """The reply body and its content type, in the caller's style (decided by its
    Content-Type even when its body could not be parsed)."""
    style = call.style if call is not None else style_of(headers)
    if style == "json":
        body = json.dumps(
            {"code": code, "message": message, "content": base64.b64encode(payload).decode()}
        )
        return body.encode(), "application/json"
    layout = "v1.2" if headers.get(LAYOUT_HEADER, "").lower() == "v1.2" else "3"
    return ptp.outbound(code, message, payload, layout=layout), "application/x-protobuf"


Handler = Callable[[NodeContext, ChanRequest], Awaitable[tuple[str, str, bytes]]]


def _require_peer(call: ChanRequest) -> str:
    if not call.peer_node_id:
        raise TransportRefused(PtpCode.BAD_REQUEST, "x-ptp-target-node-id is required")
    return call.peer_node_id


async def handle_push(ctx: NodeContext, call: ChanRequest) -> tuple[str, str, bytes]:
    await ctx.transport.push(
        call.session_id, call.token, _require_peer(call), call.topic, call.payload
    )
    return PtpCode.OK, "", b""


async def _take(ctx: NodeContext, call: ChanRequest, remove: bool) -> tuple[str, str, bytes]:
    timeout = (
        ctx.config.transport.default_pop_timeout_s if call.timeout_s is None else call.timeout_s
    )
    payload = await ctx.transport.pop(
        call.session_id,
        call.token,
        call.peer_node_id,  # None: any partner (FATE's OSX client pops without it)
        call.topic,
        timeout if remove else 0.0,
        remove=remove,
    )
    if payload is None:
        # yacl and Kuscia clients treat a non-OK code without payload as "poll again".
        return PtpCode.NOT_FOUND, "no message", b""
    return PtpCode.OK, "", payload


async def handle_pop(ctx: NodeContext, call: ChanRequest) -> tuple[str, str, bytes]:
    return await _take(ctx, call, True)


async def handle_peek(ctx: NodeContext, call: ChanRequest) -> tuple[str, str, bytes]:
    return await _take(ctx, call, False)


async def handle_release(ctx: NodeContext, call: ChanRequest) -> tuple[str, str, bytes]:
    dropped = await ctx.transport.release(call.session_id, call.token, call.topic or None)
    return PtpCode.OK, f"released; {dropped} unread message(s) dropped", b""


HANDLERS: dict[str, Handler] = {
    "/v1/interconn/chan/push": handle_push,
    "/v1/interconn/chan/pop": handle_pop,
    "/v1/interconn/chan/peek": handle_peek,
    "/v1/interconn/chan/release": handle_release,
}


class TransportApp:
    """The ASGI app: four POST routes, everything else 404/405 in plain text."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.max_body_bytes = ctx.config.transport.max_message_bytes * 4 // 3 + ENVELOPE_HEADROOM

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"] == paths.PLATFORM_TASK_CALLBACK and scope["method"] == "POST":
            await self._container_callback(receive, send)
            return
        handler = HANDLERS.get(scope["path"])
        if handler is None:
            await _send(send, 404, b"not found", "text/plain")
            return
        if scope["method"] != "POST":
            await _send(send, 405, b"method not allowed", "text/plain")
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        kind = scope["path"].rsplit("/", 1)[1]
        call: ChanRequest | None = None
        try:
            body = await self._body(receive, headers)
            raw_query = scope.get("query_string", b"")
            query = dict(parse_qsl(raw_query.decode("latin-1"))) if raw_query else {}
            call = parse(headers, query, body, kind)
            code, message, payload = await handler(self.ctx, call)
        except TransportRefused as exc:
            code, message, payload = exc.ptp_code, exc.message, b""
        except Exception:
            log.exception("transport %s failed", kind)
            code, message, payload = PtpCode.SYSTEM_ERROR, "internal error; see node log", b""
        content, media_type = reply(headers, call, code, message, payload)
        await _send(send, 200, content, media_type)

    async def _container_callback(self, receive: Receive, send: Send) -> None:
        """A container's status report (``system.callback``). Advisory: the run's exit
        code is the final word, so a report only makes the task monitor look now."""
        try:
            body = json.loads(await self._body(receive, {}) or b"{}")
            valid = isinstance(body, dict) and bool(body.get("task_id"))
        except (ValueError, TransportRefused):
            valid = False
        if valid:
            self.ctx.jobs.participant.wakeup.set()
            content = json.dumps(ok()).encode()
        else:
            content = json.dumps(
                error(ErrorCode.BAD_REQUEST, "expected {task_id, status, role}")
            ).encode()
        await _send(send, 200 if valid else 400, content, "application/json")

    async def _body(self, receive: Receive, headers: dict[str, str]) -> bytes:
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise TransportRefused(PtpCode.TOO_LARGE, f"body of {declared} bytes is too large")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise TransportRefused(PtpCode.BAD_REQUEST, "client went away")
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > self.max_body_bytes:
                    raise TransportRefused(PtpCode.TOO_LARGE, "body too large")
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _send(send: Send, status: int, content: bytes, media_type: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media_type.encode()),
                (b"content-length", str(len(content)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_transport_app(ctx: NodeContext) -> TransportApp:
    return TransportApp(ctx)
