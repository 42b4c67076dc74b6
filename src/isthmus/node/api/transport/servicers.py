"""The gRPC faces of the transport module (digest §4.2-4.3, docs/protocol.md §8).

* ``org.ppc.ptp.PrivateTransferTransport`` (south-north, local components) on
  ``transport.host:transport.grpc_port``: ``push``/``pop``/``peek``/``release`` with the
  routing in ``x-ptp-*`` invocation metadata (and the topic in the message, which wins).
  The calls run through the very handlers of the HTTP face (``south_north.py``), so both
  faces answer the same codes; a logical refusal is a ``TransportOutbound`` with its
  ``E0000000xxx`` code and gRPC status OK, never a gRPC error — a request that is not
  the method's message included (``E0000000616``: requests arrive as bytes and are
  parsed here). As on HTTP, the reply is the 3-field layout unless the call carries
  ``x-ptp-outbound-layout: v1.2``. A popped message is settled when the call ends:
  removed if the reply went out, back at the head of its queue if the call was
  cancelled or failed.
* ``org.ppc.ptp.PrivateTransferProtocol`` (east-west, partner nodes) on
  ``interconn.host:interconn.grpc_port``: ``invoke`` (one message) and ``transport`` (a
  stream of ``Inbound`` frames, one ``Outbound`` reply per frame, in order). The partner
  signs the call exactly like an HTTP request, the BFIA headers travelling as metadata;
  refusals are gRPC UNAUTHENTICATED / PERMISSION_DENIED with our error code in the
  details. Under ``[interconn.tls]`` the listener uses the same certificates and the
  client certificate is checked against the contract's pin, as on HTTP. A ``transport``
  stream must send its first frame within ``FIRST_FRAME_S`` and then one at least every
  ``STREAM_IDLE_S`` (else DEADLINE_EXCEEDED), and it is cut (PERMISSION_DENIED) within
  ``RECHECK_S`` of its partner's contract ending, whether frames flow or not.

Requests reach the east-west handlers as raw bytes (no deserializer) so that the
signature is checked over exactly the bytes the partner sent, not over a re-serialisation
(protobuf map order is not canonical).

The listeners serving these (start, stop, TLS, message size) are process core:
``isthmus.node.grpc_server``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, NoReturn

import grpc

from isthmus.node.api.transport.south_north import (
    DELIVERY_HEADER,
    LAYOUT_HEADER,
    REQUESTS,
    Answer,
    ChanRequest,
    handle_peek,
    handle_pop,
    handle_push,
    handle_release,
    request_of,
)
from isthmus.node.auth import Caller, ContractPolicy
from isthmus.node.context import NodeContext
from isthmus.node.tls import grpc_client_cert_der
from isthmus.transport.codec import decode, from_inbound, invoked_message
from isthmus.wire import ptp
from isthmus.wire.clock import now_ms
from isthmus.wire.errors import (
    AuthError,
    ContractExpired,
    ContractNotApproved,
    ContractTerminated,
    ErrorCode,
    NoContract,
    TransportRefused,
)
from isthmus.wire.node import ContractStatus
from isthmus.wire.proto import ptp_pb2
from isthmus.wire.ptp import PtpCode

log = logging.getLogger("isthmus.transport")

TRANSPORT_SERVICE = "org.ppc.ptp.PrivateTransferTransport"
PROTOCOL_SERVICE = "org.ppc.ptp.PrivateTransferProtocol"
#: Kuscia compiles the same protos under ``org.ppc.grpc_ptp`` (digest §4.3): the method
#: paths differ, the messages do not. Both are served.
PACKAGES = ("org.ppc.ptp", "org.ppc.grpc_ptp")
#: The "paths" east-west gRPC calls are signed with (the gRPC method path).
INVOKE_METHOD = f"/{PROTOCOL_SERVICE}/invoke"
TRANSPORT_METHOD = f"/{PROTOCOL_SERVICE}/transport"
#: Trailing metadata of a refused east-west call: our numeric error code.
CODE_TRAILER = "x-isthmus-code"
#: ``PopInbound.timeout`` is in seconds, as the HTTP face's ``timeout``; larger values
#: (FATE sends 36 000 000) are clamped to this, exactly as on HTTP.
MAX_POP_TIMEOUT_S = 3600.0
#: A pop answers this long before the caller's gRPC deadline, so a client with a short
#: deadline gets NOT_FOUND instead of DEADLINE_EXCEEDED (and no message is taken out of
#: the queue by a call that can no longer deliver it).
DEADLINE_MARGIN_S = 0.25
#: A long-lived ``transport`` stream re-checks its partner's contract this often.
RECHECK_S = 0.5
#: An incoming ``transport`` stream must send its first (signed) frame within this long,
#: and then a frame at least this often; otherwise it is ended (DEADLINE_EXCEEDED).
FIRST_FRAME_S = 5.0
STREAM_IDLE_S = 120.0


def metadata_dict(context: Any) -> dict[str, str]:
    """Invocation metadata as a header mapping: lower-case keys, the first value of a
    repeated key, binary (``-bin``) values left out."""
    headers: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        if isinstance(value, str):
            headers.setdefault(key.lower(), value)
    return headers


def peer_host(peer: str) -> str:
    """The address part of ``context.peer()`` (``ipv4:1.2.3.4:5``, ``ipv6:[::1]:5``)."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    return peer or "?"


def pop_timeout_s(requested: int, default_s: float, time_remaining: float | None) -> float:
    """How long a gRPC pop waits: ``requested`` seconds (0 = ``default_s``), clamped to
    0-3600 like the HTTP face, and ending ``DEADLINE_MARGIN_S`` before the deadline."""
    timeout = default_s if requested == 0 else max(0.0, min(float(requested), MAX_POP_TIMEOUT_S))
    if time_remaining is not None:
        timeout = min(timeout, max(0.0, time_remaining - DEADLINE_MARGIN_S))
    return timeout


# --- south-north ----------------------------------------------------------------------

ChanHandler = Callable[[NodeContext, ChanRequest], Awaitable[Answer]]


def _parse(kind: str, data: bytes) -> Any:
    """The method's request message (requests arrive as bytes and are parsed here);
    ``E0000000616`` if ``data`` is not one."""
    return decode(REQUESTS[kind], data, f"request is not a {kind} message")


def _settle_when_done(context: Any, answer: Answer) -> None:
    """A popped message leaves its queue only if the call ends with the reply sent;
    a call cancelled (or failed) before that puts it back at the head of its queue."""
    delivery = answer.delivery
    if delivery is None:
        return

    def settle(_: Any) -> None:
        if context.cancelled() or context.code() not in (None, grpc.StatusCode.OK):
            delivery.returned()
        else:
            delivery.delivered()

    context.add_done_callback(settle)


class TransportServicer:
    """``PrivateTransferTransport`` for local components; mirrors ``south_north``."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    async def push(self, request: bytes, context: Any) -> bytes:
        return await self._call("push", handle_push, context, request)

    async def pop(self, request: bytes, context: Any) -> bytes:
        return await self._call("pop", handle_pop, context, request)

    async def peek(self, request: bytes, context: Any) -> bytes:
        return await self._call("peek", handle_peek, context, request)

    async def release(self, request: bytes, context: Any) -> bytes:
        # ReleaseInbound.timeout is accepted and ignored, as on HTTP: a release is immediate.
        return await self._call("release", handle_release, context, request)

    async def _call(self, kind: str, handler: ChanHandler, context: Any, data: bytes) -> bytes:
        """The serialized ``TransportOutbound`` (whose layout the caller may choose)."""
        headers = metadata_dict(context)
        layout = "v1.2" if headers.get(LAYOUT_HEADER, "").lower() == "v1.2" else "3"
        try:
            request = _parse(kind, data)
            timeout_s: float | None = None
            if kind == "pop":
                timeout_s = pop_timeout_s(
                    request.timeout,
                    self.ctx.config.transport.default_pop_timeout_s,
                    context.time_remaining(),
                )
            call = request_of(
                headers,
                "protobuf",
                request.topic or ptp.read(headers, ptp.TOPIC) or "",
                request.payload if kind == "push" else b"",
                timeout_s,
            )
            answer = await handler(self.ctx, call)
        except TransportRefused as exc:
            return ptp.outbound(exc.ptp_code, exc.message, layout=layout)
        except Exception:  # our fault (a bug, the store): logged, answered E0000000500
            log.exception("gRPC transport %s failed", kind)
            return ptp.outbound(PtpCode.SYSTEM_ERROR, "internal error; see node log", layout=layout)
        try:
            reply = ptp.outbound(answer.code, answer.message, answer.payload, layout=layout)
        except BaseException:
            if answer.delivery is not None:
                answer.delivery.returned()
            raise
        if answer.held_id is not None:
            context.set_trailing_metadata(((DELIVERY_HEADER, str(answer.held_id)),))
        _settle_when_done(context, answer)
        return reply

    def handlers(self) -> tuple[Any, ...]:
        def unary(method: Callable[..., Any]) -> Any:
            # Neither serializer: the methods take the request's bytes (a malformed one
            # is a transport code, not a gRPC error) and return the serialized reply.
            return grpc.unary_unary_rpc_method_handler(method)

        methods = {
            "push": unary(self.push),
            "pop": unary(self.pop),
            "peek": unary(self.peek),
            "release": unary(self.release),
        }
        return tuple(
            grpc.method_handlers_generic_handler(f"{package}.PrivateTransferTransport", methods)
            for package in PACKAGES
        )


# --- east-west ------------------------------------------------------------------------


async def _abort(context: Any, exc: AuthError) -> NoReturn:
    """End the call with the gRPC status of an authentication refusal."""
    status = (
        grpc.StatusCode.UNAUTHENTICATED
        if exc.http_status == 401
        else grpc.StatusCode.PERMISSION_DENIED
    )
    await context.abort(
        status,
        f"{int(exc.code)} {exc.code.name}: {exc.message}",
        trailing_metadata=((CODE_TRAILER, str(int(exc.code))),),
    )
    raise AssertionError("context.abort returned")  # pragma: no cover


def _outbound(code: str, message: str = "", **metadata: str) -> ptp_pb2.Outbound:
    return ptp_pb2.Outbound(code=code, message=message, metadata=metadata)


class ProtocolServicer:
    """``PrivateTransferProtocol`` for partner nodes, authenticated like ``require_peer``."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    async def _authenticate(
        self, context: Any, path: str, headers: Mapping[str, str], body: bytes
    ) -> Caller:
        remote = peer_host(context.peer())
        try:
            cert = grpc_client_cert_der(context)
            return await asyncio.to_thread(
                lambda: self.ctx.authenticator.authenticate(
                    method="POST",
                    path=path,
                    query="",
                    headers=headers,
                    body=body,
                    remote=remote,
                    policy=ContractPolicy.APPROVED,
                    client_cert_der=cert,
                )
            )
        except AuthError as exc:
            log.info("gRPC %s from %s refused: %s %s", path, remote, exc.code.name, exc.message)
            await _abort(context, exc)
        except Exception:  # our fault (the store): logged, the call ends INTERNAL
            log.exception("gRPC %s: authentication failed", path)
            await context.abort(
                grpc.StatusCode.INTERNAL,
                f"{int(ErrorCode.INTERNAL)} INTERNAL: internal error; see node log",
            )
            raise AssertionError("context.abort returned") from None  # pragma: no cover

    def _contract_still_usable(self, node_id: str) -> AuthError | None:
        """What a new call from ``node_id`` would be refused for at step 4, if anything
        (the contract cache is at most a second stale)."""
        facts = self.ctx.authenticator.contracts.lookup(node_id)
        if facts is None:
            return NoContract(f"node {node_id} has no contract with this node")
        if facts.status == ContractStatus.TERMINATED:
            return ContractTerminated(f"contract {facts.contract_id} was terminated")
        if facts.status != ContractStatus.APPROVED:
            return ContractNotApproved(f"contract {facts.contract_id} is {facts.status}")
        if facts.expired_time is not None and facts.expired_time <= now_ms():
            return ContractExpired(f"contract {facts.contract_id} has expired")
        return None

    async def invoke(
        self, request: bytes, context: Any, path: str = INVOKE_METHOD
    ) -> ptp_pb2.Outbound:
        """One message: the payload of ``Inbound`` (in wrapped mode, the ``PushInbound``
        inside it); routing in ``Inbound.metadata`` (which wins) or the call's metadata:
        session, topic, optional ``x-ptp-seq``."""
        headers = metadata_dict(context)
        caller = await self._authenticate(context, path, headers, request)
        try:
            inbound = decode(ptp_pb2.Inbound, request, "request is not an Inbound")
            message = invoked_message(headers, inbound.payload, dict(inbound.metadata))
        except TransportRefused as exc:
            return _outbound(exc.ptp_code, exc.message)
        try:
            stored = await self.ctx.transport.receive_all(caller.node_id, [message])
        except TransportRefused as exc:
            return _outbound(exc.ptp_code, exc.message)
        except Exception:  # our fault (a bug, the store): logged, answered E0000000500
            log.exception("gRPC invoke from %s failed", caller.node_id)
            return _outbound(PtpCode.SYSTEM_ERROR, "internal error; see node log")
        return _outbound(PtpCode.OK, "", stored=str(stored))

    async def transport(
        self, requests: AsyncIterator[bytes], context: Any, path: str = TRANSPORT_METHOD
    ) -> AsyncIterator[ptp_pb2.Outbound]:
        """Frames as in ``from_inbound``; one reply per frame, in order. The call is
        authenticated on its first frame (the signed body), which must come within
        ``FIRST_FRAME_S``; later frames at least every ``STREAM_IDLE_S``. The contract is
        watched while the stream lasts: the stream is cut within ``RECHECK_S`` of it
        ending, frames or not. Once a frame of a session is refused, later frames of
        that session in the same stream are not stored (answered with the same code), so
        that a resend can never be overtaken."""
        headers = metadata_dict(context)
        caller: Caller | None = None
        watch: asyncio.Task[AuthError] | None = None
        refused: dict[str, str] = {}  # session -> code of its first refused frame
        index = 0
        frames = aiter(requests)
        try:
            while True:
                waiting = FIRST_FRAME_S if caller is None else STREAM_IDLE_S
                data = await self._next_frame(frames, context, watch, waiting)
                if data is None:
                    return
                if caller is None:
                    caller = await self._authenticate(context, path, headers, data)
                    watch = asyncio.create_task(self._contract_ends(caller.node_id))
                yield await self._frame(caller, data, index, refused)
                index += 1
        finally:
            if watch is not None:
                watch.cancel()

    async def _next_frame(
        self,
        frames: AsyncIterator[bytes],
        context: Any,
        watch: asyncio.Task[AuthError] | None,
        timeout_s: float,
    ) -> bytes | None:
        """The stream's next frame; None at its end. Aborts the call when no frame
        comes within ``timeout_s`` or when the contract ends (``watch``) first."""
        step = asyncio.ensure_future(anext(frames))
        waited: set[asyncio.Future[Any]] = {step} if watch is None else {step, watch}
        done, _ = await asyncio.wait(waited, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        if step in done:
            try:
                return step.result()
            except StopAsyncIteration:
                return None
        step.cancel()
        if watch is not None and watch in done:
            await _abort(context, watch.result())
        await context.abort(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            f"no frame within {timeout_s:g} s; stream closed",
        )
        raise AssertionError("context.abort returned")  # pragma: no cover

    async def _contract_ends(self, node_id: str) -> AuthError:
        """Return, within ``RECHECK_S``, what ended the partner's contract."""
        while True:
            await asyncio.sleep(RECHECK_S)
            problem = await asyncio.to_thread(self._contract_still_usable, node_id)
            if problem is not None:
                log.info("cutting %s's transport stream: %s", node_id, problem.message)
                return problem

    async def _frame(
        self, caller: Caller, data: bytes, index: int, refused: dict[str, str]
    ) -> ptp_pb2.Outbound:
        try:
            message = from_inbound(data)
        except TransportRefused as exc:
            return _outbound(exc.ptp_code, exc.message)
        if message.session_id in refused:
            return _outbound(
                refused[message.session_id],
                f"not stored: an earlier frame of session {message.session_id} was refused",
            )
        try:
            stored = await self.ctx.transport.receive_all(caller.node_id, [message])
        except TransportRefused as exc:
            refused[message.session_id] = exc.ptp_code
            return _outbound(exc.ptp_code, exc.message)
        except Exception:  # our fault (a bug, the store): logged, answered E0000000500
            log.exception("gRPC transport frame %d from %s failed", index, caller.node_id)
            refused[message.session_id] = PtpCode.SYSTEM_ERROR
            return _outbound(PtpCode.SYSTEM_ERROR, "internal error; see node log")
        return _outbound(PtpCode.OK, "", stored=str(stored))

    def handlers(self) -> tuple[Any, ...]:
        serialize = ptp_pb2.Outbound.SerializeToString
        handlers = []
        for package in PACKAGES:
            service = f"{package}.PrivateTransferProtocol"
            # No request_deserializer: the handlers get the exact bytes that were signed,
            # and authenticate against the method path the caller actually used.
            invoke = functools.partial(self.invoke, path=f"/{service}/invoke")
            transport = functools.partial(self.transport, path=f"/{service}/transport")
            handlers.append(
                grpc.method_handlers_generic_handler(
                    service,
                    {
                        "invoke": grpc.unary_unary_rpc_method_handler(
                            invoke, response_serializer=serialize
                        ),
                        "transport": grpc.stream_stream_rpc_method_handler(
                            transport, response_serializer=serialize
                        ),
                    },
                )
            )
        return tuple(handlers)
