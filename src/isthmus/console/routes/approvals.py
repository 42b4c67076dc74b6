"""The Approvals page: requests in and out with their limits and state, the decisions on
them, the permits this node granted with their use, and applying for a partner's dataset.

Every change is checked as the admin API checks it: ``authz.require`` with the API's own
route (approve and reject: approvers; revoke: approvers and operators; apply and standing
grants: operators), then the CSRF token, then the same ``ApprovalService`` call the API
route makes with the signed-in principal as the actor, so the service's own rules hold
too: nobody decides a request they made (``Forbidden``, answered 403 like the API). A
refusal re-renders the page with the message and the API's status; nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from isthmus.console import authz, i18n
from isthmus.console.approvals_data import (
    INBOUND,
    OUTBOUND,
    deadline,
    inbox,
    partners,
    partners_datasets,
    permits,
    times,
)
from isthmus.console.render import flash, lang_of, render
from isthmus.console.state import node_ctx
from isthmus.console.timefmt import when
from isthmus.node.rbac import Principal
from isthmus.wire import paths
from isthmus.wire.clock import now_ms
from isthmus.wire.errors import IsthmusError, ValidationFailed
from isthmus.wire.ids import check_dataset_id, check_id
from isthmus.wire.mprac import ResourceType

router = APIRouter()
PAGE = "/console/approvals"
#: The apply form's fields (errors are shown next to them).
APPLY_FIELDS = ("peer", "dataset_id", "times", "days")


def _gather(request: Request, principal: Principal) -> dict[str, Any]:
    ctx = node_ctx(request)
    now = now_ms()

    def can(method: str, route: str) -> bool:
        return authz.can(principal, method, route)

    may_apply = can("POST", paths.ADMIN_APPROVAL_APPLY)
    may_grant = can("POST", paths.ADMIN_APPROVAL_GRANT)
    return {
        "inbound": inbox(ctx, authz.actor(principal), can, INBOUND),
        "outbound": inbox(ctx, authz.actor(principal), can, OUTBOUND),
        "permits": permits(ctx, now),
        "partners": partners(ctx) if may_apply or may_grant else [],
        "may_apply": may_apply,
        "may_grant": may_grant,
    }


async def _page(
    request: Request,
    principal: Principal,
    *,
    error: str = "",
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    data = await run_in_threadpool(_gather, request, principal)
    may_browse = authz.can(principal, "GET", paths.ADMIN_PARTNER_DATASETS)
    data["offered"] = (
        await partners_datasets(node_ctx(request), data["partners"]) if may_browse else []
    )
    data["may_sync"] = authz.can(principal, "POST", paths.ADMIN_APPROVAL_SYNC)
    return render(
        request,
        "approvals/index.html",
        title_key="approvals.title",
        status_code=status_code,
        error=error,
        form=form or {},
        errors=errors or {},
        when=when,
        **data,
    )


@router.get(PAGE)
async def approvals_page(request: Request) -> Response:
    return await _page(request, authz.current(request))


def _back(request: Request, done: str, subject: str) -> RedirectResponse:
    """Back to the page (303), with the outcome as this session's flash message."""
    flash(request, i18n.t(lang_of(request), f"approvals.done.{done}", subject=subject))
    return RedirectResponse(PAGE, status_code=303)


async def _form(request: Request) -> dict[str, str]:
    raw = await authz.read_form(request)
    authz.check_csrf(request, raw.get(authz.CSRF_FIELD) or None)
    return {k: v[:4096] for k, v in raw.items()}


def _target(form: dict[str, str]) -> tuple[str, str]:
    return check_id(form.get("peer", ""), "peer"), check_id(form.get("audit_id", ""), "audit_id")


async def _act(
    request: Request, principal: Principal, done: str, subject: str, call: Callable[[], object]
) -> Response:
    try:
        await run_in_threadpool(call)
    except IsthmusError as exc:
        return await _page(request, principal, error=exc.message, status_code=exc.http_status)
    return _back(request, done, subject)


@router.post(f"{PAGE}/sync")
async def sync(request: Request) -> Response:
    """Ask partners about our unanswered requests (the spec's ``audit/query``)."""
    authz.require(request, "POST", paths.ADMIN_APPROVAL_SYNC)
    await _form(request)
    try:
        settled = await node_ctx(request).approvals.sync_pending(older_than_ms=0)
    except IsthmusError as exc:
        principal = authz.current(request)
        return await _page(request, principal, error=exc.message, status_code=exc.http_status)
    flash(request, i18n.t(lang_of(request), "approvals.done.synced", count=settled))
    return RedirectResponse(PAGE, status_code=303)


@router.post(f"{PAGE}/approve")
async def approve(request: Request) -> Response:
    principal = authz.require(request, "POST", paths.ADMIN_APPROVAL_APPROVE)
    form = await _form(request)
    try:
        peer, audit_id = _target(form)
        limit_times, until = _limits(form)
    except IsthmusError as exc:
        return await _page(request, principal, error=exc.message, status_code=exc.http_status)
    return await _act(
        request,
        principal,
        "approved",
        audit_id,
        lambda: node_ctx(request).approvals.decide(
            peer,
            audit_id,
            approve=True,
            actor=authz.actor(principal),
            reason=form.get("reason", "")[:1024],
            time_limit=until,
            times_limit=limit_times,
        ),
    )


@router.post(f"{PAGE}/reject")
async def reject(request: Request) -> Response:
    principal = authz.require(request, "POST", paths.ADMIN_APPROVAL_REJECT)
    form = await _form(request)
    try:
        peer, audit_id = _target(form)
        reason = form.get("reason", "").strip()[:1024]
        if not reason:
            raise ValidationFailed("reason: say why the request is rejected")
    except IsthmusError as exc:
        return await _page(request, principal, error=exc.message, status_code=exc.http_status)
    return await _act(
        request,
        principal,
        "rejected",
        audit_id,
        lambda: node_ctx(request).approvals.decide(
            peer, audit_id, approve=False, actor=authz.actor(principal), reason=reason
        ),
    )


@router.post(f"{PAGE}/terminate")
async def terminate(request: Request) -> Response:
    principal = authz.require(request, "POST", paths.ADMIN_APPROVAL_TERMINATE)
    form = await _form(request)
    direction = form.get("direction", INBOUND)
    try:
        peer, audit_id = _target(form)
        if direction not in (INBOUND, OUTBOUND):
            raise ValidationFailed(f"direction: one of {INBOUND}, {OUTBOUND}")
    except IsthmusError as exc:
        return await _page(request, principal, error=exc.message, status_code=exc.http_status)
    reason = form.get("reason", "")[:1024]
    return await _act(
        request,
        principal,
        "revoked" if direction == INBOUND else "withdrawn",
        audit_id,
        lambda: node_ctx(request).approvals.terminate(
            peer, audit_id, direction, actor=authz.actor(principal), reason=reason
        ),
    )


def _request_fields(form: dict[str, str]) -> tuple[str, str, int | None, int | None]:
    """(peer, dataset id, times, until) of the apply form; ``ValidationFailed`` naming
    the field otherwise."""
    peer = check_id(form.get("peer", ""), "peer")
    dataset = check_dataset_id(form.get("dataset_id", "").strip(), "dataset_id")
    return (peer, dataset, *_limits(form))


def _limits(form: dict[str, str]) -> tuple[int | None, int | None]:
    """(times, until) of a form's ``times`` and ``days``; ``ValidationFailed`` naming the
    field that is not a number of the kind it takes."""
    try:
        limit_times = times(form.get("times", ""))
    except ValueError:
        raise ValidationFailed("times: a whole number, -1 for unlimited") from None
    try:
        until = deadline(form.get("days", ""), now_ms())
    except ValueError:
        raise ValidationFailed("days: a number of days above 0") from None
    return limit_times, until


def _field_errors(exc: IsthmusError) -> dict[str, str]:
    head, sep, rest = exc.message.partition(":")
    if sep and head.strip() in APPLY_FIELDS:
        return {head.strip(): rest.strip()}
    return {"_form": exc.message}


async def _request(request: Request, standing: bool) -> Response:
    route = paths.ADMIN_APPROVAL_GRANT if standing else paths.ADMIN_APPROVAL_APPLY
    principal = authz.require(request, "POST", route)
    form = await _form(request)
    ctx = node_ctx(request)
    actor = authz.actor(principal)
    try:
        peer, dataset, limit_times, until = _request_fields(form)

        def _call() -> dict[str, Any]:
            if standing:
                return ctx.approvals.grant(
                    peer,
                    ResourceType.DATASET,
                    dataset,
                    actor=actor,
                    time_limit=-1 if until is None else until,
                    times_limit=-1 if limit_times is None else limit_times,
                )
            fields: dict[str, Any] = {"dataset_id": dataset}
            if limit_times is not None:
                fields["times_limit"] = limit_times
            if until is not None:
                fields["time_limit"] = until
            return ctx.approvals.apply(ResourceType.DATASET, peer, fields, actor)

        view = await run_in_threadpool(_call)
    except IsthmusError as exc:
        kept = {k: form.get(k, "") for k in APPLY_FIELDS}
        kept["kind"] = "grant" if standing else "apply"
        return await _page(
            request,
            principal,
            form=kept,
            errors=_field_errors(exc),
            status_code=exc.http_status,
        )
    return _back(request, "grant_requested" if standing else "applied", str(view["audit_id"]))


@router.post(f"{PAGE}/apply")
async def apply(request: Request) -> Response:
    return await _request(request, standing=False)


@router.post(f"{PAGE}/grant")
async def grant(request: Request) -> Response:
    return await _request(request, standing=True)
