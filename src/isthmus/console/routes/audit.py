"""The Audit page (``/console/audit``): the trail with its filters, "verify the chain"
with the verdict, and the export as a download. Auditors only, as on the admin API: each
handler asks ``authz.require`` for the admin route it stands for, so a role without it
gets 403 whatever it forges, and calls what that route calls (the store's audit log, the
route's own export).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from isthmus.console import authz
from isthmus.console.audit_trail import export_name, read_filters, trail_page
from isthmus.console.render import render
from isthmus.console.state import node_ctx
from isthmus.node.api.operations import audit_export
from isthmus.wire import paths

router = APIRouter()


async def _page(request: Request, verdict: dict[str, Any] | None) -> HTMLResponse:
    ctx = node_ctx(request)
    filters = read_filters(dict(request.query_params))
    events, next_after = await run_in_threadpool(trail_page, ctx, filters)
    return render(
        request,
        "audit/index.html",
        title_key="audit.title",
        events=events,
        filters=filters,
        next_query=filters.query(next_after) if next_after is not None else None,
        first_query=filters.query() if filters.after_seq else None,
        verdict=verdict,
    )


@router.get("/console/audit")
async def audit_page(request: Request) -> HTMLResponse:
    authz.require(request, "GET", paths.ADMIN_AUDIT)
    return await _page(request, None)


@router.get("/console/audit/verify")
async def audit_verify(request: Request) -> HTMLResponse:
    """The chain checked end to end (``ADMIN_AUDIT_VERIFY``), shown above the trail."""
    authz.require(request, "GET", paths.ADMIN_AUDIT_VERIFY)
    authz.require(request, "GET", paths.ADMIN_AUDIT)
    ctx = node_ctx(request)
    verdict = await run_in_threadpool(ctx.store.audit.verify)
    return await _page(request, verdict.as_dict())


@router.get("/console/audit/export")
async def audit_download(request: Request) -> StreamingResponse:
    """The admin API's export (every event, then the head signed by the node key), as
    a file to save."""
    authz.require(request, "GET", paths.ADMIN_AUDIT_EXPORT)
    ctx = node_ctx(request)
    response = await audit_export(ctx)
    response.headers["Content-Disposition"] = f'attachment; filename="{export_name(ctx.node_id)}"'
    return response
