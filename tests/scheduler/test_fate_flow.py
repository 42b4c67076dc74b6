"""FATE-Flow compatibility of the scheduling plane.

* FATE-Flow as scheduler: every call it made to its partner in the capture is replayed,
  headers and bodies as recorded (underscore header names, empty ``x_auth_sign``, the
  extra ``old_job_id``), against an Isthmus participant; each gets the reply FATE
  expects. Timestamps and nonces are renewed, as a live FATE-Flow would send them: the
  recorded ones are stale by now and would be refused as replays.
* Isthmus as scheduler of a FATE-Flow participant: a recording partner on loopback
  answers as FATE-Flow answered (peers.md §3), and what our scheduler sent it is held
  to the captured dialect.
"""

from __future__ import annotations

import json
import ssl
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from isthmus.node.auth import pem_fingerprint
from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.testing.cluster import wait_until
from isthmus.testing.pki import TestPki
from tests.scheduler.fate_support import (
    FATE_NODE,
    OUR_NODE,
    add_fate_contract,
    offer_test_host,
    register_unionpay,
)
from tests.support.shared import wire_capture

CAPTURE = "fate_flow_as_scheduler_calls_to_partner.json"


@pytest.fixture(scope="module", autouse=True)
def _fate_capture() -> None:
    """Skip the module loudly, before any node starts, when the capture is absent."""
    wire_capture(CAPTURE)


def captured() -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = json.loads(wire_capture(CAPTURE).read_text())
    return calls


#: The client side of FATE-Flow's mutual TLS, per node home: an unsigned partner is
#: identified by its pinned certificate, so the replays present it.
_FATE_TLS: dict[str, ssl.SSLContext] = {}


@pytest.fixture(scope="module")
def participant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessNode]:
    pki = TestPki(tmp_path_factory.mktemp("pki"))
    ours, fate = pki.issue(OUR_NODE), pki.issue(FATE_NODE)
    env = {"ISTHMUS_INTERCONN__UNSIGNED_PARTNERS": json.dumps([FATE_NODE])}
    with ProcessCluster(env=env) as cluster:
        node = cluster.add_node(
            OUR_NODE,
            tls_cert_file=ours.cert_file,
            tls_key_file=ours.key_file,
            tls_ca_file=pki.ca_file,
        )
        add_fate_contract(
            node,
            FATE_NODE,
            "https://127.0.0.1:9",
            tls_fingerprint=pem_fingerprint(fate.cert_file.read_text()),
        )
        tls = ssl.create_default_context(cafile=str(pki.ca_file))
        tls.check_hostname = False
        tls.load_cert_chain(str(fate.cert_file), str(fate.key_file))
        _FATE_TLS[str(node.home)] = tls
        register_unionpay(node)
        offer_test_host(node)
        yield node


def replay(node: ProcessNode, call: dict[str, Any], **changes: Any) -> httpx.Response:
    headers = {
        k: v
        for k, v in call["headers"].items()
        if k.lower() not in ("host", "content-length", "connection", "accept-encoding")
    }
    headers["x_timestamp"] = str(time.time_ns() // 1_000_000)
    headers["x_nonce"] = str(uuid.uuid4())
    headers.update(changes)
    return httpx.request(
        call["method"],
        node.address + call["path"],
        json=call["body"],
        headers=headers,
        verify=_FATE_TLS.get(str(node.home), True),
    )


def test_replayed_fate_flow_scheduler_calls_get_the_replies_fate_expects(
    participant: ProcessNode,
) -> None:
    for call in captured():
        response = replay(participant, call)
        envelope = response.json()
        assert envelope["code"] == call["resp"]["code"] == 0, (call["path"], envelope)
    first_job, second_job = dict.fromkeys(c["body"]["job_id"] for c in captured())
    jobs = {j["job_id"]: j for j in participant.admin.get("/jobs")}
    assert jobs[first_job]["scheduler"] == FATE_NODE
    # the final job/stop ended it; what it came to is FATE's to say, and this FATE
    # (replayed calls, no server) cannot be asked: the spec's FINISHED until it can
    assert jobs[second_job]["status"] == "FINISHED"
    assert jobs[second_job]["finished_at"] is not None
    (task,) = participant.admin.get(f"/jobs/{second_job}/tasks")
    assert task["task_id"] == "cb27eb09-d0ec-4695-9556-39586b47feb3"  # FATE's own id
    assert task["party"] == "host.0" and task["task_name"] == "intersect_rsa_1"
    # the first job never got job/stop: it still runs here, and FATE can poll it
    assert jobs[first_job]["status"] == "RUNNING"


def test_fate_flow_polls_with_an_empty_role(participant: ProcessNode) -> None:
    calls = captured()
    create, start, task_start = calls[2], calls[3], calls[4]
    job_id = f"poll-{uuid.uuid4().hex}"  # a job of its own, whatever ran before
    task_id = str(uuid.uuid4())
    for call in (create, start, task_start):
        body = {**call["body"], "job_id": job_id}
        if call is task_start:
            body["task_id"] = task_id
        assert replay(participant, {**call, "body": body}).json()["code"] == 0
    poll = {**task_start, "path": "/v1/interconn/schedule/task/poll",
            "body": {"task_id": task_id, "role": ""}}  # fmt: skip

    def final() -> bool:
        status = replay(participant, poll).json()["data"]["status"]
        return bool(status in ("SUCCESS", "FAILED"))

    first = replay(participant, poll).json()
    assert first["code"] == 0 and first["data"]["status"] in ("RUNNING", "SUCCESS", "FAILED")
    # the UnionPay image is not installed here: the run fails, and says so
    wait_until(final, timeout_s=30)
    answer = replay(participant, poll).json()["data"]
    assert answer["status"] == "FAILED" and answer["reason"]


def test_without_the_waiver_an_unsigned_fate_call_is_refused() -> None:
    with ProcessCluster() as cluster:
        node = cluster.add_node(OUR_NODE)
        add_fate_contract(node, FATE_NODE, "http://127.0.0.1:9")
        response = replay(node, captured()[0])
        assert response.status_code == 401
        assert response.json()["code"] == 20001  # UNSIGNED
        assert node.admin.get("/jobs") == []


def test_a_replayed_nonce_is_refused_even_for_an_unsigned_partner(
    participant: ProcessNode,
) -> None:
    call = captured()[1]
    nonce = str(uuid.uuid4())
    assert replay(participant, call, x_nonce=nonce).json()["code"] == 0
    again = replay(participant, call, x_nonce=nonce)
    assert again.json()["code"] == 20003  # REPLAYED_NONCE


class _FateParticipant:
    """Answers as FATE-Flow 2.2 answered as a participant (peers.md §3), records calls."""

    def __init__(self) -> None:
        import http.server
        import threading

        calls: list[dict[str, Any]] = []
        self.calls = calls

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                calls.append({"path": self.path, "headers": dict(self.headers), "body": body})
                data: dict[str, Any] = {}
                if self.path.endswith("/task/poll"):
                    data = {"status": "SUCCESS"}
                reply = json.dumps({"code": 0, "msg": "success", "data": data}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_isthmus_as_scheduler_speaks_fate_flows_dialect() -> None:
    fate = _FateParticipant()
    try:
        with ProcessCluster() as cluster:
            a = cluster.add_node(OUR_NODE)
            add_fate_contract(a, FATE_NODE, fate.address)
            root = a.home / "data" / "demo"
            root.mkdir(parents=True)
            (root / "t.csv").write_text("id,x\n1,2\n")
            job = {
                "dag": {"components": [
                    {"name": "select_0", "componentName": "column_select",
                     "provider": "isthmus", "version": "0.1.0", "input": [],
                     "output": [{"key": "data", "type": "dataset"}]},
                ]},
                "config": {
                    "initiator": {"role": "guest", "node_id": OUR_NODE},
                    "role": {"guest": [OUR_NODE], "host": [FATE_NODE]},
                    "job_params": {"common": {"sync_type": "poll"}},
                    "task_params": {
                        "common": {"select_0": {"columns": "id"}},
                        "guest": {"0": {"select_0": {"dataset_id": "demo#t.csv"}}},
                        "host": {"0": {"select_0": {"dataset_id": "testspace#test_host"}}},
                    },
                },
            }  # fmt: skip
            from isthmus.testing.jobs import submit, wait_finished

            job_id = submit(a, job)
            assert wait_finished(a, job_id)["result"] == "SUCCESS"
            wait_until(lambda: fate.calls[-1]["path"].endswith("/job/stop"), what="job/stop")
    finally:
        fate.close()
    paths = [c["path"].rsplit("/schedule/", 1)[1] for c in fate.calls]
    assert paths[:3] == ["job/create", "job/start", "task/start"]
    assert set(paths[3:-1]) == {"task/poll"} and paths[-1] == "job/stop"
    by_path = {p: c for p, c in zip(paths, fate.calls, strict=True)}
    reference = {c["path"].rsplit("/schedule/", 1)[1]: c["body"] for c in captured()}
    # the same fields FATE-Flow's scheduler sends (less its internal old_job_id)
    assert set(by_path["job/create"]["body"]) == set(reference["job/create"]) - {"old_job_id"}
    assert set(by_path["job/start"]["body"]) == set(reference["job/start"]) == {"job_id"}
    assert set(by_path["task/start"]["body"]) == set(reference["task/start"])
    assert by_path["task/poll"]["body"]["role"] == "host"
    assert by_path["job/stop"]["body"] == {"job_id": job_id}
    for call in fate.calls:
        headers = {k.lower(): v for k, v in call["headers"].items()}
        assert headers["x-node-id"] == headers["x-source-node-id"] == OUR_NODE
        assert headers["x-target-node-id"] == FATE_NODE
        assert headers["x-timestamp"].isdigit() and len(headers["x-timestamp"]) == 13
        assert headers["x-nonce"] and headers["x-auth-sign"]


def test_a_repeated_create_is_accepted_and_a_different_one_is_a_conflict(
    participant: ProcessNode,
) -> None:
    create = captured()[0]
    job_id = f"{create['body']['job_id']}-again"
    body = {**create["body"], "job_id": job_id}
    assert replay(participant, {**create, "body": body}).json()["code"] == 0
    assert replay(participant, {**create, "body": body}).json()["code"] == 0  # a FATE retry
    changed = json.loads(json.dumps(body))
    changed["config"]["task_params"]["common"]["intersect_rsa_1"]["id"] = "other"
    conflict = replay(participant, {**create, "body": changed}).json()
    assert conflict["code"] == 10006 and "another DAG or config" in conflict["msg"]
