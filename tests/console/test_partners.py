"""The Partners and Transport pages through a real browser, on two real node processes
(one cluster for the module, started without a contract so A can apply from the page).

A's admin applies to B from the Partners page; B's operator sees the application but no
button to decide it, and a forged decision (the session's valid CSRF token, the wrong
role) is a 403 that changes nothing; B's admin approves from B's page, and both pages
show APPROVED: B's after the action's redirect, A's without a reload (the page follows
its contracts by Server-Sent Events). The Transport page lists a session after a push
and the bytes it carried.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from isthmus.testing.cluster import ProcessCluster, ProcessNode, wait_until
from isthmus.wire import ptp
from tests.console.conftest import (
    ConsoleCluster,
    assert_accessible,
)

pytestmark = pytest.mark.multinode
SESSION, TOKEN = "session_job-console-transport", "token-1"
#: Waits for what crosses between the node processes (no fixed sleeps).
CROSSING_MS = 20_000


@pytest.fixture(scope="module")
def console_cluster() -> Iterator[ConsoleCluster]:
    """Two nodes with the console and no contract yet (A applies from the page)."""
    with ProcessCluster() as cluster:
        cluster.start(2)
        yield ConsoleCluster(cluster)


@pytest.fixture
def page_b(browser: Any) -> Iterator[Any]:
    """A second browser (its own cookies) for node B, failing on console errors too."""
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.console_errors = errors
    try:
        yield page
    finally:
        context.close()
    if errors:
        pytest.fail("the console logged errors:\n" + "\n".join(errors))


def _status(page: Any, contract_id: str) -> Any:
    return page.locator(f'tr[data-contract="{contract_id}"] [data-field="status"]')


def test_apply_then_the_partner_approves(
    console_cluster: ConsoleCluster,
    page: Any,
    page_b: Any,
    sign_in: Callable[[Any, ProcessNode, str], str],
    shoot: Callable[[Any, str], None],
) -> None:
    from playwright.sync_api import expect

    cc = console_cluster
    a, b = cc.a, cc.b
    sign_in(page, a, "admin")
    page.goto(cc.url(a, "/console/partners"))
    assert_accessible(page)
    page.fill("#apply-address", b.address)
    page.fill("#apply-node-id", b.node_id)
    page.click("#apply-submit")
    row = page.locator(f'tr[data-peer="{b.node_id}"]')
    expect(row).to_have_attribute("data-status", "APPLIED")
    contract_id = row.get_attribute("data-contract")
    assert contract_id

    # B's operator: the application, no decision button, and a forged decision is refused.
    sign_in(page_b, b, "operator")
    page_b.goto(cc.url(b, "/console/partners"))
    expect(_status(page_b, contract_id)).to_have_text("APPLIED")
    expect(page_b.locator('[data-act="approve"]')).to_have_count(0)
    csrf = page_b.locator('meta[name="csrf-token"]').get_attribute("content")
    forged = page_b.request.post(
        cc.url(b, f"/console/partners/{contract_id}/approve"),
        form={"csrf": csrf},
        max_redirects=0,
    )
    assert forged.status == 403
    assert b.admin.get(f"/contracts/{contract_id}")["status"] == "APPLIED"

    # B's admin approves from B's page.
    page_b.click("#logout")
    sign_in(page_b, b, "admin")
    page_b.goto(cc.url(b, "/console/partners"))
    assert_accessible(page_b)
    page_b.click(f'tr[data-contract="{contract_id}"] [data-act="approve"]')
    expect(_status(page_b, contract_id)).to_have_text("APPROVED")
    expect(page_b.locator("main > p.flash-ok")).to_contain_text(contract_id)

    # A's page, never reloaded, follows.
    expect(_status(page, contract_id)).to_have_text("APPROVED", timeout=CROSSING_MS)
    terminate = page.locator(f'tr[data-contract="{contract_id}"] [data-act="terminate"]')
    expect(terminate).to_be_visible()
    key = a.admin.get(f"/contracts/{contract_id}")["peer_key_fingerprint"]
    key_cell = page.locator(f'tr[data-contract="{contract_id}"] [data-field="key"]')
    expect(key_cell).to_contain_text(key[:8])  # B's key, learnt from its confirm
    shoot(page, "partners")

    page.goto(cc.url(a, f"/console/partners/{b.node_id}"))
    expect(page.locator('#partner-components tr[data-component="ecdh_psi"]')).to_be_visible()
    assert_accessible(page)


def _push(node: ProcessNode, peer: ProcessNode, payload: bytes) -> None:
    headers = {
        "x-ptp-session-id": SESSION,
        "x-ptp-token": TOKEN,
        "x-ptp-topic": "console",
        "x-ptp-target-node-id": peer.node_id,
        "x-ptp-source-node-id": node.node_id,
        "x-ptp-tecn-provider-code": "SecretFlow",
        "x-ptp-trace-id": "t",
    }
    url = f"http://{node.config.transport_address}/v1/interconn/chan/push"
    reply = httpx.post(url, content=payload, headers=headers, timeout=30)
    assert ptp.parse_outbound(reply.content)[0] == ptp.PtpCode.OK


def test_transport_lists_a_session_after_a_push(
    console_cluster: ConsoleCluster,
    page: Any,
    sign_in: Callable[[Any, ProcessNode, str], str],
    shoot: Callable[[Any, str], None],
) -> None:
    from playwright.sync_api import expect

    cc = console_cluster
    a, b = cc.a, cc.b
    if not any(c["status"] == "APPROVED" for c in a.admin.get("/contracts")):
        cc.cluster.connect(a, b)  # run alone: the first test made the contract
    for node, other in ((a, b), (b, a)):
        node.admin.post(
            "/transport/sessions",
            {"session_id": SESSION, "token": TOKEN, "parties": [other.node_id]},
        )
    _push(a, b, b"12345")

    def arrived() -> bool:
        [session] = [s for s in b.admin.get("/transport/sessions") if s["session_id"] == SESSION]
        return bool(session["in_messages"] == 1)

    wait_until(arrived, timeout_s=CROSSING_MS / 1000, what="the push reaching B")
    sign_in(page, b, "admin")
    page.goto(cc.url(b, "/console/transport"))
    row = page.locator(f'tr[data-session="{SESSION}"]')
    expect(row).to_have_attribute("data-state", "OPEN")
    expect(row.locator('[data-field="in"]')).to_have_text("1 messages, 5 bytes")
    expect(page.locator(f'tr[data-partner="{a.node_id}"] [data-field="received"]')).to_have_text(
        "5"
    )
    expect(page.locator('#transport-depths [data-field="in"]')).to_have_text("1 messages, 5 bytes")
    assert_accessible(page)
    shoot(page, "transport")

    page.on("dialog", lambda dialog: dialog.accept())
    row.locator('[data-act="release"]').click()
    expect(row).to_have_attribute("data-state", "RELEASED")
    expect(row.locator('[data-field="in"]')).to_have_text("0 messages, 0 bytes")
