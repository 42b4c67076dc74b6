"""The gRPC faces of the transport module (digest §4.2-4.3, docs/protocol.md §8).

* ``org.ppc.ptp.PrivateTransferTransport`` (south-north, local components) on
  ``transport.host:transport.grpc_port``: ``push``/``pop``/``peek``/``release`` with the
  routing in ``x-ptp-*`` invocation metadata (and the topic in the message, which wins).
  The calls run through the very handlers of the HTTP face (``transport_app.py``), so both
  faces answer the same codes; a logical refusal is a ``TransportOutbound`` with its
  ``E0000000xxx`` code and gRPC status OK, never a gRPC error. As on HTTP, the reply is
  the 3-field layout unless the call carries ``x-ptp-outbound-layout: v1.2``.
* ``org.ppc.ptp.PrivateTransferProtocol`` (east-west, partner nodes) on
  ``interconn.host:interconn.grpc_port``: ``invoke`` (one message) and ``transport`` (a
  stream of ``Inbound`` frames, one ``Outbound`` reply per frame, in order). The partner
  signs the call exactly like an HTTP request, the BFIA headers travelling as metadata;
  refusals are gRPC UNAUTHENTICATED / PERMISSION_DENIED with our error code in the
  details. Under ``[interconn.tls]`` the listener uses the same certificates and the
  client certificate is checked against the contract's pin, as on HTTP.

Requests reach the east-west handlers as raw bytes (no deserializer) so that the
signature is checked over exactly the bytes the partner sent, not over a re-serialisation
(protobuf map order is not canonical).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, NoReturn

import grpc

from isthmus.node.auth import Caller, ContractPolicy
from isthmus.node.context import NodeContext, server_ssl_files
from isthmus.node.transport_app import (
    LAYOUT_HEADER,
    ChanRequest,
    handle_peek,
    handle_pop,
    handle_push,
    handle_release,
)
from isthmus.peer.signing import now_ms
from isthmus.transport.service import from_inbound, invoked_message
from isthmus.wire import ptp
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
#: Room for the message envelope and metadata above ``transport.max_message_bytes``.
MESSAGE_HEADROOM = 1024 * 1024
#: A long-lived ``transport`` stream re-checks its partner's contract this often.
RECHECK_S = 1.0
GRACE_S = 5.0


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


def _client_cert_der(context: Any) -> bytes | None:
    pems = (context.auth_context() or {}).get("x509_pem_cert") or []
    if not pems:
        return None
    pem = pems[0]
    return ssl.PEM_cert_to_DER_cert(pem.decode("ascii") if isinstance(pem, bytes) else pem)


# --- south-north ----------------------------------------------------------------------

ChanHandler = Callable[[NodeContext, ChanRequest], Awaitable[tuple[str, str, bytes]]]


class TransportServicer:
    """``PrivateTransferTransport`` for local components; mirrors ``transport_app``."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    async def push(self, request: ptp_pb2.PushInbound, context: Any) -> bytes:
        return await self._call(
            "push", handle_push, context, request.topic, payload=request.payload
        )

    async def pop(self, request: ptp_pb2.PopInbound, context: Any) -> bytes:
        timeout = pop_timeout_s(
            request.timeout,
            self.ctx.config.transport.default_pop_timeout_s,
            context.time_remaining(),
        )
        return await self._call("pop", handle_pop, context, request.topic, timeout_s=timeout)

    async def peek(self, request: ptp_pb2.PeekInbound, context: Any) -> bytes:
        return await self._call("peek", handle_peek, context, request.topic)

    async def release(self, request: ptp_pb2.ReleaseInbound, context: Any) -> bytes:
        # ReleaseInbound.timeout is accepted and ignored, as on HTTP: a release is immediate.
        return await self._call("release", handle_release, context, request.topic)

    async def _call(
        self,
        kind: str,
        handler: ChanHandler,
        context: Any,
        topic: str,
        *,
        payload: bytes = b"",
        timeout_s: float | None = None,
    ) -> bytes:
        """The serialized ``TransportOutbound`` (whose layout the caller may choose)."""
        headers = metadata_dict(context)
        layout = "v1.2" if headers.get(LAYOUT_HEADER, "").lower() == "v1.2" else "3"
        try:
            session_id = ptp.read(headers, ptp.SESSION_ID)
            if not session_id:
                raise TransportRefused(PtpCode.BAD_REQUEST, "x-ptp-session-id is required")
            call = ChanRequest(
                style="protobuf",
                session_id=session_id,
                token=ptp.read(headers, ptp.TOKEN),
                peer_node_id=ptp.read(headers, ptp.TARGET_NODE_ID),
                topic=topic or ptp.read(headers, ptp.TOPIC) or "",
                payload=payload,
                timeout_s=timeout_s,
            )
            code, message, body = await handler(self.ctx, call)
        except TransportRefused as exc:
            return ptp.outbound(exc.ptp_code, exc.message, layout=layout)
        except Exception:
            log.exception("gRPC transport %s failed", kind)
            return ptp.outbound(PtpCode.SYSTEM_ERROR, "internal error; see node log", layout=layout)
        return ptp.outbound(code, message, body, layout=layout)

    def handlers(self) -> tuple[Any, ...]:
        def unary(method: Callable[..., Any], request_type: Any) -> Any:
            # No response_serializer: the methods return the serialized reply.
            return grpc.unary_unary_rpc_method_handler(
                method, request_deserializer=request_type.FromString
            )

        methods = {
            "push": unary(self.push, ptp_pb2.PushInbound),
            "pop": unary(self.pop, ptp_pb2.PopInbound),
            "peek": unary(self.peek, ptp_pb2.PeekInbound),
            "release": unary(self.release, ptp_pb2.ReleaseInbound),
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
            cert = _client_cert_der(context)
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
        except Exception:
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
        inbound = ptp_pb2.Inbound()
        try:
            inbound.ParseFromString(request)
        except Exception:  # protobuf's DecodeError
            return _outbound(PtpCode.CODEC_ERROR, "request is not an Inbound")
        try:
            message = invoked_message(headers, inbound.payload, dict(inbound.metadata))
        except TransportRefused as exc:
            return _outbound(exc.ptp_code, exc.message)
        try:
            stored = await self.ctx.transport.receive_all(caller.node_id, [message])
        except TransportRefused as exc:
            return _outbound(exc.ptp_code, exc.message)
        except Exception:
            log.exception("gRPC invoke from %s failed", caller.node_id)
            return _outbound(PtpCode.SYSTEM_ERROR, "internal error; see node log")
        return _outbound(PtpCode.OK, "", stored=str(stored))

    async def transport(
        self, requests: AsyncIterator[bytes], context: Any, path: str = TRANSPORT_METHOD
    ) -> AsyncIterator[ptp_pb2.Outbound]:
        """Frames as in ``from_inbound``; one reply per frame, in order. The call is
        authenticated on its first frame (the signed body); the contract is re-checked
        while the stream lasts. Once a frame of a session is refused, later frames of
        that session in the same stream are not stored (answered with the same code), so
        that a resend can never be overtaken."""
        headers = metadata_dict(context)
        caller: Caller | None = None
        checked = 0.0
        refused: dict[str, str] = {}  # session -> code of its first refused frame
        index = 0
        async for data in requests:
            if caller is None:
                caller = await self._authenticate(context, path, headers, data)
                checked = time.monotonic()
            elif time.monotonic() - checked > RECHECK_S:
                problem = await asyncio.to_thread(self._contract_still_usable, caller.node_id)
                if problem is not None:
                    await _abort(context, problem)
                checked = time.monotonic()
            yield await self._frame(caller, data, index, refused)
            index += 1

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
        except Exception:
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


# --- listeners ------------------------------------------------------------------------


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def _east_west_credentials(ctx: NodeContext) -> Any:
    files = server_ssl_files(ctx.config)
    if files is None:
        return None
    cert, key, ca = files
    return grpc.ssl_server_credentials(
        [(key.read_bytes(), cert.read_bytes())],
        root_certificates=ca.read_bytes(),
        require_client_auth=ctx.config.interconn.tls.require_client_cert,
    )


async def _start_one(
    what: str, handlers: tuple[Any, ...], address: str, max_bytes: int, credentials: Any
) -> grpc.aio.Server:
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_bytes),
            ("grpc.max_send_message_length", max_bytes),
        ]
    )
    server.add_generic_rpc_handlers(handlers)
    try:
        if credentials is None:
            bound = server.add_insecure_port(address)
        else:
            bound = server.add_secure_port(address, credentials)
    except RuntimeError as exc:  # grpcio raises on a failed bind
        raise OSError(f"cannot listen on {address} for gRPC {what}: {exc}") from exc
    if bound == 0:
        raise OSError(f"cannot listen on {address} for gRPC {what} (port in use?)")
    await server.start()
    log.info("gRPC %s listening on %s%s", what, address, " (TLS)" if credentials else "")
    return server


async def start_grpc_servers(ctx: NodeContext) -> list[grpc.aio.Server]:
    """Start the configured gRPC listeners (a port of 0 leaves that face off).

    Must run in the node's event loop: the servicers share its ``NodeContext``. Raises
    OSError if a port cannot be bound (nothing is left listening then)."""
    config = ctx.config
    max_bytes = (
        max(config.transport.max_message_bytes, config.interconn.max_body_bytes) + MESSAGE_HEADROOM
    )
    servers: list[grpc.aio.Server] = []
    try:
        if config.transport.grpc_port:
            servers.append(
                await _start_one(
                    "south-north transport",
                    TransportServicer(ctx).handlers(),
                    _address(config.transport.host, config.transport.grpc_port),
                    max_bytes,
                    None,
                )
            )
        if config.interconn.grpc_port:
            servers.append(
                await _start_one(
                    "east-west transport",
                    ProtocolServicer(ctx).handlers(),
                    _address(config.interconn.host, config.interconn.grpc_port),
                    max_bytes,
                    _east_west_credentials(ctx),
                )
            )
    except BaseException:
        await stop_grpc_servers(servers, grace_s=0)
        raise
    return servers


async def stop_grpc_servers(servers: list[grpc.aio.Server], *, grace_s: float = GRACE_S) -> None:
    """Refuse new calls at once; let calls in flight (a waiting pop) finish for up to
    ``grace_s`` seconds, then cancel them."""
    await asyncio.gather(*(server.stop(grace_s) for server in servers), return_exceptions=True)
