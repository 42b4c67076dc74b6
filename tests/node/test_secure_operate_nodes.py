"""The secure operator service between two real node processes (issue 16): ``mvm`` and
``matmul`` on random matrices equal the plaintext within the fixed-point error, sync and
async with ``query``; ``kill`` frees the task on both nodes; every bad input gets its code.

One cluster for the module; small matrices; dealer-free HE triples with 1024-bit keys
(``he_key_bits``: the test's speed, never a deployment's)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from isthmus.node.admin_client import AdminApiError
from isthmus.testing import ProcessCluster, ProcessNode, free_port
from isthmus.wire import paths
from isthmus.wire.errors import SecopCode
from isthmus.wire.secure_operate import decode_direct, encode_direct

pytestmark = pytest.mark.multinode

TOL = 1e-3
PARAM = {"field": 64, "fxp_bits": 18, "he_key_bits": 1024}


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[ProcessNode, ProcessNode]]:
    env = {"ISTHMUS_SECURE_OPERATE__PEER_WAIT_S": "4", "ISTHMUS_BEAVER__ENABLED": "true"}
    with ProcessCluster(env=env) as cluster:
        a, b = (cluster.add_node(interconn_grpc_port=free_port()) for _ in range(2))
        cluster.connect(a, b)
        yield a, b


def value(name: str, array: np.ndarray, dtype: str = "float64") -> dict[str, Any]:
    tag = {"type": "Direct", "name": name, "dtype": dtype, "shape": list(array.shape)}
    return {"dataValueTag": tag, "directValue": encode_direct(array, dtype)}


def request(
    task: str,
    expression: str,
    pair: tuple[ProcessNode, ProcessNode],
    me: ProcessNode,
    inputs: list[dict[str, Any]],
    **extra: Any,
) -> dict[str, Any]:
    parties = [n.node_id for n in pair]
    return {
        "taskId": task, "token": "t", "timeout": 60, "expression": expression,
        "mpcProtocol": {"protocolCode": "semi2k", "providerCode": "isthmus", "version": "1",
                        "param": PARAM},
        "parties": parties, "localPartyId": me.node_id, "resultParties": parties,
        "inputs": inputs, **extra,
    }  # fmt: skip


def call(node: ProcessNode, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return node.admin.post_document(path, body)


def both(pair, path: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The two parties' calls at the same time (a sync execute blocks until the end).
    Each thread has its own admin client: httpx clients are not for two threads at once."""

    def one(node: ProcessNode, body: dict[str, Any]) -> dict[str, Any]:
        from isthmus.node.admin_client import AdminClient

        with AdminClient.for_home(node.home, timeout_s=120) as client:
            return client.post_document(path, body)

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(one, pair, bodies))


def result(answer: dict[str, Any]) -> np.ndarray:
    item = answer["result"][0]
    tag = item["dataValueTag"]
    return decode_direct(item["directValue"], tag["dtype"], tag["shape"])


def until_done(node: ProcessNode, task: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = call(node, paths.SECOP_QUERY, {"taskId": task, "localPartyId": node.node_id})
        if answer.get("status") not in ("RUNNING", "WAITING"):
            return answer
        time.sleep(0.1)
    raise AssertionError(f"task {task} still running")


def released(node: ProcessNode, task: str) -> bool:
    """Whether the task's transport session is released on ``node`` (a second release is
    refused as released; an open one would be released by this probe, and so fail it)."""
    try:
        node.admin.post(paths.ADMIN_TRANSPORT_SESSION_RELEASE.format(session_id=f"secop_{task}"))
    except AdminApiError as exc:
        return "released" in exc.message
    return False


def test_matmul_sync_equals_plaintext(pair) -> None:
    rng = np.random.default_rng(16)
    x, y = rng.uniform(-3, 3, (6, 4)), rng.uniform(-3, 3, (4, 5))
    a, b = both(pair, paths.SECOP_EXECUTE, [
        request("mm1", "matmul", pair, pair[0], [value("x", x)]),
        request("mm1", "matmul", pair, pair[1], [value("y", y)]),
    ])  # fmt: skip
    for answer in (a, b):
        assert answer["code"] == 0, answer["msg"]
        np.testing.assert_allclose(result(answer), x @ y, atol=TOL)
    assert released(pair[0], "mm1") and released(pair[1], "mm1")


def test_matmul_with_the_beaver_service(pair) -> None:
    """Triples from the PPCA Beaver service (node A serves it) instead of HE."""
    rng = np.random.default_rng(18)
    x, y = rng.uniform(-3, 3, (4, 6)), rng.uniform(-3, 3, (6, 2))
    host = f"127.0.0.1:{pair[0].config.interconn.grpc_port}"
    ttp = {
        "mpcProtocol": {
            "protocolCode": "semi2k",
            "param": {**PARAM, "use_ttp": True, "ttp_server_host": host},
        }
    }
    a, b = both(pair, paths.SECOP_EXECUTE, [
        request("ttp1", "matmul", pair, pair[0], [value("x", x)], **ttp),
        request("ttp1", "matmul", pair, pair[1], [value("y", y)], **ttp),
    ])  # fmt: skip
    for answer in (a, b):
        assert answer["code"] == 0, answer["msg"]
        np.testing.assert_allclose(result(answer), x @ y, atol=TOL)


def test_mvm_async_with_query_and_one_result_party(pair) -> None:
    rng = np.random.default_rng(17)
    x, y = rng.uniform(-3, 3, (5, 4)), rng.uniform(-3, 3, 4)
    only_b = {"asyncMode": True, "resultParties": [pair[1].node_id]}
    first = call(pair[0], paths.SECOP_EXECUTE,
                 request("mv1", "mvm", pair, pair[0], [value("x", x)], **only_b))  # fmt: skip
    assert first["code"] == 0 and "result" not in first
    call(
        pair[1],
        paths.SECOP_EXECUTE,
        request("mv1", "mvm", pair, pair[1], [value("y", y)], **only_b),
    )
    a, b = until_done(pair[0], "mv1"), until_done(pair[1], "mv1")
    assert a["status"] == b["status"] == "SUCCESS"
    assert "result" not in a  # A is not a result party
    np.testing.assert_allclose(result(b), x @ y, atol=TOL)


def test_kill_frees_the_task_on_both_nodes(pair) -> None:
    x = np.ones((3, 3))
    waiting = {"phases": ["PREPAR"]}
    a, b = both(pair, paths.SECOP_EXECUTE, [
        request("k1", "matmul", pair, pair[0], [value("x", x)], **waiting),
        request("k1", "matmul", pair, pair[1], [value("y", x)], **waiting),
    ])  # fmt: skip
    assert a["status"] == b["status"] == "WAITING" and a["phase"] == "CALCULATE"
    killed = call(pair[0], paths.SECOP_KILL, {"taskId": "k1", "localPartyId": pair[0].node_id})
    assert killed["status"] == "KILLED" and killed["code"] == SecopCode.KILLED
    other = until_done(pair[1], "k1", timeout_s=20)
    assert other["status"] == "FAILED" and other["code"] == SecopCode.PEER_ABORTED
    assert released(pair[0], "k1") and released(pair[1], "k1")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"expression": "conv2d"}, SecopCode.UNKNOWN_EXPRESSION),
        ({"mpcProtocol": {"protocolCode": "spdz2k"}}, SecopCode.UNKNOWN_PROTOCOL),
        ({"localPartyId": "NODE_Z"}, SecopCode.NOT_A_PARTY),
        ({"resultParties": ["NODE_Z"]}, SecopCode.RESULT_PARTY_NOT_A_PARTY),
        ({"inputs": [value("x", np.ones((2, 2)), "float32") | {"dataValueTag": {
            "type": "Direct", "name": "x", "dtype": "complex64", "shape": [2, 2]}}]},
         SecopCode.UNKNOWN_DTYPE),
        ({"taskId": "mm1"}, SecopCode.DUPLICATE_TASK),
    ],
)  # fmt: skip
def test_bad_input_codes(pair, change: dict[str, Any], code: SecopCode) -> None:
    body = request("bad1", "matmul", pair, pair[0], [value("x", np.ones((2, 2)))]) | change
    answer = call(pair[0], paths.SECOP_EXECUTE, body)
    assert answer["code"] == code, answer


def test_shape_mismatch_is_refused_on_both(pair) -> None:
    a, b = both(pair, paths.SECOP_EXECUTE, [
        request("sm1", "matmul", pair, pair[0], [value("x", np.ones((2, 3)))]),
        request("sm1", "matmul", pair, pair[1], [value("y", np.ones((2, 3)))]),
    ])  # fmt: skip
    assert a["code"] == b["code"] == SecopCode.SHAPE_MISMATCH
    assert released(pair[0], "sm1") and released(pair[1], "sm1")


def test_a_partner_that_never_answers(pair) -> None:
    answer = call(pair[0], paths.SECOP_EXECUTE,
                  request("lone1", "add", pair, pair[0], [value("x", np.ones(2))]))  # fmt: skip
    assert answer["code"] == SecopCode.PEER_TIMEOUT
    assert released(pair[0], "lone1")


def test_expressions_and_the_ptp_token(pair) -> None:
    node = pair[0]
    token = node.admin.post(paths.ADMIN_TOKENS, {"name": "platform", "roles": ["operator"]})
    headers = {"x-ptp-token": token["token"], "x-ptp-trace-id": "tr1",
               "x-ptp-tech-provider-code": "p", "x-ptp-target-node-id": node.node_id}  # fmt: skip
    url = node.config.admin_url + paths.SECOP_EXPRESSIONS
    answer = httpx.post(url, json={}, headers=headers).json()
    assert answer["code"] == 0
    assert {"mvm", "matmul", "less"} <= {e["expression"] for e in answer["expressions"]}
    wrong = httpx.post(url, json={}, headers={**headers, "x-ptp-token": "isk_nope"})
    assert wrong.status_code == 401
    elsewhere = {**headers, "x-ptp-target-node-id": "NODE_Z"}
    refused = httpx.post(node.config.admin_url + paths.SECOP_QUERY, json={"taskId": "mm1"},
                         headers=elsewhere).json()  # fmt: skip
    assert refused["code"] == SecopCode.NOT_A_PARTY


def isthmus(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: PLW1510 - the caller checks
        [sys.executable, "-m", "isthmus", *args], capture_output=True, text=True, timeout=120
    )


def test_the_cli(pair, tmp_path: Path) -> None:
    a, b = pair
    listed = isthmus("operate", "expressions", "--home", str(a.home), "--json")
    assert listed.returncode == 0 and "matmul" in listed.stdout
    x, y = np.arange(6.0).reshape(2, 3), np.ones((3, 2))
    np.save(tmp_path / "x.npy", x)
    flags = ["--task", "cli1", "--expression", "matmul", "--party", a.node_id,
             "--party", b.node_id, "--param", "he_key_bits=1024", "--timeout", "60"]  # fmt: skip
    started = isthmus("operate", "execute", "--home", str(a.home), *flags,
                      "--input", f"x={tmp_path / 'x.npy'}", "--async", "--json")  # fmt: skip
    assert started.returncode == 0, started.stderr
    call(b, paths.SECOP_EXECUTE, request("cli1", "matmul", pair, b, [value("y", y)]))
    until_done(a, "cli1")
    done = isthmus("operate", "query", "cli1", "--home", str(a.home), "--json")
    assert done.returncode == 0
    np.testing.assert_allclose(json.loads(done.stdout)["values"][0], x @ y, atol=TOL)
    refused = isthmus("operate", "execute", "--home", str(a.home), *flags)  # a duplicate
    assert refused.returncode == 1 and f"code {int(SecopCode.DUPLICATE_TASK)}" in refused.stderr
