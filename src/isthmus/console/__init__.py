"""The operator console: web pages served by the admin app under ``/console``.

``mount(app, ctx)`` is what ``isthmus node start`` (and the in-process harness) pass to
the node as an admin mount: the node layer cannot import this package, so it takes it as
a callable. It includes every page router (``pages.ROUTERS``), the packaged static files,
the security headers of every ``/console`` response, and the answers for "sign in first"
(a redirect for a page, 401 for a fetch) and "not allowed" (403, nothing changed).
Everything the browser loads comes from this package: no third-party request at run time.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from isthmus.console import pages
from isthmus.console.authz import ConsoleForbidden, SignInRequired, wants_html
from isthmus.console.security import SecurityHeaders
from isthmus.console.state import ConsoleState
from isthmus.node.context import NodeContext

STATIC = Path(__file__).parent / "static"

__all__ = ["mount"]


def mount(app: FastAPI, ctx: NodeContext) -> None:
    """Serve the console on ``app`` (the admin app of ``ctx``)."""
    app.state.console = ConsoleState(ctx)
    for router in pages.ROUTERS:
        app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    app.add_exception_handler(SignInRequired, _sign_in_required)  # type: ignore[arg-type]
    app.add_exception_handler(ConsoleForbidden, _forbidden)  # type: ignore[arg-type]
    app.add_middleware(SecurityHeaders)


async def _sign_in_required(request: Request, exc: SignInRequired) -> Response:
    if wants_html(request):
        return RedirectResponse(f"/console/login?next={quote(exc.next_path, safe='')}", 303)
    return JSONResponse({"ok": False, "error": "sign in first"}, status_code=401)


async def _forbidden(request: Request, exc: ConsoleForbidden) -> Response:
    if wants_html(request) or (
        request.method == "POST" and "fetch" not in (request.headers.get("x-requested-with") or "")
    ):
        from isthmus.console.render import render

        return render(
            request,
            "forbidden.html",
            title_key="common.forbidden",
            reason=exc.reason,
            status_code=403,
        )
    return JSONResponse({"ok": False, "error": exc.reason}, status_code=403)
