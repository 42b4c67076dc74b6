"""Pages from Jinja2 templates, with what every page needs in its context.

Autoescaping is on for every template: a partner's node name or a dataset's description
is text, never markup. ``render`` adds ``principal``, ``lang``, ``t`` (translate in the
page's language), ``csrf`` (the session's token, for forms and ``<meta>``), ``can``
(the policy check, to show a button only when the server would allow its action),
``nav`` (the menu entries this principal may open), ``node_id``, ``title`` and the
session's flash messages.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from isthmus.console import i18n
from isthmus.console.authz import can, current_or_none, session_of
from isthmus.console.nav import NAV
from isthmus.console.state import node_ctx

TEMPLATES = Path(__file__).parent / "templates"

env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def lang_of(request: Request) -> str:
    return i18n.pick(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))


def render(
    request: Request, template: str, *, title_key: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """``template`` (a path under ``console/templates``) as an HTML page."""
    lang = lang_of(request)
    principal = current_or_none(request)
    session = session_of(request) if principal is not None else None
    translate = partial(i18n.t, lang)
    page: dict[str, Any] = {
        "request": request,
        "principal": principal,
        "lang": lang,
        "langs": i18n.LANGS,
        "t": translate,
        "csrf": session.csrf if session is not None else "",
        "can": (lambda m, r: can(principal, m, r)) if principal else (lambda m, r: False),
        "nav": [n for n in NAV if principal is not None and can(principal, "GET", n.read_route)],
        "node_id": node_ctx(request).node_id,
        "title": translate(title_key),
        "flashes": session.take_flashes() if session is not None else [],
        "path": request.url.path,
    }
    page.update(context)
    html = env.get_template(template).render(page)
    return HTMLResponse(html, status_code=status_code)


def flash(request: Request, text: str, kind: str = "ok") -> None:
    """A message (already translated) shown on the next page of this session."""
    session = session_of(request)
    if session is not None:
        session.flash(text, kind)
