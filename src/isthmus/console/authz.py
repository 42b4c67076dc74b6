"""Who is asking, and may they: the console's gate, on the admin API's own policy.

``current`` turns the session cookie into a ``Principal`` by re-resolving the token's
*name* on every request (root, or an unrevoked named token), so a revoked token's
sessions end at once. ``can`` asks ``rbac.allowed_roles``, the same table the admin API
checks, with the admin API route the console action corresponds to; ``require`` is the
server-side check (a forged request gets 403 whether or not a button was shown).
``check_csrf`` compares the session's secret with the form field or the
``X-CSRF-Token`` header in constant time: a missing or wrong token is a 403 before
anything changes.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl, quote

from starlette.requests import Request

from isthmus.console.session import COOKIE, ConsoleSession
from isthmus.console.state import console_state
from isthmus.node import rbac
from isthmus.node.rbac import Principal
from isthmus.store.schema import ApiTokenRow

CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
MAX_FORM_BYTES = 1024 * 1024


class SignInRequired(Exception):
    """No live session: a page redirects to the sign-in form, a fetch gets 401."""

    def __init__(self, next_path: str = "/console/") -> None:
        super().__init__("sign in first")
        self.next_path = next_path


class ConsoleForbidden(Exception):
    """The principal may not do this, or the CSRF token is wrong: 403, nothing changed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def wants_html(request: Request) -> bool:
    """A page load (redirect to sign in) rather than a fetch or an event stream (401)."""
    if request.headers.get("x-requested-with") == "fetch":
        return False
    accept = request.headers.get("accept", "")
    machine = "application/json" in accept or "text/event-stream" in accept
    return request.method == "GET" and not machine


def principal_named(request: Request, name: str) -> Principal | None:
    """The principal ``name`` as the admin API would resolve its token now: root, or
    a named token that exists and is not revoked; None otherwise."""
    ctx = console_state(request).ctx
    if name == rbac.ROOT:
        return Principal(rbac.ROOT, rbac.ANY)
    with ctx.store.session() as s:
        row = s.get(ApiTokenRow, name)
        if row is None or row.revoked_at is not None:
            return None
        return Principal(row.name, frozenset(row.roles.split(",")))


def session_of(request: Request) -> ConsoleSession | None:
    cached: ConsoleSession | None = getattr(request.state, "console_session", None)
    if cached is not None:
        return cached
    session = console_state(request).sessions.get(request.cookies.get(COOKIE))
    request.state.console_session = session
    return session


def current(request: Request) -> Principal:
    """The signed-in principal, or ``SignInRequired``. Ends the sessions of a principal
    whose token is gone or revoked."""
    found: Principal | None = getattr(request.state, "console_principal", None)
    if found is not None:
        return found
    session = session_of(request)
    if session is None:
        raise SignInRequired(_here(request))
    principal = principal_named(request, session.principal)
    if principal is None:
        console_state(request).sessions.end_for(session.principal)
        raise SignInRequired(_here(request))
    request.state.console_principal = principal
    return principal


def current_or_none(request: Request) -> Principal | None:
    try:
        return current(request)
    except SignInRequired:
        return None


def can(principal: Principal, method: str, api_route: str) -> bool:
    """May ``principal`` call the admin API's ``method api_route`` (rbac's table)?"""
    return principal.may(rbac.allowed_roles(method, api_route))


def require(request: Request, method: str, api_route: str) -> Principal:
    """The signed-in principal, if the policy lets it do ``method api_route``; else
    ``ConsoleForbidden`` (403)."""
    principal = current(request)
    if not can(principal, method, api_route):
        allowed = " or ".join(sorted(rbac.allowed_roles(method, api_route)))
        raise ConsoleForbidden(f"{principal.name} may not {method} {api_route}: it takes {allowed}")
    return principal


def actor(principal: Principal) -> str:
    """The audit log's name for an action (as ``rbac.actor_of`` names an API call)."""
    return f"token:{principal.name}"


def check_csrf(request: Request, supplied: str | None = None) -> None:
    """403 unless ``supplied`` (a form's ``csrf`` field; the ``X-CSRF-Token`` header
    when None) is this session's CSRF secret."""
    session = session_of(request)
    if supplied is None:
        supplied = request.headers.get(CSRF_HEADER)
    if (
        session is None
        or not supplied
        or not hmac.compare_digest(supplied.encode(), session.csrf.encode())
    ):
        raise ConsoleForbidden("missing or wrong CSRF token")


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (last value wins).
    (Multipart is not parsed: a file goes up by ``fetch`` as JSON or text.)"""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ConsoleForbidden("form too large")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


async def checked_form(request: Request, method: str, api_route: str) -> dict[str, str]:
    """The usual start of a console action: ``require``, read the form, ``check_csrf``
    against its ``csrf`` field (or the header). Returns the form."""
    require(request, method, api_route)
    form = await read_form(request)
    check_csrf(request, form.get(CSRF_FIELD) or None)
    return form


def _here(request: Request) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return quote(request.url.path + query, safe="/?=&")
