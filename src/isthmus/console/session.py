"""Console sessions and one-time sign-in links, in the node's memory.

A session is a random id (the cookie) mapped to the *name* of the token that signed in,
a CSRF secret and two clocks: it ends 8 hours after sign-in, or after 30 idle minutes,
or at sign-out. The token itself is never kept: every request re-resolves the name
(``authz.current``), so revoking the token ends its sessions at once. Sessions are few
(people, not programs): the table is bounded, and when full the least recently used one
goes. A restart signs everyone out, which is the safe direction.

A one-time link carries a random code that names a principal for 10 minutes and works
once: ``redeem`` removes it whatever the outcome. Codes and ids come from ``secrets``
(256 bits); they are compared only as dictionary keys of their SHA-256, so a lookup's
timing says nothing about a stored code.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "isthmus_console"
PRE_COOKIE = "isthmus_console_pre"  # the sign-in form's CSRF value, before any session
COOKIE_PATH = "/console"
LIFETIME_S = 8 * 3600
IDLE_S = 30 * 60
LINK_S = 10 * 60
MAX_SESSIONS = 1000
MAX_LINKS = 1000


def _key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class ConsoleSession:
    """One signed-in browser. ``csrf`` goes into every form and fetch of its pages."""

    principal: str
    csrf: str
    created: float
    seen: float
    flashes: list[tuple[str, str]] = field(default_factory=list)

    def flash(self, text: str, kind: str = "ok") -> None:
        """A message for the next page this session sees (``kind``: ok or error)."""
        self.flashes.append((kind, text))
        del self.flashes[:-5]

    def take_flashes(self) -> list[tuple[str, str]]:
        taken, self.flashes = self.flashes, []
        return taken


class ConsoleSessions:
    def __init__(
        self,
        *,
        lifetime_s: float = LIFETIME_S,
        idle_s: float = IDLE_S,
        link_s: float = LINK_S,
        limit: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lifetime_s, self.idle_s, self.link_s = lifetime_s, idle_s, link_s
        self.limit = limit
        self.clock = clock
        self._sessions: OrderedDict[str, ConsoleSession] = OrderedDict()
        self._links: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def create(self, principal: str) -> tuple[str, ConsoleSession]:
        """A new session for ``principal``: (the cookie's value, the session)."""
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        session = ConsoleSession(principal, secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._sessions[_key(sid)] = session
            while len(self._sessions) > self.limit:
                self._sessions.popitem(last=False)
        return sid, session

    def get(self, sid: str | None) -> ConsoleSession | None:
        """The live session behind a cookie value (and mark it used), or None."""
        if not sid:
            return None
        now = self.clock()
        with self._lock:
            key = _key(sid)
            session = self._sessions.get(key)
            if session is None:
                return None
            if now - session.created > self.lifetime_s or now - session.seen > self.idle_s:
                del self._sessions[key]
                return None
            session.seen = now
            self._sessions.move_to_end(key)
            return session

    def end(self, sid: str | None) -> None:
        if sid:
            with self._lock:
                self._sessions.pop(_key(sid), None)

    def end_for(self, principal: str) -> int:
        """End every session of ``principal`` (its token was revoked); how many ended."""
        with self._lock:
            gone = [k for k, s in self._sessions.items() if s.principal == principal]
            for key in gone:
                del self._sessions[key]
        return len(gone)

    def __len__(self) -> int:
        return len(self._sessions)

    def link(self, principal: str) -> str:
        """A one-time sign-in code for ``principal``, valid ``link_s`` seconds."""
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._links[_key(code)] = (principal, self.clock() + self.link_s)
            while len(self._links) > MAX_LINKS:
                self._links.popitem(last=False)
        return code

    def redeem(self, code: str | None) -> str | None:
        """The principal a code names, once; None when unknown, used or expired."""
        if not code:
            return None
        with self._lock:
            entry = self._links.pop(_key(code), None)
        if entry is None or self.clock() > entry[1]:
            return None
        return entry[0]


def is_tls(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, **extra: int) -> None:
    """A console cookie: ``HttpOnly``, ``SameSite=Strict``, ``Path=/console``, and
    ``Secure`` when the request came over TLS."""
    response.set_cookie(
        name,
        value,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=is_tls(request),
        **extra,  # type: ignore[arg-type]
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(
        name, path=COOKIE_PATH, httponly=True, samesite="strict", secure=is_tls(request)
    )
