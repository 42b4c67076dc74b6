"""The east-west app: BFIA ``/v1/interconn/...`` endpoints that partners call.

Spec paths only. Every route except the four the spec leaves unsigned (health, node
query, contract apply and confirm) depends on ``require_peer``, which runs the full
authentication of ``auth.py`` before the body is even parsed.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from isthmus import __version__
from isthmus.management.contracts import parse_credential
from isthmus.node.api.management import management_router
from isthmus.node.api.schedule import schedule_router
from isthmus.node.api.transport import routes as transport_routes
from isthmus.node.auth import Caller, ContractPolicy
from isthmus.node.context import NodeContext
from isthmus.node.http import (
    BodyLimitMiddleware,
    BoundedJsonRoute,
    TraceMiddleware,
    install_error_handlers,
    request_fields,
)
from isthmus.peer.signing import canonical_string, verify_signature
from isthmus.wire import headers as h
from isthmus.wire import paths
from isthmus.wire.clock import now_ms
from isthmus.wire.envelope import ok
from isthmus.wire.errors import BadSignature, NotFound, RequestError
from isthmus.wire.node import (
    ContractApply,
    ContractConfirm,
    ContractRef,
    ContractStatus,
    NodeUpdate,
)
from isthmus.wire.proto import ptp_pb2


def _outbound(code: str, message: str, metadata: dict[str, str] | None = None) -> Response:
    body = ptp_pb2.Outbound(code=code, message=message, metadata=metadata or {})
    return Response(body.SerializeToString(), media_type="application/x-protobuf")


def _remote(request: Request) -> str:
    return request.client.host if request.client else "?"


def _client_cert(request: Request) -> bytes | None:
    tls = request.scope.get("extensions", {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    return ssl.PEM_cert_to_DER_cert(chain[0]) if chain else None


def require_peer(
    policy: ContractPolicy = ContractPolicy.APPROVED,
) -> Callable[[Request], Awaitable[Caller]]:
    async def dependency(request: Request) -> Caller:
        ctx: NodeContext = request.app.state.ctx
        body = await request.body()
        return await run_in_threadpool(
            lambda: ctx.authenticator.authenticate(
                method=request.method,
                path=request.url.path,
                query=request.url.query,
                headers=request.headers,
                body=body,
                remote=_remote(request),
                policy=policy,
                client_cert_der=_client_cert(request),
            )
        )

    return dependency


async def _proof_of_possession(
    request: Request, auth_type: str | None, credential: str | None
) -> bool:
    """For the unsigned endpoints: if the caller did sign, the signature must verify with
    the key it is presenting. Returns whether it was proven (shown to the operator)."""
    signature = h.read(request.headers, h.AUTH_SIGN)
    if not signature:
        return False
    if not (auth_type and credential):
        return False
    _, key = parse_credential(auth_type, credential)
    body = await request.body()
    message = canonical_string(
        method=request.method,
        path=request.url.path,
        query=request.url.query,
        timestamp=h.read(request.headers, h.TIMESTAMP) or "",
        nonce=h.read(request.headers, h.NONCE) or "",
        source_node_id=h.read(request.headers, h.SOURCE_NODE_ID) or "",
        target_node_id=h.read(request.headers, h.TARGET_NODE_ID) or "",
        body=body,
        ptp_headers=request.headers,
    )
    if not verify_signature(key, signature, message):
        raise BadSignature("x-auth-sign does not verify with the key in the request body")
    return True


def create_interconn_app(ctx: NodeContext) -> FastAPI:
    app = FastAPI(
        title=f"Isthmus interconn API ({ctx.node_id})",
        version=__version__,
        description="BFIA east-west API: what partner nodes call.",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    router = APIRouter(route_class=BoundedJsonRoute)

    @router.get(paths.NODE_HEALTH)
    async def node_health() -> dict[str, Any]:
        return ok({"status": "ok", "timestamp": now_ms()})

    @router.get(paths.NODE_QUERY)
    async def node_query(
        node_id: str | None = Query(default=None, max_length=128),
    ) -> dict[str, Any]:
        if node_id and node_id != ctx.node_id:
            raise NotFound(f"this is node {ctx.node_id}; it does not describe {node_id!r}")
        return ok(ctx.info.model_dump(exclude_none=True))

    async def component_list(
        request: Request, caller: Caller = Depends(require_peer())
    ) -> dict[str, Any]:
        """The ENABLED components a partner may use in jobs with us: the spec's
        ``records`` (``category``, ``code``, ``developer``, ``version``) and ``total``;
        ``developer``, ``category``, ``page_num``, ``page_size`` (-1: all) filter."""
        fields = await request_fields(request)
        records = await run_in_threadpool(
            lambda: ctx.components.published(
                developer=str(fields.get("developer") or ""),
                category=str(fields.get("category") or ""),
            )
        )
        try:
            page_num = max(int(fields.get("page_num") or 1), 1)
            page_size = int(fields.get("page_size") or 20)
        except ValueError:
            raise RequestError("page_num and page_size are integers") from None
        if page_size >= 0:
            records = records[(page_num - 1) * page_size : page_num * page_size]
        total = len(await run_in_threadpool(ctx.components.published))
        return ok({"records": records, "total": total})

    async def component_query(
        request: Request, caller: Caller = Depends(require_peer())
    ) -> dict[str, Any]:
        """One ENABLED component: the spec's ``code`` + ``version`` (``developer``
        optional), or ``componentName`` + ``provider`` + ``version``."""
        fields = await request_fields(request)
        code = str(fields.get("code") or fields.get("componentName") or "")
        developer = str(fields.get("developer") or fields.get("provider") or "")
        version = str(fields.get("version") or "")
        if not (code and version):
            raise RequestError("code (or componentName) and version are required")
        return ok(
            await run_in_threadpool(ctx.components.published_detail, code, developer, version)
        )

    # GET and POST both (partners differ), each with its own OpenAPI operation.
    for method in ("get", "post"):
        route = getattr(router, method)
        route(paths.COMPONENT_LIST, operation_id=f"component_list_{method}")(component_list)
        route(paths.COMPONENT_QUERY, operation_id=f"component_query_{method}")(component_query)

    @router.post(paths.NODE_CONTRACT_APPLY)
    async def contract_apply(body: ContractApply, request: Request) -> dict[str, Any]:
        proven = await _proof_of_possession(request, body.auth_type, body.auth_credential)
        contract_id = await run_in_threadpool(
            lambda: ctx.contracts.receive_apply(
                body,
                target_node_id=h.read(request.headers, h.TARGET_NODE_ID),
                proven=proven,
                remote=_remote(request),
            )
        )
        return ok({"contract_id": contract_id})

    @router.post(paths.NODE_CONTRACT_CONFIRM)
    async def contract_confirm(body: ContractConfirm, request: Request) -> dict[str, Any]:
        """An APPROVED confirm binds the partner's key to our application, so it must
        prove possession of that key (``RequestAuthenticator.prove_possession``) before
        anything is read from the store; a REJECTED one binds nothing."""
        if body.status == ContractStatus.APPROVED:
            _, key = parse_credential(body.auth_type, body.auth_credential)
            raw = await request.body()
            source: str | None = await run_in_threadpool(
                lambda: ctx.authenticator.prove_possession(
                    method=request.method,
                    path=request.url.path,
                    query=request.url.query,
                    headers=request.headers,
                    body=raw,
                    remote=_remote(request),
                    key=key,
                    tls_fingerprint=body.tls_cert_fingerprint,
                    client_cert_der=_client_cert(request),
                )
            )
            proven = True
        else:
            proven = await _proof_of_possession(request, body.auth_type, body.auth_credential)
            source = h.read(request.headers, h.SOURCE_NODE_ID)
        await run_in_threadpool(
            lambda: ctx.contracts.receive_confirm(
                body, source_node_id=source, proven=proven, remote=_remote(request)
            )
        )
        return ok()

    @router.post(paths.NODE_CONTRACT_TERMINATE)
    async def contract_terminate(
        body: ContractRef,
        request: Request,
        caller: Caller = Depends(require_peer(ContractPolicy.KNOWN)),
    ) -> dict[str, Any]:
        await run_in_threadpool(
            lambda: ctx.contracts.receive_terminate(
                body.contract_id, source_node_id=caller.node_id, remote=_remote(request)
            )
        )
        return ok()

    @router.get(paths.NODE_CONTRACT_QUERY)
    async def contract_query(
        contract_id: str = Query(min_length=1, max_length=128),
        caller: Caller = Depends(require_peer(ContractPolicy.KNOWN)),
    ) -> dict[str, Any]:
        result = await run_in_threadpool(
            lambda: ctx.contracts.receive_query(contract_id, source_node_id=caller.node_id)
        )
        return ok(result.model_dump(exclude_none=True))

    @router.post(paths.NODE_UPDATE)
    async def node_update(
        body: NodeUpdate,
        request: Request,
        caller: Caller = Depends(require_peer()),
    ) -> dict[str, Any]:
        await run_in_threadpool(
            lambda: ctx.contracts.receive_update(
                body, source_node_id=caller.node_id, remote=_remote(request)
            )
        )
        return ok()

    app.include_router(router)
    app.include_router(transport_routes.east_west)
    app.include_router(schedule_router(ctx, require_peer()))
    app.include_router(management_router(ctx, require_peer()))
    # Added last = outermost: the trace middleware also logs and counts 413 refusals.
    app.add_middleware(BodyLimitMiddleware, max_bytes=ctx.config.interconn.max_body_bytes)
    app.add_middleware(TraceMiddleware, app_name="interconn", metrics=ctx.metrics)
    return app
