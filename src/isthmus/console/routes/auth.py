"""Signing in and out, the one-time link, and the language switch.

Sign-in takes a named token (or the root token) in a form, resolves it exactly as the
admin API does, and starts a session; the token is not kept. The form carries a random
value that must match a cookie set with the form (the session does not exist yet, so
this double submit is the sign-in's CSRF check: another site cannot sign a browser in
under a token of its choosing). The one-time link (``POST /admin/v1/console/links``,
admin role, as the caller) carries a code that works once within 10 minutes. Sign-out
and the language switch are POSTs with the session's CSRF token.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from isthmus.console import i18n
from isthmus.console.authz import (
    CSRF_FIELD,
    ConsoleForbidden,
    check_csrf,
    current_or_none,
    read_form,
    session_of,
)
from isthmus.console.render import lang_of, render
from isthmus.console.session import COOKIE, PRE_COOKIE, clear_cookie, set_cookie
from isthmus.console.state import console_state, node_ctx
from isthmus.node.api.deps import authorised
from isthmus.node.rbac import Principal
from isthmus.wire import paths
from isthmus.wire.envelope import ok
from isthmus.wire.errors import AdminUnauthorized

router = APIRouter()
api = APIRouter(dependencies=[Depends(authorised)])

LOGIN = "/console/login"
LOGIN_ONCE = "/console/login/once"
HOME = "/console/"
LANG_YEAR_S = 365 * 24 * 3600


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a console path only (never another site)."""
    unsafe = not value or any(c in value for c in "\\\r\n") or value.startswith("//")
    if not unsafe and value and value.startswith("/console"):
        return value
    return HOME


def _login_page(request: Request, *, error: str = "", next_path: str = HOME) -> Response:
    """The sign-in form (200 even with an error: the page is the answer; a browser
    would log a 401 document as a console error)."""
    pre = secrets.token_urlsafe(24)
    response = render(
        request,
        "auth/login.html",
        title_key="auth.title",
        pre_csrf=pre,
        error=error,
        next_path=next_path,
    )
    set_cookie(response, request, PRE_COOKIE, pre)
    return response


def _record_sign_in(request: Request, principal: str, via: str) -> None:
    """The audit log names who opened a console session, and how (never the token)."""
    store = node_ctx(request).store
    with store.session() as s:
        store.audit.append(
            s,
            actor=f"token:{principal}",
            action="console.signed_in",
            subject=principal,
            details={"via": via},
        )


async def _signed_in(request: Request, principal: str, next_path: str, via: str) -> Response:
    await run_in_threadpool(_record_sign_in, request, principal, via)
    state = console_state(request)
    state.sessions.end(request.cookies.get(COOKIE))  # a new id at every sign-in
    sid, _ = state.sessions.create(principal)
    response = RedirectResponse(safe_next(next_path), status_code=303)
    set_cookie(response, request, COOKIE, sid)
    clear_cookie(response, request, PRE_COOKIE)
    return response


@router.get(LOGIN)
async def login_form(request: Request, next: str = HOME) -> Response:
    if current_or_none(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, next_path=safe_next(next))


@router.post(LOGIN)
async def login(request: Request) -> Response:
    form = await read_form(request)
    pre = request.cookies.get(PRE_COOKIE, "")
    supplied = form.get(CSRF_FIELD, "")
    if not pre or not hmac.compare_digest(pre.encode(), supplied.encode()):
        raise ConsoleForbidden("missing or wrong CSRF token")
    lang = lang_of(request)
    next_path = safe_next(form.get("next"))
    ctx = node_ctx(request)
    try:
        principal: Principal = await run_in_threadpool(
            ctx.principals.resolve, f"Bearer {form.get('token', '').strip()}"
        )
    except AdminUnauthorized:
        return _login_page(request, error=i18n.t(lang, "auth.wrong_token"), next_path=next_path)
    return await _signed_in(request, principal.name, next_path, "token")


@router.get(LOGIN_ONCE)
async def login_once(request: Request, code: str = "") -> Response:
    principal = console_state(request).sessions.redeem(code[:128])
    if principal is None:
        lang = lang_of(request)
        return _login_page(request, error=i18n.t(lang, "auth.link_used"))
    return await _signed_in(request, principal, HOME, "one-time link")


@router.post("/console/logout")
async def logout(request: Request) -> Response:
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD) or None)
    console_state(request).sessions.end(request.cookies.get(COOKIE))
    response = RedirectResponse(LOGIN, status_code=303)
    clear_cookie(response, request, COOKIE)
    return response


@router.post("/console/lang")
async def switch_language(request: Request) -> Response:
    form = await read_form(request)
    if session_of(request) is not None:
        check_csrf(request, form.get(CSRF_FIELD) or None)
    else:  # on the sign-in page: its double-submit value
        pre = request.cookies.get(PRE_COOKIE, "")
        if not pre or not hmac.compare_digest(pre.encode(), form.get(CSRF_FIELD, "").encode()):
            raise ConsoleForbidden("missing or wrong CSRF token")
    lang = form.get("lang", "")
    if lang not in i18n.LANGS:
        raise ConsoleForbidden(f"unknown language {lang[:20]!r}")
    response = RedirectResponse(safe_next(form.get("next")), status_code=303)
    set_cookie(response, request, i18n.COOKIE, lang, max_age=LANG_YEAR_S)
    return response


@api.post(paths.ADMIN_CONSOLE_LINKS)
async def create_link(request: Request) -> dict[str, Any]:
    """A one-time sign-in link for the caller's own principal (admin role: rbac's
    default for a POST it does not list)."""
    principal: Principal = request.state.principal
    sessions = console_state(request).sessions
    code = sessions.link(principal.name)
    base = node_ctx(request).config.admin_url
    return ok(
        {
            "console": f"{base}{HOME}",
            "path": f"{LOGIN_ONCE}?code={code}",
            "url": f"{base}{LOGIN_ONCE}?code={code}",
            "principal": principal.name,
            "expires_in_s": int(sessions.link_s),
        }
    )


router.include_router(api)
