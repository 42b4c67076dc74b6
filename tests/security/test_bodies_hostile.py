"""Issue #12, item 8 (bodies): deeply nested, huge and pathological JSON against real
node processes.

A contracted partner (signed ``job/create``, ``dataset/audit/apply``), a local user
(admin ``job/create_all``) and a local component (the transport's JSON push) each send
JSON nested 100 000 deep, a body over the limit, and a DAG of 3 000 components or a
1 000-component cycle. Each gets a clear 4xx refusal in the envelope (the transport: a
refusal code in its reply), nothing is created, and the node stays healthy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from isthmus.node.admin_client import AdminApiError
from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.wire import paths, ptp
from isthmus.wire.errors import ErrorCode
from tests.scheduler.jobs_support import psi_pipeline
from tests.security.files_support import admin_raw, healthy, signed_raw

pytestmark = pytest.mark.multinode

Pair = tuple[ProcessNode, ProcessNode]
DEPTH = 100_000
SESSION, TOKEN = "session_hostile-bodies", "token-hostile"


def deep(inner: bytes = b"[" * DEPTH + b"]" * DEPTH) -> bytes:
    """A job document whose DAG is one array nested ``DEPTH`` levels."""
    return b'{"job_id":"job-deep","dag":' + inner + b',"config":{}}'


def chain(n: int, *, cyclic: bool) -> list[dict[str, Any]]:
    """``n`` components each reading the one before; the first reads the last if
    ``cyclic``."""
    return [
        {"name": f"c{i}", "componentName": "summary_stats", "provider": "isthmus",
         "version": "0.1.0",
         "input": [{"type": "dataset", "key": f"c{(i - 1) % n}.out"}] if i or cyclic else [],
         "output": [{"type": "dataset", "key": "out"}]}
        for i in range(n)
    ]  # fmt: skip


def job_with(a: ProcessNode, b: ProcessNode, components: list[dict[str, Any]]) -> bytes:
    job = psi_pipeline(a.node_id, b.node_id)
    job["dag"]["components"] = components
    job["config"]["task_params"] = {}
    return json.dumps(job).encode()


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    with ProcessCluster() as cluster:
        a, b = cluster.start(2)
        cluster.connect(a, b)
        for node in (a, b):
            node.admin.post("/transport/sessions", {"session_id": SESSION, "token": TOKEN})
        yield a, b


def refusal(response: httpx.Response, status: int, code: int) -> str:
    assert response.status_code == status, response.text[:500]
    envelope = response.json()
    assert envelope["code"] == code, envelope
    return str(envelope["msg"])


def no_jobs(node: ProcessNode) -> None:
    listed = node.admin.get(paths.PLATFORM_JOB_LIST)
    assert not listed["job_list"], listed


def test_a_partners_deep_json_is_refused_before_parsing(pair: Pair) -> None:
    a, b = pair
    for path in (paths.JOB_CREATE, paths.JOB_CREATE_ALL, "/v1/interconn/dataset/audit/apply"):
        message = refusal(signed_raw(a, b, path, deep()), 422, ErrorCode.VALIDATION_FAILED)
        assert "nested deeper than" in message
    # A deep value in an otherwise valid-looking body, and deep objects, the same.
    nested_objects = b'{"a":' * DEPTH + b"1" + b"}" * DEPTH
    refusal(signed_raw(a, b, paths.JOB_CREATE, nested_objects), 422, ErrorCode.VALIDATION_FAILED)
    no_jobs(b)
    assert healthy(b)


def test_a_partners_huge_body_is_refused(pair: Pair) -> None:
    a, b = pair
    limit = b.config.interconn.max_body_bytes
    huge = b'{"job_id":"job-huge","pad":"' + b"x" * limit + b'"}'
    refusal(signed_raw(a, b, paths.JOB_CREATE, huge), 413, ErrorCode.PAYLOAD_TOO_LARGE)
    no_jobs(b)
    assert healthy(b)


def test_a_local_users_deep_and_huge_submissions_are_refused(pair: Pair) -> None:
    a, _ = pair
    message = refusal(
        admin_raw(a, "POST", paths.PLATFORM_JOB_CREATE_ALL, deep()),
        422,
        ErrorCode.VALIDATION_FAILED,
    )
    assert "nested deeper than" in message
    # Routes with a body model read their JSON through the same bounded reader.
    refusal(admin_raw(a, "POST", "/admin/v1/datasets", deep()), 422, ErrorCode.VALIDATION_FAILED)
    huge = b'{"pad":"' + b"x" * (2 * 1024 * 1024) + b'"}'
    refusal(
        admin_raw(a, "POST", paths.PLATFORM_JOB_CREATE_ALL, huge), 413, ErrorCode.PAYLOAD_TOO_LARGE
    )
    no_jobs(a)
    assert healthy(a)


def test_huge_and_cyclic_dags_get_an_answer_naming_the_problem(pair: Pair) -> None:
    a, b = pair
    big_cycle = job_with(a, b, chain(3000, cyclic=True))
    message = refusal(
        admin_raw(a, "POST", paths.PLATFORM_JOB_CREATE_ALL, big_cycle),
        422,
        ErrorCode.VALIDATION_FAILED,
    )
    assert "dag.components: 3000 components is over the limit" in message
    long_cycle = job_with(a, b, chain(1000, cyclic=True))
    message = refusal(
        admin_raw(a, "POST", paths.PLATFORM_JOB_CREATE_ALL, long_cycle),
        422,
        ErrorCode.VALIDATION_FAILED,
    )
    assert "dag.components: inputs form a cycle of 1000: c0 <- c999" in message
    # The same from a partner, at job/create.
    created = json.loads(long_cycle)
    created["job_id"] = "job-cycle"
    message = refusal(
        signed_raw(a, b, paths.JOB_CREATE, json.dumps(created).encode()),
        422,
        ErrorCode.VALIDATION_FAILED,
    )
    assert "inputs form a cycle" in message
    no_jobs(a)
    no_jobs(b)
    assert healthy(a) and healthy(b)


def test_a_components_deep_json_push_is_refused_and_not_delivered(pair: Pair) -> None:
    """The south-north JSON form (``application/json`` with a base64 payload)."""
    a, b = pair
    headers = {
        "content-type": "application/json",
        "x-ptp-session-id": SESSION,
        "x-ptp-token": TOKEN,
        "x-ptp-topic": "hostile",
        "x-ptp-target-node-id": b.node_id,
        "x-ptp-source-node-id": a.node_id,
    }
    base = "http://" + a.config.transport_address + "/v1/interconn/chan"
    body = b'{"topic":"hostile","payload":"eA==","x":' + b"[" * DEPTH + b"]" * DEPTH + b"}"
    with httpx.Client(timeout=60) as client:
        reply = client.post(f"{base}/push", content=body, headers=headers).json()
        assert reply["code"] not in (ptp.PtpCode.OK, ptp.PtpCode.SYSTEM_ERROR), reply
        pop_headers = {**headers, "x-ptp-target-node-id": a.node_id}
        pop_headers["x-ptp-source-node-id"] = b.node_id
        popped = client.post(
            "http://" + b.config.transport_address + "/v1/interconn/chan/pop",
            content=b'{"topic":"hostile","timeout":1}',
            headers=pop_headers,
        )
        assert popped.json()["code"] != ptp.PtpCode.OK, popped.json()  # nothing arrived
    assert healthy(a) and healthy(b)


def test_refusals_are_not_logged_as_crashes(pair: Pair) -> None:
    for node in pair:
        assert "unhandled error" not in node.log_path.read_text(errors="replace")
        with pytest.raises(AdminApiError):
            node.admin.get(paths.PLATFORM_JOB_STATUS_ALL, job_id="job-deep")
