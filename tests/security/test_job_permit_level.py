"""Issue #12, item 8 (the permit-level part): a permit's level (1 a dataset or model,
2 a flow or job, 3 a project) must match the resource it is counted for. The victim
counts a permit only when the level it is presented at is the level it was granted at
and that level is its resource's kind; a project permit covers only the datasets the
project lists; a dataset permit never stands for a job's approval. Every refusal
happens at ``job/create``: no job, no ``permit.used`` entry, nothing counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from isthmus.store import Store
from isthmus.store.schema import AuditRow
from isthmus.testing import ProcessNode
from isthmus.testing.cluster import wait_until
from isthmus.wire import paths
from isthmus.wire.mprac import ResourceType, TokenRef, format_token_set
from tests.security.sched_support import (
    Pair,
    as_partner,
    events_about,
    jobs_on,
    pair,
    register_dataset,
    select_job,
)

pytestmark = pytest.mark.multinode


def granted(a: ProcessNode, b: ProcessNode, kind: str, fields: dict[str, Any]) -> str:
    """A asks B for a resource, B approves; the permit's token as A keeps it."""
    applied = a.admin.post(
        "/audits/apply", {"resource_type": kind, "peer_node_id": b.node_id, "fields": fields}
    )
    audit_id = applied["audit_id"]
    wait_until(
        lambda: any(x["audit_id"] == audit_id for x in b.admin.get("/audits", status="APPLIED")),
        what="B sees the request",
    )
    b.admin.post(f"/audits/{a.node_id}/{audit_id}/approve", {})
    wait_until(
        lambda: any(
            x["audit_id"] == audit_id and x["status"] == "APPROVED"
            for x in a.admin.get("/audits", direction="OUTBOUND")
        ),
        what="A learns of the approval",
    )
    store = Store(a.config.store_url)
    try:
        with store.session() as s:
            row = s.query(AuditRow).filter_by(audit_id=audit_id).one()
            return str(json.loads(row.permit or "{}")["token"])
    finally:
        store.dispose()


def job_reading(a: ProcessNode, b: ProcessNode, job_id: str, name: str) -> dict[str, Any]:
    return select_job(
        job_id, a.node_id, {"guest": [a.node_id], "host": [b.node_id]},
        {"guest": {"namespace": "x", "name": "y"}, "host": {"namespace": "bank", "name": name}},
    )  # fmt: skip


def create_with(nodes: Pair, job: dict[str, Any], *refs: TokenRef) -> dict[str, Any]:
    a, b = nodes
    header = {"x-mprac-token-set": format_token_set(list(refs))}
    return as_partner(a, b, paths.JOB_CREATE, job, header)


def refused_and_nothing_counted(nodes: Pair, answer: dict[str, Any], job_id: str) -> str:
    _, b = nodes
    assert answer.get("code") == 10002, answer
    assert job_id not in jobs_on(b)
    assert not {"job.created", "permit.used"} & set(events_about(b, job_id))
    return str(answer["msg"])


@pytest.fixture(scope="module")
def nodes() -> Iterator[tuple[ProcessNode, ProcessNode, str]]:
    with pair() as (a, b):
        for name in ("listed", "unlisted"):
            register_dataset(b, "bank", name, [f"{i},{name}" for i in range(3)])
        project = {"project_id": "proj-1", "datasets": [{"dataset_id": "bank#listed"}]}
        yield a, b, granted(a, b, "PROJECT", project)


def test_a_project_permit_does_not_cover_a_dataset_the_project_does_not_list(
    nodes: tuple[ProcessNode, ProcessNode, str],
) -> None:
    a, b, token = nodes
    job_id = "job-unlisted"
    job = job_reading(a, b, job_id, "unlisted")
    as_project = TokenRef(b.node_id, ResourceType.PROJECT, "proj-1", 3, token)
    as_dataset = TokenRef(b.node_id, ResourceType.DATASET, "bank#unlisted", 3, token)
    for ref in (as_project, as_dataset):
        message = refused_and_nothing_counted((a, b), create_with((a, b), job, ref), job_id)
        assert "bank#unlisted" in message


def test_a_permit_presented_at_another_level_than_granted_counts_for_nothing(
    nodes: tuple[ProcessNode, ProcessNode, str],
) -> None:
    a, b, token = nodes
    job_id = "job-relevelled"
    job = job_reading(a, b, job_id, "listed")
    relevelled = TokenRef(b.node_id, ResourceType.PROJECT, "proj-1", 1, token)
    message = refused_and_nothing_counted((a, b), create_with((a, b), job, relevelled), job_id)
    assert "was presented at level 1, granted at 3" in message
    # at its own level, the same permit lets the job in: the refusal was the level's
    right = TokenRef(b.node_id, ResourceType.PROJECT, "proj-1", 3, token)
    assert "ok" in create_with((a, b), {**job, "job_id": "job-right-level"}, right)


def test_a_dataset_permit_is_no_approval_of_a_job() -> None:
    with pair({"ISTHMUS_MANAGEMENT__REQUIRE_APPROVAL": '["job"]'}) as (a, b):
        register_dataset(b, "bank", "listed", ["1,a"])
        token = granted(a, b, "DATASET", {"dataset_id": "bank#listed"})
        job_id = "job-needs-approval"
        job = job_reading(a, b, job_id, "listed")
        data = TokenRef(b.node_id, ResourceType.DATASET, "bank#listed", 1, token)
        for level in (1, 2):
            as_job = TokenRef(b.node_id, ResourceType.JOB, job_id, level, token)
            message = refused_and_nothing_counted((a, b), create_with((a, b), job, data, as_job),
                                                  job_id)  # fmt: skip
            assert "config.job_id" in message or "job_id" in message
            assert f"job {job_id}" in message
