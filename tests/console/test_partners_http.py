"""The Partners and Transport pages without a browser, in-process: who sees which
button, and that a forged request (wrong role, or missing or wrong CSRF token) is a 403
that changes nothing, while the right one does what the admin API would."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from isthmus.console import partners_data
from isthmus.console.routes import partners as partners_routes
from isthmus.testing import InProcessCluster, InProcessNode
from isthmus.wire.node import ContractStatus

pytestmark = pytest.mark.anyio
CONSOLE = Path(__file__).resolve().parents[2] / "src" / "isthmus" / "console"
SESSION, TOKEN = "session_job-console-http", "tok"


class Browser:
    """A cookie-keeping client of one node's console, signed in as one token."""

    def __init__(self, node: InProcessNode) -> None:
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=node.admin_app), base_url="http://admin.local"
        )

    async def sign_in(self, token: str) -> None:
        form = await self.client.get("/console/login")
        pre = _hidden(form.text, "csrf")
        done = await self.client.post(
            "/console/login", data={"csrf": pre, "token": token, "next": "/console/"}
        )
        assert done.status_code == 303, done.text

    async def page(self, path: str) -> tuple[str, str]:
        """The page's HTML and its CSRF token."""
        response = await self.client.get(path, headers={"accept": "text/html"})
        assert response.status_code == 200, response.text
        match = re.search(r'<meta name="csrf-token" content="([^"]*)"', response.text)
        assert match is not None
        return response.text, match.group(1)

    async def post(self, path: str, data: dict[str, str]) -> httpx.Response:
        return await self.client.post(path, data=data)


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match is not None, html
    return match.group(1)


async def _signed_in(node: InProcessNode, role: str, lang: str = "en") -> Browser:
    made = await node.admin_call("POST", "/tokens", {"name": f"{role}-1", "roles": [role]})
    browser = Browser(node)
    browser.client.cookies.set("isthmus_lang", lang)
    await browser.sign_in(made["token"])
    return browser


@pytest.fixture
async def applied() -> AsyncIterator[tuple[InProcessNode, InProcessNode, str]]:
    """A has applied to B: B holds an inbound APPLIED contract."""
    async with InProcessCluster() as cluster:
        a, b = await cluster.start(2)
        view = await a.admin_call("POST", "/contracts/apply", {"address": b.address})
        yield a, b, str(view["contract_id"])


def _status(node: InProcessNode, contract_id: str) -> str:
    return str(node.ctx.contracts.get(contract_id)["status"])


async def test_operator_sees_no_decision_and_a_forged_one_changes_nothing(
    applied: tuple[InProcessNode, InProcessNode, str],
) -> None:
    _, b, contract_id = applied
    operator = await _signed_in(b, "operator")
    html, csrf = await operator.page("/console/partners")
    assert f'data-contract="{contract_id}"' in html
    assert 'data-act="approve"' not in html and 'data-act="terminate"' not in html
    assert 'id="apply-address"' not in html
    forged = await operator.post(f"/console/partners/{contract_id}/approve", {"csrf": csrf})
    assert forged.status_code == 403
    assert _status(b, contract_id) == "APPLIED"
    forged = await operator.post("/console/partners/apply", {"csrf": csrf, "address": "http://x"})
    assert forged.status_code == 403


async def test_admin_needs_the_csrf_token_then_approves(
    applied: tuple[InProcessNode, InProcessNode, str],
) -> None:
    a, b, contract_id = applied
    admin = await _signed_in(b, "admin")
    html, csrf = await admin.page("/console/partners")
    assert 'data-act="approve"' in html and 'data-act="reject"' in html
    for data in ({}, {"csrf": "wrong"}):
        refused = await admin.post(f"/console/partners/{contract_id}/approve", data)
        assert refused.status_code == 403
        assert _status(b, contract_id) == "APPLIED"
    done = await admin.post(f"/console/partners/{contract_id}/approve", {"csrf": csrf})
    assert done.status_code == 303 and done.headers["location"] == "/console/partners"
    assert _status(b, contract_id) == "APPROVED"
    after, _ = await admin.page("/console/partners")
    assert f"Contract {contract_id} approved." in after
    assert 'data-act="approve"' not in after and 'data-act="terminate"' in after
    # The service's refusal is a flash message, not an error page.
    again = await admin.post(f"/console/partners/{contract_id}/approve", {"csrf": csrf})
    assert again.status_code == 303
    assert "Not done:" in (await admin.page("/console/partners"))[0]
    assert b.ctx.contracts.get(contract_id)["decided_by"] == "token:admin-1"  # who, not root
    await b.ctx.outbox.deliver_due()
    assert _status(a, contract_id) == "APPROVED"


async def test_reject_with_a_reason_terminate_and_sync(
    applied: tuple[InProcessNode, InProcessNode, str],
) -> None:
    a, b, contract_id = applied
    admin_b = await _signed_in(b, "admin")
    _, csrf = await admin_b.page("/console/partners")
    path = f"/console/partners/{contract_id}/reject"
    assert (await admin_b.post(path, {"csrf": csrf, "reason": "not now"})).status_code == 303
    assert b.ctx.contracts.get(contract_id)["reason"] == "not now"
    html, _ = await admin_b.page("/console/partners")
    assert f"Contract {contract_id} rejected." in html and "not now" in html
    assert 'data-act="terminate"' not in html  # a rejected contract is over
    admin_a = await _signed_in(a, "admin")
    _, csrf = await admin_a.page("/console/partners")
    done = await admin_a.post(f"/console/partners/{contract_id}/terminate", {"csrf": csrf})
    assert done.status_code == 303 and _status(a, contract_id) == "TERMINATED"
    assert (await admin_a.post("/console/partners/sync", {"csrf": csrf})).status_code == 303
    assert "Pending contracts and messages synced." in (await admin_a.page("/console/partners"))[0]


async def test_partner_page_lists_what_the_partner_publishes(
    applied: tuple[InProcessNode, InProcessNode, str],
) -> None:
    a, b, contract_id = applied
    await b.admin_call("POST", f"/contracts/{contract_id}/approve", {})
    await b.ctx.outbox.deliver_due()
    admin = await _signed_in(a, "admin")
    html, _ = await admin.page(f"/console/partners/{b.node_id}")
    assert 'data-component="ecdh_psi"' in html
    assert 'id="partner-datasets"' not in html  # datasets: operators only
    operator = await _signed_in(a, "operator")
    html, _ = await operator.page(f"/console/partners/{b.node_id}")
    assert 'id="partner-datasets"' in html and 'data-component="ecdh_psi"' in html
    bad = await operator.client.get("/console/partners/-bad", headers={"accept": "text/html"})
    assert (bad.status_code, bad.headers["location"]) == (303, "/console/partners")
    assert "is not a valid id" in (await operator.page("/console/partners"))[0]


async def test_transport_release_is_for_admins(
    applied: tuple[InProcessNode, InProcessNode, str],
) -> None:
    _, b, _ = applied
    await b.admin_call(
        "POST", "/transport/sessions", {"session_id": SESSION, "token": TOKEN, "parties": []}
    )
    operator = await _signed_in(b, "operator")
    html, csrf = await operator.page("/console/transport")
    assert f'data-session="{SESSION}"' in html and 'data-act="release"' not in html
    path = f"/console/transport/sessions/{SESSION}/release"
    assert (await operator.post(path, {"csrf": csrf})).status_code == 403
    admin = await _signed_in(b, "admin")
    html, csrf = await admin.page("/console/transport")
    assert 'data-act="release"' in html
    assert (await admin.post(path, {})).status_code == 403
    [session] = await b.admin_call("GET", "/transport/sessions")
    assert session["state"] == "OPEN"
    assert (await admin.post(path, {"csrf": csrf})).status_code == 303
    [session] = await b.admin_call("GET", "/transport/sessions")
    assert session["state"] == "RELEASED"
    html, _ = await admin.page("/console/transport")
    assert f"Session {SESSION} released" in html and 'data-act="release"' not in html


def _used_keys(page: str) -> set[str]:
    text = "".join(p.read_text("utf-8") for p in (CONSOLE / "templates" / page).glob("*.html"))
    text += (CONSOLE / "routes" / f"{page}.py").read_text("utf-8")
    return set(re.findall(rf"['\"]({page}\.[a-z_]+)['\"]", text))


async def test_events_follow_the_contracts_and_end_with_the_token(
    applied: tuple[InProcessNode, InProcessNode, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, b, contract_id = applied
    monkeypatch.setattr(partners_routes, "STREAM_S", 0.01)  # one round, then the end
    admin = await _signed_in(b, "admin", lang="zh-CN")
    html, _ = await admin.page("/console/partners")
    assert "合作方" in html and "已申请" in html and 'lang="zh-CN"' in html
    stream = {"accept": "text/event-stream"}  # as EventSource asks
    events = await admin.client.get("/console/partners/events", headers=stream)
    assert events.headers["content-type"].startswith("text/event-stream")
    kind, data = events.text.strip().split("\n")
    assert kind == "event: contracts"
    state = json.loads(data.removeprefix("data: "))[contract_id]
    assert state["status"] == "APPLIED" and state["label"] == "已申请"
    assert state["actions"] == ["approve", "reject", "terminate"]
    await b.admin_call("POST", "/tokens/admin-1/revoke")
    ended = await admin.client.get("/console/partners/events", headers=stream)
    assert ended.status_code == 401


def _row(status: str, direction: str = "INBOUND", **tee: object) -> dict[str, object]:
    return {"status": status, "direction": direction, **tee}


def test_actions_follow_state_and_direction() -> None:
    assert partners_data.actions_for(_row("APPLIED")) == ("approve", "reject", "terminate")
    assert partners_data.actions_for(_row("APPLIED", "OUTBOUND")) == ("terminate",)
    assert partners_data.actions_for(_row("APPROVED")) == ("terminate",)
    for ended in ("REJECTED", "TERMINATED"):
        assert partners_data.actions_for(_row(ended)) == ()


def test_attestation_in_a_word() -> None:
    state = partners_data.tee_state
    assert state(_row("APPROVED"), 10) == "none"
    assert state(_row("APPROVED", tee_required=True), 10) == "required"
    verified = _row("APPROVED", tee_required=True, peer_tee_status="VERIFIED")
    assert state({**verified, "peer_tee_valid_until": 11}, 10) == "verified"
    assert state({**verified, "peer_tee_valid_until": 10}, 10) == "lapsed"  # past its proof
    assert state({**verified, "peer_tee_status": "LAPSED"}, 10) == "lapsed"


def test_every_state_has_its_words() -> None:
    book = json.loads((CONSOLE / "i18n" / "en" / "partners.json").read_text("utf-8"))
    shown = [f"status.{s.value}" for s in ContractStatus]
    shown += ["direction.INBOUND", "direction.OUTBOUND"]
    shown += [f"tee.{w}" for w in ("none", "required", "verified", "lapsed")]
    assert not [k for k in shown if f"partners.{k}" not in book]
    transport = json.loads((CONSOLE / "i18n" / "en" / "transport.json").read_text("utf-8"))
    assert {"transport.state.OPEN", "transport.state.RELEASED"} <= transport.keys()


@pytest.mark.parametrize("page", ["partners", "transport"])
def test_every_text_in_both_languages(page: str) -> None:
    books = {
        lang: json.loads((CONSOLE / "i18n" / lang / f"{page}.json").read_text("utf-8"))
        for lang in ("en", "zh-CN")
    }
    assert books["en"].keys() == books["zh-CN"].keys()
    missing = _used_keys(page) - books["en"].keys()
    assert not missing, missing
    assert all(text.strip() for book in books.values() for text in book.values())
