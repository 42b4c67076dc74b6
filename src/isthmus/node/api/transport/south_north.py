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
``transport.max_message_bytes`` is refused with ``E0000000413`` before it is read whole;
a JSON body goes through ``loads_bounded`` (too deep: ``E0000000616``).

**What is checked here, before the queues see a call:** the session id and the target
node id are ids (``isthmus.wire.ids``) and the topic a bounded printable string, or the
call is answered ``E0000000400``; the token is passed on as sent, and a missing one as
an empty string, which the queues refuse like a wrong one (``E0000000403``).

**A pop's message is not lost with its reply.** While a pop waits, the app watches for
the client going away and cancels the wait; a popped message is settled only after the
reply was handed to the connection (``Delivery.delivered``), and put back at the head of
its queue when the client had gone or the send failed (``Delivery.returned``). A client
that wants exactly once even when it loses a reply the server sent uses the explicit
acknowledgement, an Isthmus extension: its pops carry ``x-isthmus-ack: <id>``, the id of
the last delivery it received of that queue (``0`` at first), and each reply with a
message carries the message's ``x-isthmus-delivery`` id (a header here, trailing
metadata on gRPC); see ``transport.queues`` for the rules.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from isthmus.node.context import NodeContext
from isthmus.transport.codec import decode
from isthmus.transport.service import Delivery
from isthmus.wire import paths, ptp
from isthmus.wire.envelope import error, ok
from isthmus.wire.errors import ErrorCode, PayloadTooLarge, TransportRefused, ValidationFailed
from isthmus.wire.jsonbody import loads_bounded
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
#: The explicit acknowledgement (Isthmus extension): the request names the last delivery
#: received, the reply names the one it carries.
ACK_HEADER = "x-isthmus-ack"
DELIVERY_HEADER = "x-isthmus-delivery"
#: The request message of each call in the protobuf style (and on gRPC).
REQUESTS: dict[str, Any] = {
    "push": ptp_pb2.PushInbound,
    "pop": ptp_pb2.PopInbound,
    "peek": ptp_pb2.PeekInbound,
    "release": ptp_pb2.ReleaseInbound,
}


@dataclass(frozen=True)
class ChanRequest:
    """One south-north call, whatever its body style."""

    style: str  # "raw" | "protobuf" | "json"
    session_id: str
    #: As sent; "" when absent (refused by the queues like a wrong token).
    token: str
    peer_node_id: str | None
    topic: str
    payload: bytes
    timeout_s: float | None
    #: ``x-isthmus-ack`` of an acknowledged-mode pop, else None.
    ack: int | None = None


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


class Answer(NamedTuple):
    """A handler's reply; ``delivery`` is a popped message to settle once it is sent."""

    code: str
    message: str
    payload: bytes
    delivery: Delivery | None = None
    #: The id an acknowledged-mode reply names (``x-isthmus-delivery``).
    held_id: int | None = None


def parse(
    headers: dict[str, str],
    query: dict[str, str],
    body: bytes,
    kind: str,
    *,
    max_json_bytes: int = 16 * 1024 * 1024,
) -> ChanRequest:
    style = style_of(headers)
    topic = ptp.read(headers, ptp.TOPIC) or ""
    timeout: float | None = None
    payload = b""
    if "timeout" in query:
        timeout = _number(query["timeout"])
    if style == "protobuf":
        message = decode(REQUESTS[kind], body, f"body is not a {kind} message")
        topic = message.topic or topic
        if kind == "push":
            payload = message.payload
        if kind in ("pop", "release") and message.timeout:
            timeout = _number(message.timeout)  # FATE sends 36000000: clamp like the rest
    elif style == "json":
        fields = _json_body(body, max_json_bytes)
        topic = str(fields.get("topic") or topic)
        if kind == "push":
            payload = _b64(fields.get("payload", ""))
        if "timeout" in fields:
            timeout = _number(fields["timeout"])
    elif kind == "push":
        payload = body
    return request_of(headers, style, topic, payload, timeout)


def request_of(
    headers: Any, style: str, topic: str, payload: bytes, timeout_s: float | None
) -> ChanRequest:
    """A call's routing, checked (HTTP headers or gRPC metadata alike): the session id
    and target node id must be ids, the topic a bounded printable string."""
    session_id = ptp.routing(headers, ptp.SESSION_ID)
    if not session_id:
        raise TransportRefused(PtpCode.BAD_REQUEST, "x-ptp-session-id is required")
    ack_text = headers.get(ACK_HEADER)
    ack: int | None = None
    if ack_text is not None:
        if not (ack_text.isascii() and ack_text.isdigit() and len(ack_text) <= 19):
            raise TransportRefused(PtpCode.BAD_REQUEST, f"{ACK_HEADER} must be a delivery id")
        ack = int(ack_text)
    return ChanRequest(
        style=style,
        session_id=session_id,
        token=ptp.read(headers, ptp.TOKEN) or "",
        peer_node_id=ptp.routing(headers, ptp.TARGET_NODE_ID),
        topic=ptp.checked_topic(topic),
        payload=payload,
        timeout_s=timeout_s,
        ack=ack,
    )


def _number(value: Any) -> float:
    try:
        return max(0.0, min(float(value), 3600.0))
    except (TypeError, ValueError):
        raise TransportRefused(PtpCode.BAD_REQUEST, f"timeout {value!r} is not a number") from None


def _json_body(body: bytes, max_bytes: int) -> dict[str, Any]:
    try:
        fields = loads_bounded(body or b"{}", max_bytes=max_bytes, what="JSON body")
    except PayloadTooLarge as exc:
        raise TransportRefused(PtpCode.TOO_LARGE, exc.message) from None
    except ValidationFailed as exc:
        raise TransportRefused(PtpCode.CODEC_ERROR, exc.message) from None
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


Handler = Callable[[NodeContext, ChanRequest], Awaitable[Answer]]


def _require_peer(call: ChanRequest) -> str:
    if not call.peer_node_id:
        raise TransportRefused(PtpCode.BAD_REQUEST, "x-ptp-target-node-id is required")
    return call.peer_node_id


async def handle_push(ctx: NodeContext, call: ChanRequest) -> Answer:
    await ctx.transport.push(
        call.session_id, call.token, _require_peer(call), call.topic, call.payload
    )
    return Answer(PtpCode.OK, "", b"")


async def _take(ctx: NodeContext, call: ChanRequest, remove: bool, *, wait: bool = True) -> Answer:
    timeout = (
        ctx.config.transport.default_pop_timeout_s if call.timeout_s is None else call.timeout_s
    )
    if not wait:
        timeout = 0.0
    delivery = await ctx.transport.pop(
        call.session_id,
        call.token,
        call.peer_node_id,  # None: any partner (FATE's OSX client pops without it)
        call.topic,
        timeout if remove else 0.0,
        remove=remove,
        ack=call.ack if remove else None,
    )
    if delivery is None:
        # yacl and Kuscia clients treat a non-OK code without payload as "poll again".
        return Answer(PtpCode.NOT_FOUND, "no message", b"")
    if call.ack is not None and remove:
        # Held until the client acknowledges it: nothing for the face to settle.
        return Answer(PtpCode.OK, "", delivery.payload, None, delivery.id)
    return Answer(PtpCode.OK, "", delivery.payload, delivery)


async def handle_pop(ctx: NodeContext, call: ChanRequest) -> Answer:
    """The caller must settle ``Answer.delivery`` (see ``transport.queues.Delivery``)."""
    return await _take(ctx, call, True)


async def pop_at_once(ctx: NodeContext, call: ChanRequest) -> Answer:
    """A pop that does not wait: the common case under load, when a message is there
    already and the client cannot have gone in between (same settling as ``handle_pop``)."""
    return await _take(ctx, call, True, wait=False)


async def handle_peek(ctx: NodeContext, call: ChanRequest) -> Answer:
    return await _take(ctx, call, False)


async def handle_release(ctx: NodeContext, call: ChanRequest) -> Answer:
    dropped = await ctx.transport.release(call.session_id, call.token, call.topic or None)
    return Answer(PtpCode.OK, f"released; {dropped} unread message(s) dropped", b"")


HANDLERS: dict[str, Handler] = {
    paths.CHAN_PUSH: handle_push,
    paths.CHAN_POP: handle_pop,
    paths.CHAN_PEEK: handle_peek,
    paths.CHAN_RELEASE: handle_release,
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
        watch = _ClientWatch(receive)
        try:
            call, answer = await self._answer(scope, receive, headers, handler, watch)
        finally:
            watch.stop()
        await _reply_and_settle(send, headers, call, answer, watch)

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        headers: dict[str, str],
        handler: Handler,
        watch: _ClientWatch,
    ) -> tuple[ChanRequest | None, Answer]:
        """The call (None if it could not be parsed) and its answer; a refusal is an
        answer, and so is a failure (logged)."""
        kind = scope["path"].rsplit("/", 1)[1]
        call: ChanRequest | None = None
        try:
            body = await self._body(receive, headers)
            call = parse(headers, _query(scope), body, kind, max_json_bytes=self.max_body_bytes)
            if handler is handle_pop:
                return call, await self._pop(call, watch)
            return call, await handler(self.ctx, call)
        except TransportRefused as exc:
            return call, Answer(exc.ptp_code, exc.message, b"")
        except ClientGone:
            return call, Answer(PtpCode.NOT_FOUND, "client went away", b"")
        except Exception:  # our fault (a bug, the store): logged, answered E0000000500
            log.exception("transport %s failed", kind)
            return call, Answer(PtpCode.SYSTEM_ERROR, "internal error; see node log", b"")

    async def _pop(self, call: ChanRequest, watch: _ClientWatch) -> Answer:
        """A pop: at once if a message is there; else a wait that ends (``ClientGone``,
        the message put back) as soon as the client goes."""
        answer = await pop_at_once(self.ctx, call)
        if answer.delivery is not None or answer.held_id is not None:
            return answer
        # Nothing yet: wait, watching the client. The body is read, so the next
        # receive() returns only when the client goes.
        try:
            return await _unless_gone(handle_pop(self.ctx, call), watch.start())
        except (TransportRefused, ClientGone):
            raise
        except Exception:  # our fault while waiting: logged; "no message", poll again
            log.exception("transport pop failed")
            return answer

    async def _container_callback(self, receive: Receive, send: Send) -> None:
        """A container's status report (``system.callback``). Advisory: the run's exit
        code is the final word, so a report only makes the task monitor look now."""
        try:
            body = json.loads(await self._body(receive, {}) or b"{}")
            valid = isinstance(body, dict) and bool(body.get("task_id"))
        except (ValueError, TransportRefused):
            valid = False
        if valid:
            self.ctx.jobs.participant.runs.wakeup.set()
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


def _query(scope: Scope) -> dict[str, str]:
    raw_query = scope.get("query_string", b"")
    return dict(parse_qsl(raw_query.decode("latin-1"))) if raw_query else {}


async def _reply_and_settle(
    send: Send,
    headers: dict[str, str],
    call: ChanRequest | None,
    answer: Answer,
    watch: _ClientWatch,
) -> None:
    """Send the answer; a popped message is settled by how that went: delivered once
    the reply was handed to a live connection, returned to its queue otherwise."""
    content, media_type = reply(headers, call, answer.code, answer.message, answer.payload)
    delivery = answer.delivery
    if delivery is None:
        extra = [] if answer.held_id is None else [(DELIVERY_HEADER, str(answer.held_id))]
        await _send(send, 200, content, media_type, extra)
        return
    if watch.gone or _disconnected(send):
        delivery.returned()  # the client went away while the message was taken
        # An answer without the message all the same: the server expects one.
        content, media_type = reply(headers, call, PtpCode.NOT_FOUND, "client went away")
        await _send(send, 200, content, media_type)
        return
    try:
        await _send(send, 200, content, media_type)
    except BaseException:
        delivery.returned()
        raise
    if getattr(getattr(send, "__self__", None), "disconnected", False):
        # Lost while the reply waited for room to be written (a slow reader): dropped.
        delivery.returned()
    else:
        delivery.delivered()


class _ClientWatch:
    """Watches, while a pop waits, for the client going away (started only then)."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._task: asyncio.Task[Any] | None = None

    def start(self) -> asyncio.Task[Any]:
        self._task = asyncio.create_task(_disconnect(self._receive))
        return self._task

    @property
    def gone(self) -> bool:
        """Whether the client was seen going away."""
        return self._task is not None and self._task.done()

    def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()


class ClientGone(Exception):
    """The client of a waiting pop disconnected: nothing to answer."""


async def _unless_gone(work: Awaitable[Answer], gone: asyncio.Task[Any]) -> Answer:
    """``work``'s answer, or ``ClientGone`` (with ``work`` cancelled: a pop that had
    taken a message puts it back) as soon as the client disconnects."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        with contextlib.suppress(BaseException):
            answer = await task
            if answer.delivery is not None:
                answer.delivery.returned()
        raise
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        answer = await task
        if answer.delivery is not None:
            answer.delivery.returned()
    raise ClientGone


async def _disconnect(receive: Receive) -> None:
    """Return when the client disconnects (the request body was read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _disconnected(send: Send) -> bool:
    """Whether the server knows the client's connection is gone or going, just before a
    reply is written. uvicorn drops a reply sent to such a connection without a word:
    once the client's end-of-stream was read, the socket is closing and writes are
    discarded before ``disconnected`` is set, a loop turn later. Both show on its
    request-response cycle (``send`` is bound to it); with any other server, assume the
    reply goes out. (Not for after the reply: a ``connection: close`` request's socket
    is closing once its reply is written.)"""
    cycle = getattr(send, "__self__", None)
    if cycle is None:
        return False
    if getattr(cycle, "disconnected", False):
        return True
    transport = getattr(cycle, "transport", None)
    return bool(transport is not None and transport.is_closing())


async def _send(
    send: Send,
    status: int,
    content: bytes,
    media_type: str,
    extra: list[tuple[str, str]] | None = None,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media_type.encode()),
                (b"content-length", str(len(content)).encode()),
                *((k.encode(), v.encode()) for k, v in extra or ()),
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
