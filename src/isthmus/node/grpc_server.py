"""The node's gRPC listeners: process core, like the uvicorn servers in ``server``.

Each configured face (a port of 0 leaves it off) gets its own ``grpc.aio`` server in the
node's event loop, serving the servicers of ``isthmus.node.api.transport.servicers``
(east-west also the Beaver triple service if ``[beaver]`` enables it:
``isthmus.node.api.beaver``).
Guarantees: either every configured listener is bound or none is left listening (a
failed bind is an ``OSError`` naming the address); the east-west listener uses the
interconn's TLS files, asking for a client certificate as the HTTP listener does; a stop
refuses new calls at once and gives calls in flight ``GRACE_S`` to finish.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc

from isthmus.node.api.beaver import beaver_handlers
from isthmus.node.api.transport.servicers import ProtocolServicer, TransportServicer
from isthmus.node.context import NodeContext, server_ssl_files

log = logging.getLogger("isthmus.transport")

#: Room for the message envelope and metadata above ``transport.max_message_bytes``.
MESSAGE_HEADROOM = 1024 * 1024
#: How long calls in flight (a waiting pop) may finish once the node stops.
GRACE_S = 5.0


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
                    ProtocolServicer(ctx).handlers() + beaver_handlers(ctx),
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
