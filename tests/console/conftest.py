"""The console's browser harness: a real headless Chromium (Debian's) driven by
Playwright, and two real node processes with the console mounted.

* ``browser`` (session): Chromium at ``/usr/bin/chromium`` (``ISTHMUS_CHROMIUM``), or a
  loud skip saying why (in CI a missing browser fails: ``scripts/ensure_chromium.sh``
  installs it before the tests).
* ``console_cluster`` (module): two started, connected nodes (``NODE_A``, ``NODE_B``);
  ``url(node, path)`` gives a console URL, ``token(node, role)`` a named token with that
  role (made once per node and role through the admin API with the root token).
* ``page``: a fresh browser context and page that fails the test on any console error or
  uncaught page error.
* ``sign_in(page, node, role)``: signs in through the form as that role's token.
* ``shoot(page, name)``: ``docs/console/<name>.png`` when ``ISTHMUS_SCREENSHOTS=1``.
* ``assert_accessible(page)``: a title, and a label for every visible control.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from isthmus.testing.cluster import ProcessCluster, ProcessNode

CHROMIUM = os.environ.get("ISTHMUS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
ROLES = ("admin", "operator", "approver", "auditor")


def _no_browser(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"the console's browser tests need Chromium in CI: {reason}")
    pytest.skip(f"SKIPPED LOUDLY: no browser for the console tests: {reason}")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        _no_browser(f"{CHROMIUM} is missing (run scripts/ensure_chromium.sh)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _no_browser(f"playwright is not installed ({exc})")
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
        except Exception as exc:
            _no_browser(f"{CHROMIUM} did not start: {exc}")
        try:
            yield chromium
        finally:
            chromium.close()


class ConsoleCluster:
    """Two connected node processes with the console, and named tokens per role."""

    def __init__(self, cluster: ProcessCluster) -> None:
        self.cluster = cluster
        self.a, self.b = cluster.nodes[0], cluster.nodes[1]
        self._tokens: dict[tuple[str, str], tuple[str, str]] = {}

    def url(self, node: ProcessNode, path: str = "/console/") -> str:
        return node.config.admin_url + path

    def token(self, node: ProcessNode, role: str) -> tuple[str, str]:
        """(name, token) of a named token holding ``role`` on ``node``."""
        key = (node.node_id, role)
        if key not in self._tokens:
            name = f"{role}-{uuid.uuid4().hex[:8]}"
            made = node.admin.post("/tokens", {"name": name, "roles": [role]})
            self._tokens[key] = (name, made["token"])
        return self._tokens[key]


@pytest.fixture(scope="module")
def console_cluster() -> Iterator[ConsoleCluster]:
    with ProcessCluster() as cluster:
        cluster.start(2)
        cluster.connect(cluster.nodes[0], cluster.nodes[1])
        yield ConsoleCluster(cluster)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            errors.append(f"console {message.type}: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.console_errors = errors  # tests that expect an error (a 403) may clear it
    try:
        yield page
    finally:
        context.close()
    if errors:
        pytest.fail("the console logged errors:\n" + "\n".join(errors))


def sign_in_as(page: Any, cluster: ConsoleCluster, node: ProcessNode, role: str) -> str:
    """Sign in through the form with a token of ``role``; the token's name."""
    name, token = cluster.token(node, role)
    page.goto(cluster.url(node, "/console/login"))
    page.fill("#token", token)
    page.click("#sign-in")
    page.wait_for_url(cluster.url(node, "/console/"))
    return name


@pytest.fixture
def sign_in(console_cluster: ConsoleCluster) -> Callable[[Any, ProcessNode, str], str]:
    def _sign_in(page: Any, node: ProcessNode, role: str) -> str:
        return sign_in_as(page, console_cluster, node, role)

    return _sign_in


def shoot_page(page: Any, name: str) -> None:
    if os.environ.get("ISTHMUS_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def shoot() -> Callable[[Any, str], None]:
    return shoot_page


_UNLABELLED = """() => {
  const named = (el) => {
    if (el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')) return true;
    if (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`)) return true;
    if (el.closest('label')) return true;
    if (el.tagName === 'BUTTON' && el.textContent.trim()) return true;
    if (el.tagName === 'INPUT' && ['submit', 'button'].includes(el.type) && el.value) return true;
    return Boolean(el.getAttribute('title'));
  };
  return [...document.querySelectorAll('input, select, textarea, button')]
    .filter((el) => el.type !== 'hidden' && !named(el))
    .map((el) => el.outerHTML.slice(0, 120));
}"""


def assert_accessible(page: Any) -> None:
    """Lighthouse-style basics: a non-empty ``<title>``, ``<html lang>``, and a label
    (``<label>``, ``aria-label``, or a button's text) for every control."""
    assert page.title().strip(), f"{page.url}: no <title>"
    assert page.locator("html").get_attribute("lang"), f"{page.url}: no <html lang>"
    unlabelled = page.evaluate(_UNLABELLED)
    assert not unlabelled, f"{page.url}: controls without a label: {unlabelled}"
