"""The dependencies every route handler composes on: the node context, the
authenticated partner, the authorised operator.

Handlers never close over the node: they ask for ``Ctx`` and FastAPI hands them the
context the app was assembled with (``app.state.ctx``). So the handlers are plain
module-level functions, and one process can serve many nodes (the in-process harness).

East-west, ``ApprovedPeer`` and ``KnownPeer`` run the full authentication of
``node.auth`` before the body is parsed: the checks that need no database on the event
loop, the nonce insert too unless it would wait (then in one thread-pool hop).
``PendingKnownPeer`` leaves the nonce to the route, which does it together with its own
store work (``PendingPeer.run``). North-south, ``authorised`` resolves the bearer token
and checks its roles against the route in ``node.rbac`` before any handler runs.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from isthmus.node import rbac
from isthmus.node.auth import Admitted, Caller, ContractPolicy, RequestAuthenticator
from isthmus.node.context import NodeContext
from isthmus.store.nowait import Busy
from isthmus.wire.errors import AuthError, TeeAttestationExpired

T = TypeVar("T")


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


class PendingPeer:
    """A partner's request authenticated but for what needs the database: its nonce
    (and, when the contract facts were not cached, everything). ``run`` finishes the
    authentication and then does the route's own store work: on the event loop when
    neither has to wait (``store.nowait``), else in one thread-pool hop. It is the only
    way from here to a ``Caller``, so no route can act for a partner whose nonce was not
    accepted first."""

    def __init__(
        self,
        authenticator: RequestAuthenticator,
        evidence: dict[str, Any],
        policy: ContractPolicy,
        admitted: Admitted | None,
    ) -> None:
        self._authenticator = authenticator
        self._evidence = evidence
        self._policy = policy
        self._admitted = admitted

    def _finish(self) -> Caller:
        """Blocking (the thread pool): the nonce, or the whole check if not vetted."""
        if self._admitted is None:
            return self._authenticator.authenticate(**self._evidence, policy=self._policy)
        return self._authenticator.record(self._admitted)

    async def _refused(self, exc: AuthError | TeeAttestationExpired) -> None:
        await run_in_threadpool(
            partial(
                self._authenticator.refuse,
                exc,
                headers=self._evidence["headers"],
                remote=self._evidence["remote"],
                method=self._evidence["method"],
                path=self._evidence["path"],
            )
        )

    async def run(self, work: Callable[[Caller], T], now: Callable[[Caller], T] | None = None) -> T:
        """The nonce accepted (or the request refused), then ``work(caller)``, blocking.
        ``now``, if given, is ``work`` that raises ``Busy`` rather than wait: with it, a
        request whose nonce and work need not wait takes no thread-pool hop at all."""
        if self._admitted is not None:
            try:
                caller = self._authenticator.record_now(self._admitted)
            except Busy:
                pass
            except AuthError as exc:  # a replay
                await self._refused(exc)
                raise
            else:
                if now is not None:
                    try:
                        return now(caller)
                    except Busy:
                        pass
                return await run_in_threadpool(work, caller)
        return await run_in_threadpool(lambda: work(self._finish()))


async def _vetted(request: Request, policy: ContractPolicy) -> PendingPeer:
    """Steps 1-7 of ``node.auth`` on the event loop (``RequestAuthenticator.vet``); a
    refusal is recorded in the thread pool (it may write the audit log) and raised."""
    authenticator = node_context(request).authenticator
    evidence = await evidence_of(request)
    try:
        admitted = authenticator.vet(**evidence, policy=policy)
    except (AuthError, TeeAttestationExpired) as exc:
        await PendingPeer(authenticator, evidence, policy, None)._refused(exc)
        raise
    return PendingPeer(authenticator, evidence, policy, admitted)


def _caller(caller: Caller) -> Caller:
    return caller


async def approved_peer(request: Request) -> Caller:
    """A signed call from a partner with an APPROVED contract (every signed route but
    the contract's own end and query): fully authenticated, on the event loop unless the
    nonce insert would wait (then one thread-pool hop)."""
    return await (await _vetted(request, ContractPolicy.APPROVED)).run(_caller, now=_caller)


async def known_peer(request: Request) -> Caller:
    """A signed call from a partner we have any contract with (terminate and query a
    contract that is not, or no longer, approved): as ``approved_peer``."""
    return await (await _vetted(request, ContractPolicy.KNOWN)).run(_caller, now=_caller)


async def pending_known_peer(request: Request) -> PendingPeer:
    """As ``known_peer``, for a route that finishes the authentication together with its
    own store work (``PendingPeer.run``)."""
    return await _vetted(request, ContractPolicy.KNOWN)


ApprovedPeer = Annotated[Caller, Depends(approved_peer)]
KnownPeer = Annotated[Caller, Depends(known_peer)]
PendingKnownPeer = Annotated[PendingPeer, Depends(pending_known_peer)]


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
