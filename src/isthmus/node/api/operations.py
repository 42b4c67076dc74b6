"""The operations plane's routes: what keeps the node observable and in hand.

``probes`` (no token, for orchestrators and scrapers): liveness, readiness (listeners up,
store answering, transport engine alive) and the Prometheus metrics.

North-south (``north_south``, admin token, roles from ``node.rbac``): the node's own
description, API tokens, the outbox, the hash-chained audit log (page, verify, and an
export whose last line is the head signed by the node key), components (list, register,
enable or disable) and the doctor; and the spec's ``component/register`` for an upper
layer registering with its own node.

East-west (``east_west``, signed, approved contract): ``component/list|query``, which
show a partner only the ENABLED components.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from isthmus.node.api.deps import Actor, ApprovedPeer, Ctx, authorised
from isthmus.node.context import NodeContext
from isthmus.node.http import BoundedJsonRoute, request_fields
from isthmus.store.audit import row_to_dict
from isthmus.wire import paths
from isthmus.wire.envelope import error, ok
from isthmus.wire.errors import ErrorCode, RequestError
from isthmus.wire.ids import Identifier
from isthmus.wire.node import INT64_MAX

probes = APIRouter()
north_south = APIRouter(dependencies=[Depends(authorised)], route_class=BoundedJsonRoute)
east_west = APIRouter(route_class=BoundedJsonRoute)


# --- probes and metrics ------------------------------------------------------------------


@probes.get(paths.HEALTHZ)
async def healthz() -> dict[str, Any]:
    return ok({"status": "ok"})


@probes.get(paths.READYZ)
async def readyz(ctx: Ctx) -> JSONResponse:
    store_ok = await run_in_threadpool(ctx.store.ping)
    transport_ok = ctx.transport.alive
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


@probes.get(paths.METRICS)
async def metrics(ctx: Ctx) -> Response:
    """The node's metrics (``node.metrics``): the transport's depths read here, on the
    loop where they change; the store's counts in a thread."""
    depths = ctx.transport.depths()
    text = await run_in_threadpool(ctx.metrics.scrape, ctx.store, depths)
    return Response(text, media_type=CONTENT_TYPE_LATEST)


# --- the node, tokens, outbox, doctor ----------------------------------------------------


class TokenRequest(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    roles: list[str] = Field(min_length=1, max_length=4)
    service: bool = False


@north_south.get(paths.ADMIN_NODE)
async def node(ctx: Ctx) -> dict[str, Any]:
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
            "tee_report": await run_in_threadpool(ctx.tee.own_report_state),
        }
    )


def _pending_outbox(ctx: NodeContext) -> list[dict[str, Any]]:
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


@north_south.get(paths.ADMIN_OUTBOX)
async def outbox(ctx: Ctx) -> dict[str, Any]:
    return ok(await run_in_threadpool(_pending_outbox, ctx))


@north_south.get(paths.ADMIN_TOKENS)
async def tokens(ctx: Ctx) -> dict[str, Any]:
    return ok(await run_in_threadpool(ctx.principals.list))


@north_south.post(paths.ADMIN_TOKENS)
async def create_token(body: TokenRequest, ctx: Ctx, actor: Actor) -> dict[str, Any]:
    return ok(
        await run_in_threadpool(
            lambda: ctx.principals.create(body.name, body.roles, service=body.service, actor=actor)
        )
    )


@north_south.post(paths.ADMIN_TOKEN_REVOKE)
async def revoke_token(name: str, ctx: Ctx, actor: Actor) -> dict[str, Any]:
    return ok(await run_in_threadpool(lambda: ctx.principals.revoke(name, actor=actor)))


@north_south.get(paths.ADMIN_DOCTOR)
async def doctor(ctx: Ctx) -> dict[str, Any]:
    report = await ctx.doctor.examine()
    own = await run_in_threadpool(ctx.tee.own_report_health, datetime.now(UTC))
    report["tee_report"] = own
    report["ok"] = report["ok"] and own["ok"]
    return ok(report)


# --- the audit log -----------------------------------------------------------------------


@north_south.get(paths.ADMIN_AUDIT)
async def audit(
    ctx: Ctx,
    after_seq: int = Query(default=0, ge=0, le=INT64_MAX),
    limit: int = Query(default=100, ge=1, le=1000),
    action: str | None = Query(default=None, max_length=128),
    actor: str | None = Query(default=None, max_length=256),
    subject: str | None = Query(default=None, max_length=256),
    since_ms: int | None = Query(default=None, ge=0, le=INT64_MAX),
    until_ms: int | None = Query(default=None, ge=0, le=INT64_MAX),
) -> dict[str, Any]:
    def _page() -> list[dict[str, Any]]:
        with ctx.store.session() as s:
            rows = ctx.store.audit.page(
                s,
                after_seq=after_seq,
                limit=limit,
                action=action,
                actor=actor,
                subject=subject,
                since_ms=since_ms,
                until_ms=until_ms,
            )
            return [row_to_dict(r) for r in rows]

    return ok(await run_in_threadpool(_page))


@north_south.get(paths.ADMIN_AUDIT_VERIFY)
async def audit_verify(ctx: Ctx) -> dict[str, Any]:
    verdict = await run_in_threadpool(ctx.store.audit.verify)
    return ok(verdict.as_dict())


def _export_lines(ctx: NodeContext) -> list[str]:
    """Every event, then the trailer: the head, signed by the node key."""
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


@north_south.get(paths.ADMIN_AUDIT_EXPORT)
async def audit_export(ctx: Ctx) -> StreamingResponse:
    """NDJSON: every event, then one trailer line with the head signed by the node key."""
    lines = await run_in_threadpool(_export_lines, ctx)

    async def stream() -> AsyncIterator[bytes]:
        for line in lines:
            yield (line + "\n").encode("utf-8")

    return StreamingResponse(stream(), media_type="application/x-ndjson")


# --- components --------------------------------------------------------------------------


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


def _listed_components(ctx: NodeContext, name: str | None, describe: bool) -> list[dict[str, Any]]:
    """Every registered version (of ``name``); with ``describe``, each with its whole
    self-description (``component_info``), which ``isthmus component show`` reads."""
    rows = ctx.components.list_components(name=name)
    if not describe:
        return rows
    keys = [(r["componentName"], r["provider"], r["version"]) for r in rows]
    return [ctx.components.query(key) for key in keys]


@north_south.get(paths.ADMIN_COMPONENTS)
async def components(
    ctx: Ctx,
    name: str | None = Query(default=None, max_length=128),
    describe: bool = False,
) -> dict[str, Any]:
    return ok(await run_in_threadpool(_listed_components, ctx, name, describe))


@north_south.post(paths.ADMIN_COMPONENTS)
async def register_component(body: ComponentRegistration, ctx: Ctx) -> dict[str, Any]:
    registered, created = await run_in_threadpool(
        ctx.components.register, body.component_info, body.imageUrl, body.runner
    )
    return ok({**registered, "created": created})


@north_south.post(paths.ADMIN_COMPONENT_STATE)
async def component_state(body: ComponentState, ctx: Ctx) -> dict[str, Any]:
    key = (body.componentName, body.provider, body.version)
    return ok(await run_in_threadpool(ctx.components.set_state, key, body.state))


@north_south.post(paths.COMPONENT_REGISTER)
async def platform_register(body: ComponentRegistration, ctx: Ctx) -> dict[str, Any]:
    """The spec's north-south path: an upper layer registering with its own node."""
    await run_in_threadpool(
        ctx.components.register, body.component_info, body.imageUrl, body.runner
    )
    return ok({})


async def component_list(request: Request, ctx: Ctx, caller: ApprovedPeer) -> dict[str, Any]:
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


async def component_query(request: Request, ctx: Ctx, caller: ApprovedPeer) -> dict[str, Any]:
    """One ENABLED component: the spec's ``code`` + ``version`` (``developer``
    optional), or ``componentName`` + ``provider`` + ``version``."""
    fields = await request_fields(request)
    code = str(fields.get("code") or fields.get("componentName") or "")
    developer = str(fields.get("developer") or fields.get("provider") or "")
    version = str(fields.get("version") or "")
    if not (code and version):
        raise RequestError("code (or componentName) and version are required")
    return ok(await run_in_threadpool(ctx.components.published_detail, code, developer, version))


# GET and POST both (partners differ), each with its own OpenAPI operation.
for _method in ("get", "post"):
    _route = getattr(east_west, _method)
    _route(paths.COMPONENT_LIST, operation_id=f"component_list_{_method}")(component_list)
    _route(paths.COMPONENT_QUERY, operation_id=f"component_query_{_method}")(component_query)
