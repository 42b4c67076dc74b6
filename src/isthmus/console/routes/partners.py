"""The Partners page: the node's contracts, the actions on them, and a partner's
published datasets and components.

Every action is the admin API's, checked the admin API's way: ``authz.checked_form``
with the route it corresponds to (the policy table decides the roles, and a forged
POST without them is a 403 before anything changes), the CSRF token, then the same
``ContractService`` method the route calls, in the principal's name. Ids from the URL go
through ``check_id``; a refusal of the service (a state that does not admit the action,
an unreachable partner) comes back as a flash message on the page, never as a trace.
The page follows its contracts' states by Server-Sent Events (``/console/partners/
events``), so a partner's decision shows without a reload.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response, StreamingResponse

from isthmus.console import partners_data as data
from isthmus.console.authz import actor, can, checked_form, current, principal_named
from isthmus.console.i18n import t
from isthmus.console.render import flash, lang_of, render
from isthmus.console.state import node_ctx
from isthmus.node.context import NodeContext
from isthmus.wire import paths
from isthmus.wire.errors import IsthmusError, ValidationFailed
from isthmus.wire.ids import check_id

router = APIRouter()

PAGE = "/console/partners"
#: How often the event stream looks at the contracts, and how long one stream lives
#: (the browser's EventSource reconnects by itself).
POLL_S = 1.0
STREAM_S = 600.0


@router.get(PAGE)
async def partners(request: Request) -> Response:
    principal = current(request)
    ctx = node_ctx(request)
    lines = await run_in_threadpool(data.contract_lines, ctx)
    return render(
        request,
        "partners/index.html",
        title_key="partners.title",
        contracts=lines,
        actions=data.ACTIONS,
        from_peer="",
        can_apply=can(principal, "POST", paths.ADMIN_CONTRACT_APPLY),
        can_sync=can(principal, "POST", paths.ADMIN_CONTRACT_SYNC),
    )


@router.get(PAGE + "/events")
async def events(request: Request) -> Response:
    """``contracts`` events: each contract's status (and its label in the page's
    language), the actions its state admits, and the fields a decision fills in (the
    partner's key, TLS pin, expiry), sent whenever any of it changes."""
    name = current(request).name
    ctx, lang = node_ctx(request), lang_of(request)

    async def stream() -> AsyncIterator[str]:
        last: str | None = None
        loop = asyncio.get_running_loop()
        ends = loop.time() + STREAM_S
        while loop.time() < ends:
            # The token is looked up again each round: a revoked one ends the stream.
            if await run_in_threadpool(principal_named, request, name) is None:
                return
            states = await run_in_threadpool(_states, ctx, lang)
            if states != last:
                yield f"event: contracts\ndata: {states}\n\n"
                last = states
            await asyncio.sleep(POLL_S)

    return StreamingResponse(stream(), media_type="text/event-stream")


def _states(ctx: NodeContext, lang: str) -> str:
    states = {
        line.contract_id: {
            "peer": line.peer_node_id,
            "status": line.status,
            "label": t(lang, f"partners.status.{line.status}"),
            "actions": list(line.actions),
            "fields": {
                "key": line.key_fingerprint or "—",
                "tls_pin": line.tls_pin or "—",
                "expires": line.expires or "—",
            },
        }
        for line in data.contract_lines(ctx)
    }
    return json.dumps(states, sort_keys=True)


@router.get(PAGE + "/{peer}")
async def partner(request: Request, peer: str) -> Response:
    """One partner: its contracts, and what it publishes to us (each list shown only
    to a principal the policy lets read it)."""
    principal = current(request)
    try:
        check_id(peer, "peer")
    except IsthmusError as exc:
        flash(request, exc.message, "error")
        return RedirectResponse(PAGE, 303)
    ctx = node_ctx(request)
    lines = [c for c in await run_in_threadpool(data.contract_lines, ctx) if c.peer_node_id == peer]
    datasets = components = None
    if can(principal, "GET", paths.ADMIN_PARTNER_DATASETS):
        datasets = await data.partner_datasets(ctx, peer)
    if can(principal, "GET", paths.ADMIN_PARTNER_COMPONENTS):
        components = await data.partner_components(ctx, peer)
    return render(
        request,
        "partners/partner.html",
        title_key="partners.partner_title",
        peer=peer,
        contracts=lines,
        actions=data.ACTIONS,
        from_peer=peer,
        datasets=datasets,
        components=components,
    )


async def _act(
    request: Request, done_key: str, call: Callable[[], Awaitable[Any]], **fmt: str
) -> Response:
    """Run ``call``; flash its outcome (the service's refusal, or ``done_key``)."""
    lang = lang_of(request)
    try:
        await call()
    except IsthmusError as exc:
        flash(request, t(lang, "partners.refused", reason=exc.message), "error")
    else:
        flash(request, t(lang, done_key, **fmt))
    return RedirectResponse(_back(request), 303)


def _back(request: Request) -> str:
    """Back to the partner's page when the action came from it, else the list."""
    peer = request.query_params.get("from", "")
    try:
        return f"{PAGE}/{check_id(peer, 'from')}" if peer else PAGE
    except IsthmusError:
        return PAGE


@router.post(PAGE + "/apply")
async def apply(request: Request) -> Response:
    form = await checked_form(request, "POST", paths.ADMIN_CONTRACT_APPLY)
    who = actor(current(request))
    ctx = node_ctx(request)
    address = form.get("address", "").strip()
    node_id = form.get("node_id", "").strip() or None

    async def call() -> Any:
        if not address or len(address) > 512:
            raise _invalid(lang_of(request), "partners.address_required")
        if node_id is not None:
            check_id(node_id, "node_id")
        return await ctx.contracts.apply(address, actor=who, peer_node_id=node_id)

    return await _act(request, "partners.applied", call, address=address)


@router.post(PAGE + "/sync")
async def sync(request: Request) -> Response:
    await checked_form(request, "POST", paths.ADMIN_CONTRACT_SYNC)
    ctx = node_ctx(request)

    async def call() -> Any:
        await ctx.contracts.sync_pending()
        return await ctx.outbox.deliver_due()

    return await _act(request, "partners.synced", call)


@router.post(PAGE + "/{contract_id}/approve")
async def approve(request: Request, contract_id: str) -> Response:
    await checked_form(request, "POST", paths.ADMIN_CONTRACT_APPROVE)
    who, ctx = actor(current(request)), node_ctx(request)

    async def call() -> Any:
        check_id(contract_id, "contract_id")
        return await run_in_threadpool(lambda: ctx.contracts.approve(contract_id, actor=who))

    return await _act(request, "partners.approved", call, contract=contract_id)


@router.post(PAGE + "/{contract_id}/reject")
async def reject(request: Request, contract_id: str) -> Response:
    form = await checked_form(request, "POST", paths.ADMIN_CONTRACT_REJECT)
    who, ctx = actor(current(request)), node_ctx(request)
    reason = form.get("reason", "").strip()[:1024]

    async def call() -> Any:
        check_id(contract_id, "contract_id")
        return await run_in_threadpool(
            lambda: ctx.contracts.reject(contract_id, actor=who, reason=reason)
        )

    return await _act(request, "partners.rejected", call, contract=contract_id)


@router.post(PAGE + "/{contract_id}/terminate")
async def terminate(request: Request, contract_id: str) -> Response:
    form = await checked_form(request, "POST", paths.ADMIN_CONTRACT_TERMINATE)
    who, ctx = actor(current(request)), node_ctx(request)
    reason = form.get("reason", "").strip()[:1024]

    async def call() -> Any:
        check_id(contract_id, "contract_id")
        return await run_in_threadpool(
            lambda: ctx.contracts.terminate(contract_id, actor=who, reason=reason)
        )

    return await _act(request, "partners.terminated", call, contract=contract_id)


def _invalid(lang: str, key: str) -> IsthmusError:
    return ValidationFailed(t(lang, key))
