"""The Audit and Models pages through a real browser, on one node of the console's
cluster.

Audit: an auditor filters the trail, verifies the chain (the verdict is shown) and
downloads the signed export; a role without the right sees no menu entry or button and
gets 403 when it forges the request; a row edited in the store shows where the chain
breaks. Models: a finished job with an ``evaluate`` task (run by the real component on a
ten-row table) shows its metrics and pictures to an operator; the other roles see its
files' names and sizes only, and 403 for the files themselves.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from isthmus.testing.cluster import ProcessNode
from isthmus.testing.jobs import submit, wait_finished
from tests.console.conftest import ConsoleCluster, assert_accessible

pytestmark = pytest.mark.multinode

SignIn = Callable[[Any, ProcessNode, str], str]
Shoot = Callable[[Any, str], None]
PLOTS = ("roc", "ks", "lift", "score")


@pytest.fixture(scope="module")
def node(console_cluster: ConsoleCluster) -> ProcessNode:
    return console_cluster.a


@pytest.fixture(scope="module")
def evaluated(node: ProcessNode) -> str:
    """A finished job on ``node`` alone: the evaluate component on a scored table."""
    (node.home / "data" / "demo").mkdir(parents=True, exist_ok=True)
    rows = [(i % 2, round(0.1 + 0.08 * i + 0.3 * (i % 2), 4)) for i in range(10)]
    (node.home / "data" / "demo" / "scored.csv").write_text(
        "id,label,p\n" + "".join(f"u{i},{y},{p}\n" for i, (y, p) in enumerate(rows))
    )
    outputs = [{"key": "report", "type": "report"}] + [
        {"key": key, "type": "report"} for key in PLOTS
    ]
    job: dict[str, Any] = {
        "dag": {"components": [
            {"name": "evaluate_0", "componentName": "evaluate", "provider": "isthmus",
             "version": "0.1.0", "input": [], "output": outputs},
        ]},
        "config": {
            "initiator": {"role": "guest", "node_id": node.node_id},
            "role": {"guest": [node.node_id]},
            "task_params": {
                "common": {"evaluate_0": {"label_col": "label", "score_col": "p"}},
                "guest": {"0": {"evaluate_0": {"namespace": "demo", "name": "scored.csv"}}},
            },
        },
    }  # fmt: skip
    job_id = submit(node, job)
    assert wait_finished(node, job_id)["result"] == "SUCCESS"
    return job_id


@pytest.fixture
def rows_of() -> Callable[[Any], list[dict[str, str]]]:
    def read(page: Any) -> list[dict[str, str]]:
        return list(
            page.eval_on_selector_all(
                "#audit-trail tbody tr",
                "rows => rows.map(r => ({seq: r.dataset.seq,"
                " action: r.querySelector('.action').textContent,"
                " text: r.textContent}))",
            )
        )

    return read


def test_the_auditor_filters_verifies_and_exports(
    page: Any,
    console_cluster: ConsoleCluster,
    node: ProcessNode,
    sign_in: SignIn,
    shoot: Shoot,
    rows_of: Callable[[Any], list[dict[str, str]]],
) -> None:
    sign_in(page, node, "auditor")
    auditor, _ = console_cluster.token(node, "auditor")
    page.click('[data-nav="audit"]')
    page.wait_for_url(console_cluster.url(node, "/console/audit"))
    assert_accessible(page)
    assert len(rows_of(page)) >= 2  # at least the tokens made for this test

    page.fill("#f-action", "token.created")
    page.fill("#f-subject", auditor)
    page.click("#audit-filter")
    page.wait_for_url("**/console/audit?*")
    shown = rows_of(page)
    assert [r["action"] for r in shown] == ["token.created"]  # this token's creation only
    assert auditor in shown[0]["text"] and "token:root" in shown[0]["text"]

    page.click("#audit-verify")  # the verdict above the same filtered trail
    verdict = page.locator("#audit-verdict")
    assert verdict.get_attribute("data-ok") == "1"
    assert "The chain is intact." in verdict.inner_text()
    assert [r["action"] for r in rows_of(page)] == ["token.created"]

    page.fill("#f-since", "2000-01-01T00:00")
    page.fill("#f-until", "2000-01-02T00:00")
    page.click("#audit-filter")
    page.locator("#audit-empty").wait_for()  # nothing happened on 1 January 2000
    assert page.locator("#audit-verdict").count() == 0

    page.click("text=Clear the filters")
    page.click("#audit-verify")
    page.locator("#audit-verdict").wait_for()
    shoot(page, "audit")

    with page.expect_download() as info:
        page.click("#audit-export")
    download = info.value
    assert download.suggested_filename.startswith(f"audit-{node.node_id}-")
    lines = Path(download.path()).read_text(encoding="utf-8").splitlines()
    trailer = json.loads(lines[-1])
    assert trailer["head"]["seq"] == len(lines) - 1 and trailer["signature"]
    assert json.loads(lines[0])["seq"] == 1


def test_no_other_role_sees_or_reaches_the_audit_trail(
    page: Any, console_cluster: ConsoleCluster, node: ProcessNode, sign_in: SignIn
) -> None:
    for role in ("operator", "admin", "approver"):
        page.context.clear_cookies()
        sign_in(page, node, role)
        assert page.locator("[data-nav=models]").count() == 1
        assert page.locator("[data-nav=audit]").count() == 0, role
        for path in ("/console/audit", "/console/audit/verify", "/console/audit/export"):
            forged = page.request.get(console_cluster.url(node, path))
            assert forged.status == 403, (role, path)
            assert "token.created" not in forged.text()


def test_models_show_an_evaluation_to_operators_and_only_file_names_to_others(
    page: Any,
    console_cluster: ConsoleCluster,
    node: ProcessNode,
    evaluated: str,
    sign_in: SignIn,
    shoot: Shoot,
) -> None:
    sign_in(page, node, "operator")
    page.click('[data-nav="models"]')
    page.wait_for_url(console_cluster.url(node, "/console/models"))
    assert_accessible(page)
    job = page.locator(f'section[data-job="{evaluated}"]')
    auc = job.locator('tr[data-metric="auc"] td').inner_text()
    assert auc == "0.88"  # 22 of the 25 pairs in order (as tests/components say)
    assert job.locator('tr[data-metric="rows"] td').inner_text() == "10"
    pictures = job.locator("img.plot")
    assert pictures.count() == len(PLOTS)
    page.wait_for_function(
        "() => [...document.querySelectorAll('img.plot')].every(i => i.complete)"
    )
    widths = page.eval_on_selector_all("img.plot", "imgs => imgs.map(i => i.naturalWidth)")
    assert widths == [640] * len(PLOTS)
    shoot(page, "models")

    report = job.locator('tr[data-key="report"] a.download')
    with page.expect_download() as info:
        report.click()
    assert json.loads(Path(info.value.path()).read_text())["metrics"]["auc"] == 0.88

    picture = console_cluster.url(node, f"/console/models/{evaluated}/evaluate_0/roc")
    for bad in ("..", "a%2F..%2Fb"):  # a bad id is refused, never a path
        assert page.request.get(picture.replace("/roc", f"/{bad}")).status in (400, 404, 422)
    page.context.clear_cookies()
    sign_in(page, node, "auditor")
    page.goto(console_cluster.url(node, "/console/models"))
    job = page.locator(f'section[data-job="{evaluated}"]')
    assert job.locator('tr[data-key="roc"]').count() == 1  # its name and size...
    assert job.locator("img.plot, a.download, tr[data-metric]").count() == 0  # ...only
    assert page.locator("#models-readonly").count() == 1
    assert page.request.get(picture).status == 403


def test_a_tampered_chain_shows_where_it_breaks(
    page: Any, console_cluster: ConsoleCluster, node: ProcessNode, sign_in: SignIn
) -> None:
    """An event edited in the store (as ``tests/cli`` does) breaks the chain at its seq;
    put back, the chain is whole again (the module's other tests see it whole)."""
    sign_in(page, node, "auditor")
    with _edited(node.home / "isthmus.db", seq=1):
        page.goto(console_cluster.url(node, "/console/audit/verify"))
        verdict = page.locator("#audit-verdict")
        assert verdict.get_attribute("data-ok") == "0"
        assert "It breaks at seq 1." in verdict.inner_text()
        assert "does not match its hash" in verdict.inner_text()
    page.select_option("#lang-select", "zh-CN")  # and in Chinese
    page.click("#lang-select ~ button")
    page.wait_for_function("document.documentElement.lang === 'zh-CN'")
    page.goto(console_cluster.url(node, "/console/audit/verify"))
    assert page.locator("#audit-verdict").get_attribute("data-ok") == "1"
    assert "哈希链完整" in page.locator("#audit-verdict").inner_text()
    assert page.locator("#audit-verify").inner_text() == "校验哈希链"


class _edited:
    """An audit event's details changed in the database, and put back."""

    def __init__(self, db: Path, seq: int) -> None:
        self.db, self.seq = db, seq
        self.before: str | None = None

    def __enter__(self) -> None:
        with sqlite3.connect(self.db) as conn:
            (self.before,) = conn.execute(
                "SELECT details FROM audit_events WHERE seq = ?", (self.seq,)
            ).fetchone()
            conn.execute("UPDATE audit_events SET details = '{}' WHERE seq = ?", (self.seq,))

    def __exit__(self, *exc: object) -> None:
        with sqlite3.connect(self.db) as conn:
            conn.execute(
                "UPDATE audit_events SET details = ? WHERE seq = ?", (self.before, self.seq)
            )
