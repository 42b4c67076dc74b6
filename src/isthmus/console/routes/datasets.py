"""The Datasets page: this node's datasets with their metadata, drift warnings and who
may use each; register one (CSV, Parquet, SQL) and remove one.

Every change is checked as the admin API checks it: ``authz.require`` with the API's own
route (operators), then the CSRF token, then the very service call the API route makes,
with the signed-in principal as the actor. A refusal is shown next to the field it
names, with the form as it was typed; nothing is changed by a refused request.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from isthmus.console import authz, i18n
from isthmus.console.datasets_data import (
    FORM_FIELDS,
    GENERAL,
    dataset_entries,
    parse_registration,
    service_error,
)
from isthmus.console.render import flash, lang_of, render
from isthmus.console.state import node_ctx
from isthmus.console.timefmt import when
from isthmus.node.api.management import register_from
from isthmus.node.rbac import Principal
from isthmus.wire import paths
from isthmus.wire.clock import now_ms
from isthmus.wire.errors import IsthmusError
from isthmus.wire.ids import check_dataset_id

router = APIRouter()
PAGE = "/console/datasets"


async def _page(
    request: Request,
    principal: Principal,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    ctx = node_ctx(request)
    entries = await run_in_threadpool(dataset_entries, ctx, now_ms())
    return render(
        request,
        "datasets/index.html",
        title_key="datasets.title",
        status_code=status_code,
        entries=entries,
        form=form or {"source": "csv", "public": "on"},
        errors=errors or {},
        general=GENERAL,
        may_register=authz.can(principal, "POST", paths.ADMIN_DATASETS),
        may_remove=authz.can(principal, "POST", paths.ADMIN_DATASET_REMOVE),
        when=when,
    )


@router.get(PAGE)
async def datasets_page(request: Request) -> Response:
    return await _page(request, authz.current(request))


def _form_values(raw: dict[str, str]) -> dict[str, str]:
    return {name: raw.get(name, "")[:8192] for name in FORM_FIELDS}


@router.post(f"{PAGE}/register")
async def register(request: Request) -> Response:
    principal = authz.require(request, "POST", paths.ADMIN_DATASETS)
    raw = await authz.read_form(request)
    authz.check_csrf(request, raw.get(authz.CSRF_FIELD) or None)
    form = _form_values(raw)
    body, errors = parse_registration(form)
    if body is None:
        return await _page(request, principal, form=form, errors=errors, status_code=422)
    ctx = node_ctx(request)
    actor = authz.actor(principal)

    try:
        view = await run_in_threadpool(register_from, ctx, body, actor)
    except IsthmusError as exc:
        errors = service_error(exc)
        return await _page(
            request, principal, form=form, errors=errors, status_code=exc.http_status
        )
    return _back(request, "datasets.done.registered", str(view["dataset_id"]))


@router.post(f"{PAGE}/remove")
async def remove(request: Request) -> Response:
    principal = authz.require(request, "POST", paths.ADMIN_DATASET_REMOVE)
    raw = await authz.read_form(request)
    authz.check_csrf(request, raw.get(authz.CSRF_FIELD) or None)
    ctx = node_ctx(request)
    try:
        key = check_dataset_id(str(raw.get("dataset_id", "")), "dataset_id")
        await run_in_threadpool(ctx.datasets.remove, key, authz.actor(principal))
    except IsthmusError as exc:
        errors = {GENERAL: exc.message}
        return await _page(request, principal, errors=errors, status_code=exc.http_status)
    return _back(request, "datasets.done.removed", key)


def _back(request: Request, key: str, subject: str) -> RedirectResponse:
    """Back to the page (303), with the outcome as this session's flash message."""
    flash(request, i18n.t(lang_of(request), key, subject=subject))
    return RedirectResponse(PAGE, status_code=303)
