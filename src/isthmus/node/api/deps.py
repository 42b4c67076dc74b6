"""The dependencies every route handler composes on: the node context, the
authenticated partner, the authorised operator.

Handlers never close over the node: they ask for ``Ctx`` and FastAPI hands them the
context the app was assembled with (``app.state.ctx``). So the handlers are plain
module-level functions, and one process can serve many nodes (the in-process harness).

East-west, ``ApprovedPeer`` and ``KnownPeer`` run the full authentication of
``node.auth`` before the body is parsed; north-south, ``authorised`` resolves the bearer
token and checks its roles against the route in ``node.rbac`` before any handler runs.
"""

from __future__ import annotations

import ssl
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from isthmus.node import rbac
from isthmus.node.auth import Caller, ContractPolicy
from isthmus.node.context import NodeContext


def node_context(request: Request) -> NodeContext:
    """The node the app serving this request was assembled for."""
    return cast(NodeContext, request.app.state.ctx)


async def _node_context(request: Request) -> NodeContext:
    # FastAPI runs a plain ``def`` dependency in the thread pool: a hop (0.05-0.1 ms,
    # more under load) on every request for an attribute read. ``async def`` runs inline.
    return node_context(request)


Ctx = Annotated[NodeContext, Depends(_node_context)]


def remote_of(request: Request) -> str:
    """The connection's peer address (for the audit log and the refusal ledger)."""
    return request.client.host if request.client else "?"


def client_cert_of(request: Request) -> bytes | None:
    """The partner's TLS client certificate (DER), when the listener asked for one."""
    tls = request.scope.get("extensions", {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    return ssl.PEM_cert_to_DER_cert(chain[0]) if chain else None


async def evidence_of(request: Request) -> dict[str, Any]:
    """What a signed request proves about its sender, as ``node.auth`` reads it: the
    method, path, query, headers and body that were signed, the connection's address and
    its TLS client certificate."""
    return {
        "method": request.method,
        "path": request.url.path,
        "query": request.url.query,
        "headers": request.headers,
        "body": await request.body(),
        "remote": remote_of(request),
        "client_cert_der": client_cert_of(request),
    }


async def _authenticate(request: Request, policy: ContractPolicy) -> Caller:
    ctx = node_context(request)
    evidence = await evidence_of(request)
    return await run_in_threadpool(
        lambda: ctx.authenticator.authenticate(**evidence, policy=policy)
    )


async def approved_peer(request: Request) -> Caller:
    """A signed call from a partner with an APPROVED contract (every signed route but
    the contract's own end and query)."""
    return await _authenticate(request, ContractPolicy.APPROVED)


async def known_peer(request: Request) -> Caller:
    """A signed call from a partner we have any contract with (terminate and query a
    contract that is not, or no longer, approved)."""
    return await _authenticate(request, ContractPolicy.KNOWN)


ApprovedPeer = Annotated[Caller, Depends(approved_peer)]
KnownPeer = Annotated[Caller, Depends(known_peer)]


async def authorised(request: Request) -> None:
    """The admin API's one gate: a valid bearer token whose roles the route allows.
    Sets ``request.state.principal``, which ``rbac.actor_of`` names in the audit log."""
    ctx = node_context(request)
    principal = await run_in_threadpool(
        ctx.principals.resolve, request.headers.get("authorization")
    )
    route = request.scope.get("route")
    rbac.check(principal, request.method, getattr(route, "path", request.url.path))
    request.state.principal = principal


def actor(request: Request) -> str:
    """Who the audit log names for this admin call (see ``rbac.actor_of``)."""
    return rbac.actor_of(request)


async def _actor(request: Request) -> str:
    return actor(request)  # inline, not in the thread pool (see ``_node_context``)


Actor = Annotated[str, Depends(_actor)]
