"""The node's Beaver triple service: its gRPC handlers and who may call them.

``[beaver] enabled`` adds ``org.interconnection.v2.service.BeaverService`` to the
east-west gRPC listener (``node.grpc_server``). Callers are not BFIA-signed (PPCA
clients such as SPU's do not sign), so the gate is the transport: the listener's TLS
(under ``[interconn.tls]`` every caller completes the TLS handshake with a certificate
chained to the CA, as for the other east-west servicers) and then either

* the caller's address is in ``beaver.allowed_networks`` (loopback by default: the
  node's own components), or
* ``beaver.allow_partners`` and the caller's client certificate is the one pinned to an
  APPROVED, unexpired contract (a partner node's component calling through its node's
  identity).

Anyone else gets gRPC PERMISSION_DENIED before the request is looked at.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any

import grpc

from isthmus.beaver.servicer import BeaverServicer, Gate
from isthmus.node.auth import cert_fingerprint
from isthmus.node.context import NodeContext
from isthmus.node.tls import grpc_client_cert_der
from isthmus.store import Store
from isthmus.wire.clock import now_ms
from isthmus.wire.node import ContractStatus

log = logging.getLogger("isthmus.beaver")


def _caller_address(context: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    kind, _, rest = str(context.peer() or "").partition(":")
    if kind not in ("ipv4", "ipv6"):
        return None
    try:
        return ipaddress.ip_address(rest.rsplit(":", 1)[0].strip("[]"))
    except ValueError:
        return None


def _pinned_to_approved_contract(store: Store, fingerprint: str) -> bool:
    with store.session() as s:
        rows = store.contracts.list(s, status=ContractStatus.APPROVED)
        return any(
            (row.peer_tls_fingerprint or "").lower() == fingerprint
            and (row.expired_time is None or row.expired_time > now_ms())
            for row in rows
        )


def caller_gate(ctx: NodeContext) -> Gate:
    """Who may call (see the module docstring): None = allowed, else the reason."""
    networks = [ipaddress.ip_network(n, strict=False) for n in ctx.config.beaver.allowed_networks]
    allow_partners = ctx.config.beaver.allow_partners

    async def gate(context: Any) -> str | None:
        address = _caller_address(context)
        if address is not None and any(address in net for net in networks):
            return None
        der = grpc_client_cert_der(context) if allow_partners else None
        if der is not None and await asyncio.to_thread(
            _pinned_to_approved_contract, ctx.store, cert_fingerprint(der)
        ):
            return None
        return f"caller {address or '?'} may not use this node's Beaver service"

    return gate


def beaver_handlers(ctx: NodeContext) -> tuple[grpc.GenericRpcHandler, ...]:
    """The service's handlers for the east-west listener; none if it is disabled."""
    if ctx.beaver is None:
        return ()
    log.info(
        "Beaver triple service on the east-west gRPC listener (allowed networks %s, "
        "pinned partners %s)",
        ", ".join(ctx.config.beaver.allowed_networks) or "none",
        "yes" if ctx.config.beaver.allow_partners else "no",
    )
    return BeaverServicer(ctx.beaver, gate=caller_gate(ctx)).handlers()
