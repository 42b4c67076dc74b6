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
``x-ptp-outbound-layout: v1.2``, or JSON for JSON requests. A plain Starlette app rather
than FastAPI: this path runs once per algorithm message.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from isthmus.node.context import NodeContext
from isthmus.wire import ptp
from isthmus.wire.errors import TransportRefused
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


def style_of(request: Request) -> str:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in PROTOBUF_TYPES:
        return "protobuf"
    return "json" if content_type == "application/json" else "raw"


async def parse(request: Request, kind: str) -> ChanRequest:
    headers = request.headers
    style = style_of(request)
    body = await request.body()
    topic = ptp.read(headers, ptp.TOPIC) or ""
    timeout: float | None = None
    payload = b""
    if "timeout" in request.query_params:
        timeout = _number(request.query_params["timeout"])
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
    request: Request,
    call: ChanRequest | None,
    code: str,
    message: str = "",
    payload: bytes = b"",
) -> Response:
    """The reply in the caller's style (decided by its Content-Type even when its body
    could not be parsed)."""
    style = call.style if call is not None else style_of(request)
    if style == "json":
        body = json.dumps(
            {"code": code, "message": message, "content": base64.b64encode(payload).decode()}
        )
        return Response(body, media_type="application/json")
    layout = "v1.2" if request.headers.get(LAYOUT_HEADER, "").lower() == "v1.2" else "3"
    return Response(
        ptp.outbound(code, message, payload, layout=layout), media_type="application/x-protobuf"
    )


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
        _require_peer(call),
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


def _endpoint(kind: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        ctx: NodeContext = request.app.state.ctx
        call: ChanRequest | None = None
        try:
            call = await parse(request, kind)
            code, message, payload = await handler(ctx, call)
        except TransportRefused as exc:
            return reply(request, call, exc.ptp_code, exc.message)
        except Exception:
            log.exception("transport %s failed", kind)
            return reply(request, call, PtpCode.SYSTEM_ERROR, "internal error; see node log")
        return reply(request, call, code, message, payload)

    return endpoint


def create_transport_app(ctx: NodeContext) -> Starlette:
    routes = [
        Route(f"/v1/interconn/chan/{kind}", _endpoint(kind, handler), methods=["POST"])
        for kind, handler in (
            ("push", handle_push),
            ("pop", handle_pop),
            ("peek", handle_peek),
            ("release", handle_release),
        )
    ]
    app = Starlette(routes=routes)
    app.state.ctx = ctx
    return app
