"""Console sessions and one-time links, on a fake clock: lifetimes, idleness, the bound,
single use; and the cookie's flags under TLS."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from isthmus.console.session import COOKIE, ConsoleSessions, set_cookie


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_ends_when_idle_or_old_or_signed_out() -> None:
    clock = Clock()
    sessions = ConsoleSessions(lifetime_s=100, idle_s=10, clock=clock)
    sid, session = sessions.create("alice")
    assert sessions.get(sid) is session
    for _ in range(9):  # used every 9 s: never idle, but old after 100 s
        clock.now += 9
        assert sessions.get(sid) is session
    clock.now += 20
    assert sessions.get(sid) is None
    sid, _ = sessions.create("alice")
    clock.now += 11
    assert sessions.get(sid) is None  # idle
    sid, _ = sessions.create("alice")
    sessions.end(sid)
    assert sessions.get(sid) is None
    assert sessions.get("") is None and sessions.get("made-up") is None


def test_ending_a_principals_sessions_leaves_others() -> None:
    sessions = ConsoleSessions()
    a1, _ = sessions.create("alice")
    a2, _ = sessions.create("alice")
    b, _ = sessions.create("bob")
    assert sessions.end_for("alice") == 2
    assert sessions.get(a1) is None and sessions.get(a2) is None
    assert sessions.get(b) is not None


def test_the_table_is_bounded_least_recently_used_first() -> None:
    sessions = ConsoleSessions(limit=3)
    ids = [sessions.create(f"p{i}")[0] for i in range(3)]
    assert sessions.get(ids[0]) is not None  # ids[1] is now the least recently used
    sessions.create("p3")
    assert len(sessions) == 3
    assert sessions.get(ids[1]) is None and sessions.get(ids[0]) is not None


def test_each_session_has_its_own_secrets() -> None:
    sessions = ConsoleSessions()
    (s1, one), (s2, two) = sessions.create("alice"), sessions.create("alice")
    assert len({s1, s2, one.csrf, two.csrf}) == 4 and len(one.csrf) >= 40


def test_a_link_works_once_and_only_in_time() -> None:
    clock = Clock()
    sessions = ConsoleSessions(link_s=600, clock=clock)
    code = sessions.link("root")
    assert sessions.redeem(code) == "root"
    assert sessions.redeem(code) is None
    late = sessions.link("root")
    clock.now += 601
    assert sessions.redeem(late) is None
    assert sessions.redeem(None) is None and sessions.redeem("guess") is None


def test_flashes_are_shown_once() -> None:
    _, session = ConsoleSessions().create("alice")
    session.flash("saved")
    assert session.take_flashes() == [("ok", "saved")]
    assert session.take_flashes() == []


def cookie_for(scheme: str) -> str:
    request = Request({"type": "http", "scheme": scheme, "path": "/", "headers": [],
                       "server": ("admin.local", 443), "query_string": b""})  # fmt: skip
    response = Response()
    set_cookie(response, request, COOKIE, "value")
    return response.headers["set-cookie"].lower()


def test_the_cookie_is_secure_under_tls_only() -> None:
    assert "secure" in cookie_for("https").split("; ")
    assert "secure" not in cookie_for("http").split("; ")
    for flag in ("httponly", "samesite=strict", "path=/console"):
        assert flag in cookie_for("https").split("; ")
