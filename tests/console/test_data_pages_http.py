"""The Datasets and Approvals pages' server-side checks, without a browser, on two
in-process nodes: a forged decision (valid CSRF, a role the policy does not allow) is
403 and changes nothing; a decision without the CSRF token is 403 and changes nothing;
an approver deciding their own request is refused (403, as the API refuses it) and is
never offered the button; the registration form's refusals land on their field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from isthmus.console import i18n
from isthmus.console.approvals_data import permits
from isthmus.console.session import COOKIE
from isthmus.testing.inprocess import InProcessCluster, InProcessNode
from isthmus.wire.clock import now_ms

pytestmark = pytest.mark.anyio
DATASET = "bank#customers"


@dataclass
class Pair:
    a: InProcessNode
    b: InProcessNode
    audit_id: str  # A's request for B's dataset, APPLIED on B


async def _session(
    node: InProcessNode, name: str, roles: list[str]
) -> tuple[httpx.AsyncClient, str]:
    """A console session of a new named token with ``roles``: (client, csrf)."""
    await node.admin_call("POST", "/tokens", {"name": name, "roles": roles})
    sid, session = node.admin_app.state.console.sessions.create(name)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=node.admin_app),
        base_url="http://admin.local",
        cookies={COOKIE: sid},
    )
    return client, session.csrf


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    async with InProcessCluster() as cluster:
        a, b = await cluster.start(2)
        await cluster.connect(a, b)
        source = b.ctx.config.home / "data" / "customers.csv"
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text("id,balance\n1,2.5\n2,3.5\n")
        body = {"namespace": "bank", "name": "customers", "source": "csv",
                "location": str(source)}  # fmt: skip
        await b.admin_call("POST", "/datasets", body)
        view = await a.admin_call(
            "POST",
            "/audits/apply",
            {"resource_type": "DATASET", "peer_node_id": b.node_id,
             "fields": {"dataset_id": DATASET}},
        )  # fmt: skip
        await a.ctx.outbox.deliver_due()
        yield Pair(a, b, str(view["audit_id"]))


def _status(node: InProcessNode, audit_id: str) -> str:
    [row] = [r for r in node.ctx.approvals.approvals() if r["audit_id"] == audit_id]
    return str(row["status"])


async def test_a_forged_decision_is_refused_and_changes_nothing(pair: Pair) -> None:
    operator, csrf = await _session(pair.b, "olivia", ["operator"])
    async with operator:
        page = await operator.get("/console/approvals")
        assert page.status_code == 200 and pair.audit_id in page.text
        assert "/console/approvals/approve" not in page.text  # no button for an operator
        forged = {"csrf": csrf, "peer": pair.a.node_id, "audit_id": pair.audit_id}
        answer = await operator.post("/console/approvals/approve", data=forged)
    assert answer.status_code == 403
    assert _status(pair.b, pair.audit_id) == "APPLIED"


async def test_a_decision_without_the_csrf_token_changes_nothing(pair: Pair) -> None:
    approver, csrf = await _session(pair.b, "abby", ["approver"])
    async with approver:
        page = await approver.get("/console/approvals")
        assert "/console/approvals/approve" in page.text  # the approver has the button
        target = {"peer": pair.a.node_id, "audit_id": pair.audit_id}
        for wrong in ({}, {"csrf": csrf[:-1] + ("A" if csrf[-1] != "A" else "B")}):
            answer = await approver.post("/console/approvals/approve", data=target | wrong)
            assert answer.status_code == 403
        assert _status(pair.b, pair.audit_id) == "APPLIED"
        bad = target | {"csrf": csrf, "times": "x"}
        assert (await approver.post("/console/approvals/approve", data=bad)).status_code == 422
        assert _status(pair.b, pair.audit_id) == "APPLIED"
        narrowed = target | {"csrf": csrf, "times": "1"}
        done = await approver.post("/console/approvals/approve", data=narrowed)
    assert done.status_code == 303
    assert _status(pair.b, pair.audit_id) == "APPROVED"
    [permit] = permits(pair.b.ctx, now_ms())
    assert (permit.times_limit, permit.time_limit, permit.state) == (1, -1, "active")


async def test_nobody_decides_their_own_request(pair: Pair) -> None:
    both, csrf = await _session(pair.b, "olga", ["operator", "approver"])
    async with both:
        asked = {"csrf": csrf, "peer": pair.a.node_id, "dataset_id": DATASET}
        assert (await both.post("/console/approvals/grant", data=asked)).status_code == 303
        [grant] = [r for r in pair.b.ctx.approvals.approvals() if r["requested_by"] == "token:olga"]
        page = (await both.get("/console/approvals")).text
        row = page[page.index(f'data-audit="{grant["audit_id"]}"') :]
        row = row[: row.index("</tr>")]
        assert "/console/approvals/approve" not in row and "own" in row
        forged = {"csrf": csrf, "peer": pair.a.node_id, "audit_id": grant["audit_id"]}
        answer = await both.post("/console/approvals/approve", data=forged)
    assert answer.status_code == 403
    assert _status(pair.b, grant["audit_id"]) == "APPLIED"


async def test_a_refused_registration_shows_the_error_at_its_field(pair: Pair) -> None:
    operator, csrf = await _session(pair.b, "otto", ["operator"])
    source = pair.b.ctx.config.home / "data" / "customers.csv"
    form = {"csrf": csrf, "namespace": "bank", "name": "again", "source": "csv",
            "location": str(source), "join_columns": "nope", "public": "on"}  # fmt: skip
    async with operator:
        answer = await operator.post("/console/datasets/register", data=form)
        assert answer.status_code == 422
        assert 'id="ds-join_columns-error"' in answer.text and "no column nope" in answer.text
        answer = await operator.post("/console/datasets/register", data=form | {"namespace": "a b"})
        assert answer.status_code == 422 and 'id="ds-namespace-error"' in answer.text
        answer = await operator.post(
            "/console/datasets/register", data=form | {"join_columns": "id"}
        )
        assert answer.status_code == 303
    assert pair.b.ctx.datasets.get("bank#again") is not None


async def test_both_pages_speak_both_languages_and_remove_takes_the_dataset_away(
    pair: Pair,
) -> None:
    operator, csrf = await _session(pair.b, "ona", ["operator"])
    async with operator:
        operator.cookies.set(i18n.COOKIE, "zh-CN")
        datasets = (await operator.get("/console/datasets")).text
        approvals = (await operator.get("/console/approvals")).text
        assert "<title>数据集" in datasets and "登记数据集" in datasets
        assert "<title>审批" in approvals and "申请合作方的数据集" in approvals
        form = {"csrf": csrf, "dataset_id": DATASET}
        answer = await operator.post("/console/datasets/remove", data=form)
        assert answer.status_code == 303
        assert "数据集 bank#customers 已移除" in (await operator.get("/console/datasets")).text
    assert pair.b.ctx.datasets.get(DATASET) is None


async def test_an_operator_sees_the_partners_datasets_and_requests_one(pair: Pair) -> None:
    operator, csrf = await _session(pair.a, "oscar", ["operator"])
    async with operator:
        page = (await operator.get("/console/approvals")).text
        assert f'data-offered="{DATASET}"' in page
        form = {"csrf": csrf, "kind": "apply", "peer": pair.b.node_id, "dataset_id": DATASET}
        assert (await operator.post("/console/approvals/apply", data=form)).status_code == 303
        assert (
            await operator.post("/console/approvals/sync", data={"csrf": csrf})
        ).status_code == 303
    mine = [r for r in pair.a.ctx.approvals.approvals() if r["requested_by"] == "token:oscar"]
    assert [(r["direction"], r["resource_id"]) for r in mine] == [("OUTBOUND", DATASET)]
