"""The Transport page: the transport sessions (parties, what each holds pending, state),
the queue depths, and the bytes in and out per partner; an admin may release a session.

It reads what ``GET /admin/v1/transport/sessions`` and ``…/transport/traffic`` read
(``console.transport_data``). Release is the admin API's: ``authz.checked_form`` with
``ADMIN_TRANSPORT_SESSION_RELEASE`` (the policy table decides: admins), the CSRF token,
the session id through ``check_id``, then ``TransportService.release`` as the route
calls it; a refusal (unknown or released session) is a flash message.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from isthmus.console.authz import can, checked_form, current
from isthmus.console.i18n import t
from isthmus.console.render import flash, lang_of, render
from isthmus.console.state import node_ctx
from isthmus.console.transport_data import transport_view
from isthmus.node.context import NodeContext
from isthmus.store.transport import OPEN
from isthmus.wire import paths
from isthmus.wire.errors import IsthmusError
from isthmus.wire.ids import check_id

router = APIRouter()

PAGE = "/console/transport"


def _partners(ctx: NodeContext) -> list[str]:
    return sorted({c["peer_node_id"] for c in ctx.contracts.list()})


@router.get(PAGE)
async def transport(request: Request) -> Response:
    principal = current(request)
    ctx = node_ctx(request)
    known = await run_in_threadpool(_partners, ctx)
    view = await transport_view(ctx, known)
    return render(
        request,
        "transport/index.html",
        title_key="transport.title",
        view=view,
        open_state=OPEN,
        can_release=can(principal, "POST", paths.ADMIN_TRANSPORT_SESSION_RELEASE),
    )


@router.post(PAGE + "/sessions/{session_id}/release")
async def release(request: Request, session_id: str) -> Response:
    await checked_form(request, "POST", paths.ADMIN_TRANSPORT_SESSION_RELEASE)
    ctx, lang = node_ctx(request), lang_of(request)
    try:
        check_id(session_id, "session_id")
        dropped = await ctx.transport.release(session_id, None, None)
    except IsthmusError as exc:
        flash(request, t(lang, "transport.refused", reason=exc.message), "error")
    else:
        flash(request, t(lang, "transport.released", session=session_id, dropped=dropped))
    return RedirectResponse(PAGE, 303)
