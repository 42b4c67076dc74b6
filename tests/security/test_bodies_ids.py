"""Issue #12, item 6 (ids in documents): ids chosen by a partner or a local user become
file names, environment variables and rows, so every one is checked against the one id
pattern before anything else sees it.

Against real node processes: a partner's ``job/create`` and a user's submission whose
DAG carries ``../x``, ``/abs``, a NUL and a 10 000-character id are refused with every
offending field named; no job is recorded and nothing appears beside the node's home. The
management and admin APIs refuse the same ids in dataset, audit, project, peer, session
and component fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.wire import paths
from isthmus.wire.errors import ErrorCode
from tests.scheduler.jobs_support import psi_pipeline
from tests.security.files_support import admin_raw, healthy, signed_raw

pytestmark = pytest.mark.multinode

Pair = tuple[ProcessNode, ProcessNode]
LONG = "x" * 10_000


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    with ProcessCluster() as cluster:
        a, b = cluster.start(2)
        cluster.connect(a, b)
        yield a, b


def hostile_job(a: ProcessNode, b: ProcessNode) -> dict[str, Any]:
    job = psi_pipeline(a.node_id, b.node_id)
    job["job_id"] = "../x"
    job["flow_id"] = "/abs"
    components = job["dag"]["components"]
    components[1]["name"] = "/abs"
    components[2]["name"] = "a\x00b"
    components[3]["name"] = LONG
    components[0]["output"][0]["key"] = "../out"
    job["config"]["role"]["host"] = [b.node_id, "../../etc"]
    job["config"]["task_params"]["host"]["0"]["psi_0"] = {"dataset_id": "../x#/abs"}
    job["config"]["task_params"]["guest"]["0"]["psi_0"] = {"namespace": "/abs", "name": LONG}
    return job


EXPECTED_FIELDS = {
    "job_id",
    "flow_id",
    "dag.components[1].name",
    "dag.components[2].name",
    "dag.components[3].name",
    "dag.components[0].output[0].key",
    "config.role.host[1]",
    "config.task_params.host.0.psi_0.dataset_id",
    "config.task_params.guest.0.psi_0.namespace",
    "config.task_params.guest.0.psi_0.name",
}


def problems(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text[:1000]
    envelope = response.json()
    assert envelope["code"] == ErrorCode.VALIDATION_FAILED
    assert LONG not in response.text  # a refusal does not echo a huge id
    return {p["field"] for p in envelope["data"]["problems"]}


def beside_home(node: ProcessNode) -> set[str]:
    return {p.name for p in node.home.parent.iterdir()}


def test_a_partners_job_with_bad_ids_is_refused_naming_each_field(pair: Pair) -> None:
    a, b = pair
    before = beside_home(b)
    body = json.dumps(hostile_job(a, b)).encode()
    for path in (paths.JOB_CREATE, paths.JOB_CREATE_ALL):
        found = problems(signed_raw(a, b, path, body))
        assert found >= EXPECTED_FIELDS, sorted(EXPECTED_FIELDS - found)
    assert not b.admin.get(paths.PLATFORM_JOB_LIST)["job_list"]
    assert beside_home(b) == before
    assert not (b.home / "jobs").exists() or not any((b.home / "jobs").iterdir())
    assert healthy(b)


def test_a_users_submission_with_bad_ids_is_refused_naming_each_field(pair: Pair) -> None:
    a, b = pair
    before = beside_home(a)
    body = json.dumps(hostile_job(a, b)).encode()
    found = problems(admin_raw(a, "POST", paths.PLATFORM_JOB_CREATE_ALL, body))
    assert found >= EXPECTED_FIELDS, sorted(EXPECTED_FIELDS - found)
    assert not a.admin.get(paths.PLATFORM_JOB_LIST)["job_list"]
    assert beside_home(a) == before
    assert healthy(a)


@pytest.mark.parametrize("bad", ["../x", "/abs", "a\x00b", LONG])
def test_management_and_admin_ids_are_refused(pair: Pair, bad: str) -> None:
    a, b = pair

    def refused(response: httpx.Response) -> None:
        assert response.status_code == 422, response.text[:500]
        assert response.json()["code"] == ErrorCode.VALIDATION_FAILED
        assert LONG not in response.text

    # A partner's dataset, project and audit ids.
    for path, field in (
        ("/v1/interconn/dataset/audit/apply", "dataset_id"),
        ("/v1/interconn/project/audit/apply", "project_id"),
        ("/v1/interconn/dataset/audit/apply", "audit_id"),
    ):
        fields = {"audit_id": "audit-1", "dataset_id": "bank#t", "project_id": "p1"}
        fields[field] = bad
        refused(signed_raw(a, b, path, json.dumps(fields).encode()))
    # A local user's.
    for path, body in (
        ("/admin/v1/datasets",
         {"namespace": bad, "name": "t", "source": "csv", "location": "t.csv"}),
        ("/admin/v1/datasets",
         {"namespace": "n", "name": bad, "source": "csv", "location": "t.csv"}),
        ("/admin/v1/audits/grant",
         {"peer_node_id": bad, "resource_type": "DATASET", "resource_id": "bank#t"}),
        ("/admin/v1/audits/grant",
         {"peer_node_id": a.node_id, "resource_type": "DATASET", "resource_id": bad}),
        ("/admin/v1/audits/apply",
         {"resource_type": "DATASET", "peer_node_id": bad, "fields": {}}),
        ("/admin/v1/transport/sessions", {"session_id": bad, "token": "t"}),
        ("/admin/v1/components/state",
         {"componentName": bad, "provider": "isthmus", "version": "0.1.0", "state": "ENABLED"}),
    ):  # fmt: skip
        refused(admin_raw(b, "POST", path, json.dumps(body).encode()))
    if "/" not in bad:  # a path segment cannot hold a slash at all
        segment = quote(bad, safe="")
        refused(admin_raw(b, "POST", f"/admin/v1/audits/{a.node_id}/{segment}/approve", b"{}"))
        refused(admin_raw(b, "POST", f"/admin/v1/transport/sessions/{segment}/release", b""))
    refused(admin_raw(b, "GET", "/admin/v1/datasets/one", dataset_id=f"{bad}#t"))
    assert all(d["namespace"] != bad for d in b.admin.get("/datasets"))
    assert healthy(b)
