"""Signing in to the console through a real browser, per role; sign-out; the language
switch; and, without a browser, the server's refusals: CSRF, the headers, the cookie
flags, the one-time link. One cluster (two node processes) for the module."""

from __future__ import annotations

import json
import re
from contextlib import closing
from typing import Any

import httpx
import pytest

from isthmus.console.nav import NAV
from isthmus.console.security import CSP
from isthmus.wire import paths
from tests.console.conftest import ROLES, ConsoleCluster, assert_accessible

pytestmark = pytest.mark.multinode


def nav_keys(page: Any) -> list[str]:
    return page.locator("nav [data-nav]").evaluate_all("links => links.map(a => a.dataset.nav)")


@pytest.mark.parametrize("role", ROLES)
def test_each_role_signs_in_and_sees_its_menu(
    console_cluster: ConsoleCluster, page: Any, sign_in: Any, shoot: Any, role: str
) -> None:
    name = sign_in(page, console_cluster.a, role)
    assert page.locator("[data-principal]").get_attribute("data-principal") == name
    expected = [n.key for n in NAV if n.key != "audit" or role == "auditor"]
    assert nav_keys(page) == expected
    assert page.locator("[data-field=node_id]").inner_text() == "NODE_A"
    assert page.locator("#partners tr[data-peer=NODE_B]").count() == 1
    # the doctor's health and skew: admins only (GET /admin/v1/doctor is theirs)
    assert page.locator("[data-field=skew]").count() == (1 if role == "admin" else 0)
    assert_accessible(page)
    if role == "admin":
        shoot(page, "overview")


def test_a_wrong_token_is_refused(console_cluster: ConsoleCluster, page: Any, shoot: Any) -> None:
    page.goto(console_cluster.url(console_cluster.a, "/console/"))
    page.wait_for_url(re.compile(r"/console/login"))
    assert_accessible(page)
    shoot(page, "login")
    page.fill("#token", "isk_not-a-token")
    page.click("#sign-in")
    page.locator("#login-error").wait_for()
    assert "/console/login" in page.url
    assert page.locator("nav [data-nav]").count() == 0


def test_sign_out_ends_the_session(
    console_cluster: ConsoleCluster, page: Any, sign_in: Any
) -> None:
    sign_in(page, console_cluster.a, "operator")
    page.click("#logout")
    page.wait_for_url(re.compile(r"/console/login$"))
    page.goto(console_cluster.url(console_cluster.a, "/console/"))
    page.wait_for_url(re.compile(r"/console/login\?next="))


def test_the_language_switch_changes_the_words_and_html_lang(
    console_cluster: ConsoleCluster, page: Any, sign_in: Any, shoot: Any
) -> None:
    sign_in(page, console_cluster.a, "approver")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Overview"
    page.select_option("#lang-select", "zh-CN")
    page.click("#lang-select ~ button")
    page.wait_for_function("document.documentElement.lang === 'zh-CN'")
    assert page.locator("h1").inner_text() == "概览"
    assert page.locator("nav [data-nav=jobs]").inner_text() == "作业"
    assert_accessible(page)
    shoot(page, "overview-zh-CN")
    page.reload()  # kept in a cookie
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.select_option("#lang-select", "en")
    page.click("#lang-select ~ button")
    page.wait_for_function("document.documentElement.lang === 'en'")


def test_revoking_the_token_ends_its_sessions(
    console_cluster: ConsoleCluster, page: Any, browser: Any
) -> None:
    node = console_cluster.a
    made = node.admin.post("/tokens", {"name": "leaving-auditor", "roles": ["auditor"]})
    page.goto(console_cluster.url(node, "/console/login"))
    page.fill("#token", made["token"])
    page.click("#sign-in")
    page.wait_for_url(console_cluster.url(node, "/console/"))
    node.admin.post("/tokens/leaving-auditor/revoke", {})
    page.goto(console_cluster.url(node, "/console/"))
    page.wait_for_url(re.compile(r"/console/login\?next="))


def test_the_one_time_link_signs_in_once(console_cluster: ConsoleCluster, page: Any) -> None:
    node = console_cluster.a
    link = node.admin.post("/console/links", {})
    assert link["principal"] == "root" and link["expires_in_s"] == 600
    page.goto(link["url"])
    page.wait_for_url(console_cluster.url(node, "/console/"))
    assert page.locator("[data-principal]").get_attribute("data-principal") == "root"
    trail = node.admin.get("/audit", action="console.signed_in")
    assert any(json.loads(e["details"]) == {"via": "one-time link"} for e in trail), trail
    page.context.clear_cookies()
    page.goto(link["url"])
    page.locator("#login-error").wait_for()
    assert page.locator("nav [data-nav]").count() == 0


# --- without a browser: what the server refuses ------------------------------------------


def signed_in_client(cluster: ConsoleCluster, role: str) -> tuple[httpx.Client, str]:
    """An httpx client signed in through the form as ``role``; and its CSRF token."""
    client = httpx.Client(base_url=cluster.a.config.admin_url, follow_redirects=False)
    form = client.get("/console/login")
    pre = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert pre is not None
    _, token = cluster.token(cluster.a, role)
    answer = client.post(
        "/console/login", data={"csrf": pre.group(1), "token": token, "next": "/console/"}
    )
    assert answer.status_code == 303, answer.text
    page = client.get("/console/")
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert page.status_code == 200 and csrf is not None
    return client, csrf.group(1)


@pytest.mark.parametrize("supplied", [None, "", "wrong-token"])
def test_a_post_without_the_right_csrf_token_changes_nothing(
    console_cluster: ConsoleCluster, supplied: str | None
) -> None:
    client, csrf = signed_in_client(console_cluster, "operator")
    with closing(client):
        form = {} if supplied is None else {"csrf": supplied}
        refused = client.post("/console/logout", data=form)
        assert refused.status_code == 403
        assert client.get("/console/").status_code == 200  # still signed in
        switched = client.post("/console/lang", data={**form, "lang": "zh-CN"})
        assert switched.status_code == 403
        assert "isthmus_lang" not in switched.headers.get("set-cookie", "")
        assert 'lang="en"' in client.get("/console/").text
        # the right token works (the refusals above were about the token alone)
        assert client.post("/console/logout", data={"csrf": csrf}).status_code == 303
        assert client.get("/console/").status_code == 303


def test_a_forged_sign_in_without_the_form_value_is_refused(
    console_cluster: ConsoleCluster,
) -> None:
    _, token = console_cluster.token(console_cluster.a, "admin")
    with httpx.Client(base_url=console_cluster.a.config.admin_url) as client:
        answer = client.post("/console/login", data={"token": token, "csrf": "forged"})
        assert answer.status_code == 403
        assert "isthmus_console=" not in answer.headers.get("set-cookie", "")


def test_every_console_response_carries_the_security_headers(
    console_cluster: ConsoleCluster,
) -> None:
    client, _ = signed_in_client(console_cluster, "admin")
    with closing(client):
        answers = [
            client.get(path)
            for path in (
                "/console/",
                "/console/login",
                "/console/static/console.js",
                "/console/static/console.css",
                "/console/no-such-page",
            )
        ]
        answers.append(httpx.get(console_cluster.a.config.admin_url + "/console/"))
    for answer in answers:
        assert answer.headers["content-security-policy"] == CSP, answer.url
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"
    assert "'unsafe-inline'" not in CSP and "script-src 'self'" in CSP


def test_the_session_cookie_flags(console_cluster: ConsoleCluster) -> None:
    with httpx.Client(base_url=console_cluster.a.config.admin_url) as client:
        pre = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/login").text)
        assert pre is not None
        _, token = console_cluster.token(console_cluster.a, "auditor")
        answer = client.post("/console/login", data={"csrf": pre.group(1), "token": token})
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("isthmus_console=")
    )
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/console"} <= flags
    assert "secure" not in flags  # plain HTTP on loopback; under TLS: test_session


def test_the_one_time_link_works_once_and_only_for_admins(
    console_cluster: ConsoleCluster,
) -> None:
    node = console_cluster.a
    link = node.admin.post("/console/links", {})
    with httpx.Client(base_url=node.config.admin_url) as client:
        first = client.get(link["path"])
        assert first.status_code == 303 and first.headers["location"] == "/console/"
        assert "isthmus_console=" in first.headers["set-cookie"]
    with httpx.Client(base_url=node.config.admin_url) as client:
        again = client.get(link["path"])
        assert again.status_code == 200 and 'id="login-error"' in again.text
        assert "isthmus_console=" not in again.headers.get("set-cookie", "")
    _, operator = console_cluster.token(node, "operator")
    refused = httpx.post(
        node.config.admin_url + paths.ADMIN_CONSOLE_LINKS,
        headers={"authorization": f"Bearer {operator}"},
    )
    assert refused.status_code == 403
