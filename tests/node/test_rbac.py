"""Roles on the admin API: each role does its duty and nothing else, an approver never
decides their own request, only auditors read the audit log, and every decision is in
the audit log under the name of the token that made it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from isthmus.node.admin_client import AdminApiError, AdminClient
from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.testing.cluster import wait_until
from tests.scheduler.jobs_support import write_dataset

pytestmark = pytest.mark.multinode

Pair = tuple[ProcessNode, ProcessNode, dict[str, AdminClient]]


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    with ProcessCluster() as cluster:
        a, b = cluster.start(2)
        cluster.connect(a, b)
        clients = {}
        for name, roles in (
            ("ops-ann", ["operator"]),
            ("appr-bo", ["approver"]),
            ("aud-cy", ["auditor"]),
            ("adm-di", ["admin"]),
            ("both-ed", ["operator", "approver"]),
        ):
            token = b.admin.post("/tokens", {"name": name, "roles": roles})["token"]
            clients[name] = AdminClient(b.config.admin_url, token)
        svc = b.admin.post("/tokens", {"name": "ci-bot", "roles": ["operator"], "service": True})
        clients["ci-bot"] = AdminClient(b.config.admin_url, svc["token"])
        write_dataset(b, "t.csv", list(range(10)), "y")
        yield a, b, clients


def forbidden(call: object) -> str:
    with pytest.raises(AdminApiError) as error:
        call()  # type: ignore[operator]
    assert error.value.node_code == 20102, error.value.message
    return error.value.message


def register(client: AdminClient, b: ProcessNode, name: str) -> object:
    return client.post(
        "/datasets",
        {"namespace": "demo", "name": name, "source": "csv",
         "location": str(b.home / "data" / "demo" / "t.csv")},
    )  # fmt: skip


def test_each_role_does_its_duty_and_nothing_else(pair: Pair) -> None:
    _, b, c = pair
    register(c["ops-ann"], b, "ds1")
    message = forbidden(lambda: register(c["appr-bo"], b, "ds2"))
    assert "appr-bo (approver) may not POST /admin/v1/datasets: it takes operator" in message
    forbidden(lambda: register(c["aud-cy"], b, "ds2"))
    forbidden(lambda: register(c["adm-di"], b, "ds2"))
    forbidden(lambda: c["ops-ann"].post("/tokens", {"name": "x", "roles": ["admin"]}))
    for name in ("ops-ann", "appr-bo", "aud-cy", "adm-di"):  # every role reads lists
        assert any(d["dataset_id"] == "demo#ds1" for d in c[name].get("/datasets"))


def test_only_auditors_read_the_audit_log(pair: Pair) -> None:
    _, _, c = pair
    events = c["aud-cy"].get("/audit", limit=1000)
    assert any(e["action"] == "token.created" for e in events)
    assert c["aud-cy"].get("/audit/verify")["ok"] is True
    for name in ("ops-ann", "appr-bo", "adm-di", "ci-bot"):
        forbidden(lambda name=name: c[name].get("/audit"))


def test_an_approver_never_decides_their_own_request(pair: Pair) -> None:
    a, b, c = pair
    register(c["ops-ann"], b, "ds3")
    grant = {"peer_node_id": a.node_id, "resource_type": "DATASET", "resource_id": "demo#ds3"}
    own = c["both-ed"].post("/audits/grant", grant)
    message = forbidden(
        lambda: c["both-ed"].post(f"/audits/{a.node_id}/{own['audit_id']}/approve", {})
    )
    assert "token:both-ed made request" in message and "another approver" in message
    forbidden(lambda: c["ops-ann"].post(f"/audits/{a.node_id}/{own['audit_id']}/approve", {}))
    decided = c["appr-bo"].post(f"/audits/{a.node_id}/{own['audit_id']}/approve", {})
    assert decided["status"] == "APPROVED" and decided["decided_by"] == "token:appr-bo"
    assert decided["requested_by"] == "token:both-ed"
    events = c["aud-cy"].get("/audit", limit=1000, action="audit.approved")
    assert any(e["actor"] == "token:appr-bo" for e in events)


def test_partner_requests_are_decided_by_approvers(pair: Pair) -> None:
    a, b, c = pair
    register(c["ops-ann"], b, "ds4")
    applied = a.admin.post(
        "/audits/apply",
        {"resource_type": "DATASET", "peer_node_id": b.node_id,
         "fields": {"dataset_id": "demo#ds4"}},
    )  # fmt: skip
    wait_until(lambda: any(x["audit_id"] == applied["audit_id"] for x in b.admin.get("/audits")))
    path = f"/audits/{a.node_id}/{applied['audit_id']}/reject"
    forbidden(lambda: c["ops-ann"].post(path, {"reason": "no"}))
    rejected = c["appr-bo"].post(path, {"reason": "not for this purpose"})
    assert rejected["status"] == "REJECTED" and rejected["reason"] == "not for this purpose"


def test_tokens_are_shown_once_listed_without_secret_and_revocable(pair: Pair) -> None:
    _, b, c = pair
    listed = {t["name"]: t for t in c["adm-di"].get("/tokens")}
    assert listed["ci-bot"]["service"] is True and listed["ops-ann"]["roles"] == ["operator"]
    assert all("token" not in t for t in listed.values())
    made = c["adm-di"].post("/tokens", {"name": "temp", "roles": ["auditor"]})
    temp = AdminClient(b.config.admin_url, made["token"])
    assert temp.get("/audit/verify")["ok"] is True
    c["adm-di"].post("/tokens/temp/revoke", {})
    with pytest.raises(AdminApiError) as error:
        temp.get("/datasets")
    assert error.value.node_code == 20101
    with pytest.raises(AdminApiError) as error:
        c["adm-di"].post("/tokens", {"name": "x", "roles": ["superuser"]})
    assert "roles" in error.value.message
