"""The Datasets and Approvals pages in a real browser, on one two-node cluster.

Node A's operator asks for B's dataset on A's Approvals page; B's approver approves it
on B's page; A's page then shows it approved. The requester never has a decide button
on their own request (A's outbound row; a standing grant an approver-operator asked for
on B), and the server refuses a forged decision: an operator's (valid CSRF token) and an
approver's own. A CSV dataset registered through the Datasets page is listed; a bad
field shows its error next to the field. Screenshots: ``datasets``, ``approvals``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from isthmus.testing.cluster import ProcessNode, wait_until
from tests.console.conftest import ConsoleCluster, assert_accessible

pytestmark = pytest.mark.multinode
OFFERED = "bank#offered"


def _source(node: ProcessNode, name: str) -> Path:
    path = node.home / "data" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("id,balance,label\n1,2.5,0\n2,3.5,1\n3,1.0,0\n")
    return path


@pytest.fixture(scope="module")
def cluster(console_cluster: ConsoleCluster) -> ConsoleCluster:
    """The module's cluster, B offering ``OFFERED`` (registered through the admin API)."""
    b = console_cluster.b
    body = {"namespace": "bank", "name": "offered", "source": "csv",
            "location": str(_source(b, "offered.csv")), "join_columns": ["id"]}  # fmt: skip
    b.admin.post("/datasets", body)
    return console_cluster


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def _audit(node: ProcessNode, audit_id: str) -> dict[str, Any] | None:
    return next((r for r in node.admin.get("/audits") if r["audit_id"] == audit_id), None)


def _forged_post(page: Any, url: str, form: dict[str, str]) -> int:
    """POST ``form`` with the page's own CSRF token, as a forger with the session would."""
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    return int(page.request.post(url, form={"csrf": csrf, **form}, max_redirects=0).status)


def test_a_csv_dataset_registered_on_the_page_is_listed(
    page: Any, cluster: ConsoleCluster, sign_in: Any, shoot: Any
) -> None:
    b, expect = cluster.b, _expect()
    source = _source(b, "customers.csv")
    sign_in(page, b, "operator")
    page.goto(cluster.url(b, "/console/datasets"))
    page.fill("#ds-namespace", "bank")
    page.fill("#ds-name", "customers")
    page.select_option("#ds-source", "csv")
    page.fill("#ds-location", str(source))
    page.fill("#ds-join_columns", "id")
    page.fill("#ds-label_columns", "label")
    page.click("#register-form button[type=submit]")
    row = page.locator('tr[data-dataset="bank#customers"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("balance")
    expect(page.locator(".flash-ok")).to_contain_text("bank#customers")
    assert b.admin.get("/datasets/one", dataset_id="bank#customers")["count"] == 3
    assert_accessible(page)
    shoot(page, "datasets")


def test_a_bad_field_shows_its_error_next_to_the_field(
    page: Any, cluster: ConsoleCluster, sign_in: Any
) -> None:
    b, expect = cluster.b, _expect()
    sign_in(page, b, "operator")
    page.goto(cluster.url(b, "/console/datasets"))
    page.fill("#ds-namespace", "bank")
    page.fill("#ds-name", "mistyped")
    page.fill("#ds-location", str(_source(b, "mistyped.csv")))
    page.fill("#ds-join_columns", "idd")
    page.click("#register-form button[type=submit]")
    error = page.locator("#field-join_columns .field-error")
    expect(error).to_contain_text("no column idd")
    expect(page.locator("#ds-join_columns")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#ds-name")).to_have_value("mistyped")  # the form as it was typed
    assert page.locator(".field-error").count() == 1
    page.console_errors.clear()  # the browser reports the 422 answer itself
    assert all(d["dataset_id"] != "bank#mistyped" for d in b.admin.get("/datasets"))


def test_a_request_approved_on_the_partner_page_shows_approved_to_the_requester(
    page: Any, cluster: ConsoleCluster, sign_in: Any, shoot: Any
) -> None:
    a, b, expect = cluster.a, cluster.b, _expect()
    sign_in(page, a, "operator")
    page.goto(cluster.url(a, "/console/approvals"))
    expect(page.locator(f'#offered-{b.node_id} tr[data-offered="{OFFERED}"]')).to_be_visible()
    page.fill("#apply-peer", b.node_id)
    page.fill("#apply-dataset_id", OFFERED)
    page.fill("#apply-times", "2")
    page.click("#apply-submit")
    expect(page.locator(".flash-ok")).to_be_visible()
    [mine] = [r for r in a.admin.get("/audits", direction="OUTBOUND") if r["status"] == "APPLIED"]
    audit_id = mine["audit_id"]
    ours = page.locator(f'#approvals-out-table tr[data-audit="{audit_id}"]')
    expect(ours).to_have_attribute("data-status", "APPLIED")
    assert ours.locator("form.decide").count() == 0  # the requester never decides

    wait_until(lambda: _audit(b, audit_id) is not None, what="the request to reach B")
    sign_in(page, b, "approver")
    page.goto(cluster.url(b, "/console/approvals"))
    theirs = page.locator(f'#approvals-in-table tr[data-audit="{audit_id}"]')
    expect(theirs).to_contain_text(OFFERED)
    theirs.get_by_role("button", name=f"Approve request {audit_id}").click()
    theirs = page.locator(f'#approvals-in-table tr[data-audit="{audit_id}"]')
    expect(theirs).to_have_attribute("data-status", "APPROVED")
    permit = page.locator(f'#permits-table tr[data-audit="{audit_id}"]')
    expect(permit.locator(".uses")).to_have_text("0")
    assert_accessible(page)
    shoot(page, "approvals")

    def approved_on_a() -> bool:
        return (_audit(a, audit_id) or {}).get("status") == "APPROVED"

    wait_until(approved_on_a, what="B's confirm to reach A")
    sign_in(page, a, "operator")
    page.goto(cluster.url(a, "/console/approvals"))
    ours = page.locator(f'#approvals-out-table tr[data-audit="{audit_id}"]')
    expect(ours).to_have_attribute("data-status", "APPROVED")
    expect(ours).to_contain_text("2")


def test_a_forged_approve_by_an_operator_is_403_and_changes_nothing(
    page: Any, cluster: ConsoleCluster, sign_in: Any
) -> None:
    a, b, expect = cluster.a, cluster.b, _expect()
    body = {"resource_type": "DATASET", "peer_node_id": b.node_id,
            "fields": {"dataset_id": OFFERED}}  # fmt: skip
    audit_id = a.admin.post("/audits/apply", body)["audit_id"]
    wait_until(lambda: _audit(b, audit_id) is not None, what="the request to reach B")
    sign_in(page, b, "operator")
    page.goto(cluster.url(b, "/console/approvals"))
    row = page.locator(f'#approvals-in-table tr[data-audit="{audit_id}"]')
    expect(row).to_be_visible()
    assert row.locator("form.decide").count() == 0  # no button for an operator
    form = {"peer": a.node_id, "audit_id": audit_id}
    assert _forged_post(page, cluster.url(b, "/console/approvals/approve"), form) == 403
    assert (_audit(b, audit_id) or {})["status"] == "APPLIED"


def test_an_approver_never_decides_their_own_request(
    page: Any, cluster: ConsoleCluster, shoot: Any
) -> None:
    a, b, expect = cluster.a, cluster.b, _expect()
    made = b.admin.post("/tokens", {"name": "olga", "roles": ["operator", "approver"]})
    page.goto(cluster.url(b, "/console/login"))
    page.fill("#token", made["token"])
    page.click("#sign-in")
    page.goto(cluster.url(b, "/console/approvals"))
    page.fill("#grant-peer", a.node_id)
    page.fill("#grant-dataset_id", OFFERED)
    page.click("#grant-submit")
    expect(page.locator(".flash-ok")).to_be_visible()
    [grant] = [r for r in b.admin.get("/audits") if r["requested_by"] == "token:olga"]
    row = page.locator(f'#approvals-in-table tr[data-audit="{grant["audit_id"]}"]')
    expect(row.locator(".own")).to_be_visible()
    assert row.locator("form.decide").count() == 0
    page.select_option("#lang-select", "zh-CN")
    page.click('form[action="/console/lang"] button[type=submit]')
    expect(row.locator(".own")).to_contain_text("这是您自己发起的申请")
    shoot(page, "approvals-zh-CN")
    form = {"peer": a.node_id, "audit_id": grant["audit_id"]}
    assert _forged_post(page, cluster.url(b, "/console/approvals/approve"), form) == 403
    assert (_audit(b, grant["audit_id"]) or {})["status"] == "APPLIED"
