"""The north-south app: local operators, the CLI and monitoring.

Bound to loopback by default. Every route but health, readiness and metrics (for
probes and scrapers) needs a bearer token: the root token in ``DIR/admin.token`` or a
named one, whose roles ``rbac`` checks against the route. Replies use the same
BFIA envelope as the interconn app, so one client decodes both.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from isthmus import __version__
from isthmus.node import rbac
from isthmus.node.api.management import management_admin_router
from isthmus.node.api.schedule import platform_router
from isthmus.node.api.transport import routes as transport_routes
from isthmus.node.context import NodeContext
from isthmus.node.http import (
    BodyLimitMiddleware,
    BoundedJsonRoute,
    TraceMiddleware,
    install_error_handlers,
)
from isthmus.node.rbac import actor_of
from isthmus.store.audit import row_to_dict
from isthmus.wire import paths
from isthmus.wire.envelope import error, ok
from isthmus.wire.errors import ErrorCode
from isthmus.wire.ids import Identifier
from isthmus.wire.node import INT64_MAX, NODE_ID_PATTERN, ContractStatus

ADMIN_PREFIX = "/admin/v1"


class ApplyRequest(BaseModel):
    address: str = Field(min_length=1, max_length=512, description="partner's interconn URL")
    node_id: str | None = Field(default=None, pattern=NODE_ID_PATTERN)


class ApproveRequest(BaseModel):
    expired_time: int | None = Field(default=None, ge=0, le=INT64_MAX, description="epoch ms")
    address: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="the partner's interconn URL to call (default: the one it declared)",
    )


class ComponentRegistration(BaseModel):
    """``POST /v1/platform/schedule/component/register`` (digest §2.6) and its admin twin."""

    imageUrl: str = Field(default="", max_length=512)  # noqa: N815 - the spec's spelling
    component_info: dict[str, Any]
    runner: str = Field(default="process", max_length=32)


class ComponentState(BaseModel):
    componentName: Identifier  # noqa: N815
    provider: Identifier
    version: Identifier
    state: str = Field(pattern="^(ENABLED|DISABLED)$")


class TokenRequest(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    roles: list[str] = Field(min_length=1, max_length=4)
    service: bool = False


class ReasonRequest(BaseModel):
    reason: str = Field(default="", max_length=1024)


def create_admin_app(ctx: NodeContext) -> FastAPI:
    app = FastAPI(
        title=f"Isthmus admin API ({ctx.node_id})",
        version=__version__,
        description="North-south API for the node's own operators and the CLI.",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.ctx = ctx
    install_error_handlers(app)

    async def authorised(request: Request) -> None:
        header = request.headers.get("authorization")
        principal = await run_in_threadpool(ctx.principals.resolve, header)
        route = request.scope.get("route")
        rbac.check(principal, request.method, getattr(route, "path", request.url.path))
        request.state.principal = principal

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return ok({"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        store_ok = await run_in_threadpool(ctx.store.ping)
        transport_ok = ctx.transport.queues.alive
        ready = ctx.ready.is_set() and store_ok and transport_ok
        if ready:
            return JSONResponse(ok({"status": "ready"}))
        return JSONResponse(
            error(
                ErrorCode.INTERNAL,
                "not ready",
                {"listeners": ctx.ready.is_set(), "store": store_ok, "transport": transport_ok},
            ),
            status_code=503,
        )

    @app.get("/metrics")
    async def metrics() -> Response:
        def _collect() -> bytes:
            with ctx.store.session() as s:
                counts: dict[str, int] = {status.value: 0 for status in ContractStatus}
                for row in ctx.store.contracts.list(s):
                    counts[row.status] = counts.get(row.status, 0) + 1
                pending = len(ctx.store.outbox.pending(s))
            for status, count in counts.items():
                ctx.metrics.contracts.labels(status=status).set(count)
            ctx.metrics.outbox_pending.set(pending)
            return bytes(generate_latest(ctx.metrics.registry))

        return Response(await run_in_threadpool(_collect), media_type=CONTENT_TYPE_LATEST)

    api = APIRouter(
        prefix=ADMIN_PREFIX, dependencies=[Depends(authorised)], route_class=BoundedJsonRoute
    )

    @api.get("/node")
    async def node() -> dict[str, Any]:
        key = ctx.identity.private_key.public_key()
        return ok(
            {
                **ctx.info.model_dump(exclude_none=True),
                "auth_type": key.auth_type,
                "key_fingerprint": key.fingerprint(),
                "admin_address": ctx.config.admin_url,
                "tls": ctx.config.interconn.tls.enabled,
                "store": ctx.store.engine.dialect.name,
                "schema_revision": await run_in_threadpool(ctx.store.current_revision),
            }
        )

    @api.get("/contracts")
    async def list_contracts(status: ContractStatus | None = None) -> dict[str, Any]:
        value = status.value if status else None
        return ok(await run_in_threadpool(lambda: ctx.contracts.list(status=value)))

    @api.get("/contracts/{contract_id}")
    async def get_contract(contract_id: str) -> dict[str, Any]:
        return ok(await run_in_threadpool(ctx.contracts.get, contract_id))

    @api.post("/contracts/apply")
    async def apply(body: ApplyRequest, request: Request) -> dict[str, Any]:
        view = await ctx.contracts.apply(
            body.address, actor=actor_of(request), peer_node_id=body.node_id
        )
        return ok(view)

    @api.post("/contracts/{contract_id}/approve")
    async def approve(contract_id: str, body: ApproveRequest, request: Request) -> dict[str, Any]:
        view = await run_in_threadpool(
            lambda: ctx.contracts.approve(
                contract_id,
                actor=actor_of(request),
                expired_time=body.expired_time,
                address=body.address,
            )
        )
        return ok(view)

    @api.post("/contracts/{contract_id}/reject")
    async def reject(contract_id: str, body: ReasonRequest, request: Request) -> dict[str, Any]:
        view = await run_in_threadpool(
            lambda: ctx.contracts.reject(contract_id, actor=actor_of(request), reason=body.reason)
        )
        return ok(view)

    @api.post("/contracts/{contract_id}/terminate")
    async def terminate(contract_id: str, body: ReasonRequest, request: Request) -> dict[str, Any]:
        view = await run_in_threadpool(
            lambda: ctx.contracts.terminate(
                contract_id, actor=actor_of(request), reason=body.reason
            )
        )
        return ok(view)

    @api.post("/contracts/sync")
    async def sync() -> dict[str, Any]:
        changed = await ctx.contracts.sync_pending()
        delivered = await ctx.outbox.deliver_due()
        return ok({"contracts_changed": changed, "messages_delivered": delivered})

    @api.get("/outbox")
    async def outbox() -> dict[str, Any]:
        def _pending() -> list[dict[str, Any]]:
            with ctx.store.session() as s:
                return [
                    {
                        "id": r.id,
                        "peer_node_id": r.peer_node_id,
                        "path": r.path,
                        "attempts": r.attempts,
                        "last_error": r.last_error,
                        "dead": bool(r.dead),
                    }
                    for r in ctx.store.outbox.pending(s)
                ]

        return ok(await run_in_threadpool(_pending))

    @api.get("/audit")
    async def audit(
        after_seq: int = Query(default=0, ge=0, le=INT64_MAX),
        limit: int = Query(default=100, ge=1, le=1000),
        action: str | None = Query(default=None, max_length=128),
    ) -> dict[str, Any]:
        def _page() -> list[dict[str, Any]]:
            with ctx.store.session() as s:
                rows = ctx.store.audit.page(s, after_seq=after_seq, limit=limit, action=action)
                return [row_to_dict(r) for r in rows]

        return ok(await run_in_threadpool(_page))

    @api.get("/audit/verify")
    async def audit_verify() -> dict[str, Any]:
        verdict = await run_in_threadpool(ctx.store.audit.verify)
        return ok(verdict.as_dict())

    @api.get("/audit/export")
    async def audit_export() -> StreamingResponse:
        """NDJSON: every event, then one trailer line with the head signed by the node key."""

        def _lines() -> list[str]:
            with ctx.store.session() as s:
                lines = [json.dumps(e, ensure_ascii=False) for e in ctx.store.audit.iter_all(s)]
                seq, head_hash = ctx.store.audit.head(s)
            key = ctx.identity.private_key
            statement = f"isthmus-audit-head\n{ctx.node_id}\n{seq}\n{head_hash}".encode()
            lines.append(
                json.dumps(
                    {
                        "head": {"node_id": ctx.node_id, "seq": seq, "hash": head_hash},
                        "auth_type": key.auth_type,
                        "public_key": key.public_key().to_pem(),
                        "signature": key.sign(statement).hex(),
                    }
                )
            )
            return lines

        lines = await run_in_threadpool(_lines)

        async def stream() -> AsyncIterator[bytes]:
            for line in lines:
                yield (line + "\n").encode("utf-8")

        return StreamingResponse(stream(), media_type="application/x-ndjson")

    @api.get("/components")
    async def components(name: str | None = Query(default=None, max_length=128)) -> dict[str, Any]:
        return ok(await run_in_threadpool(lambda: ctx.components.list_components(name=name)))

    @api.post("/components")
    async def register_component(body: ComponentRegistration) -> dict[str, Any]:
        registered, created = await run_in_threadpool(
            ctx.components.register, body.component_info, body.imageUrl, body.runner
        )
        return ok({**registered, "created": created})

    @api.post("/components/state")
    async def component_state(body: ComponentState) -> dict[str, Any]:
        key = (body.componentName, body.provider, body.version)
        return ok(await run_in_threadpool(ctx.components.set_state, key, body.state))

    @api.get("/tokens")
    async def tokens() -> dict[str, Any]:
        return ok(await run_in_threadpool(ctx.principals.list))

    @api.post("/tokens")
    async def create_token(body: TokenRequest, request: Request) -> dict[str, Any]:
        actor = actor_of(request)
        return ok(
            await run_in_threadpool(
                lambda: ctx.principals.create(
                    body.name, body.roles, service=body.service, actor=actor
                )
            )
        )

    @api.post("/tokens/{name}/revoke")
    async def revoke_token(name: str, request: Request) -> dict[str, Any]:
        actor = actor_of(request)
        return ok(await run_in_threadpool(lambda: ctx.principals.revoke(name, actor=actor)))

    @api.get("/doctor")
    async def doctor() -> dict[str, Any]:
        return ok(await ctx.doctor.examine())

    app.include_router(api)
    app.include_router(transport_routes.north_south)
    # The spec's north-south path (an upper layer registering with its own node).
    platform = APIRouter(dependencies=[Depends(authorised)], route_class=BoundedJsonRoute)

    @platform.post(paths.COMPONENT_REGISTER)
    async def platform_register(body: ComponentRegistration) -> dict[str, Any]:
        await run_in_threadpool(
            ctx.components.register, body.component_info, body.imageUrl, body.runner
        )
        return ok({})

    app.include_router(platform)
    app.include_router(platform_router(ctx, authorised))
    app.include_router(management_admin_router(ctx, authorised, actor_of))
    app.add_middleware(BodyLimitMiddleware, max_bytes=1024 * 1024)
    app.add_middleware(TraceMiddleware, app_name="admin", metrics=ctx.metrics)
    return app
