"""Probes, metrics, trace ids, admin authentication and logs, on in-process apps."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest

from isthmus.node.logs import JsonFormatter, trace_id_var
from isthmus.testing import InProcessCluster, InProcessNode
from isthmus.wire import paths
from isthmus.wire.errors import ErrorCode

pytestmark = pytest.mark.anyio


@pytest.fixture
async def node() -> AsyncIterator[InProcessNode]:
    async with InProcessCluster() as cluster:
        yield await cluster.add_node()


async def test_probes(node: InProcessNode) -> None:
    assert (await node.admin.get("/healthz")).json()["code"] == 0
    assert (await node.admin.get("/readyz")).json()["data"] == {"status": "ready"}
    node.ctx.ready.clear()
    response = await node.admin.get("/readyz")
    assert response.status_code == 503 and response.json()["data"]["listeners"] is False


async def test_admin_api_needs_the_token(node: InProcessNode) -> None:
    for headers in ({"authorization": ""}, {"authorization": "Bearer wrong-token-value"}):
        response = await node.admin.get("/admin/v1/contracts", headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == ErrorCode.ADMIN_UNAUTHORIZED
    assert (await node.admin.get("/admin/v1/contracts")).json()["code"] == 0


async def test_trace_id_is_echoed_and_generated(node: InProcessNode) -> None:
    response = await node.interconn.get(paths.NODE_HEALTH, headers={"x-trace-id": "trace-123"})
    assert response.headers["x-trace-id"] == "trace-123"
    response = await node.interconn.get(paths.NODE_HEALTH, headers={"x_trace_id": "fate-style"})
    assert response.headers["x-trace-id"] == "fate-style"
    generated = (await node.interconn.get(paths.NODE_HEALTH)).headers["x-trace-id"]
    assert len(generated) == 32


async def test_metrics_count_requests_and_refusals(node: InProcessNode) -> None:
    await node.interconn.get(paths.NODE_HEALTH)
    await node.interconn.post(paths.NODE_UPDATE, json={"contract_id": "x"})  # unsigned
    text = (await node.admin.get("/metrics")).text
    assert 'isthmus_auth_refusals_total{reason="UNSIGNED"} 1.0' in text
    assert 'route="/v1/interconn/node/health"' in text
    assert 'isthmus_contracts{status="APPROVED"} 0.0' in text


async def test_node_query_describes_only_this_node(node: InProcessNode) -> None:
    data = (await node.interconn.get(paths.NODE_QUERY, params={"node_id": "NODE_A"})).json()
    assert data["data"]["node_id"] == "NODE_A" and data["data"]["system"] == "isthmus"
    other = await node.interconn.get(paths.NODE_QUERY, params={"node_id": "NODE_Z"})
    assert other.status_code == 404 and other.json()["code"] == ErrorCode.NOT_FOUND


def test_json_log_lines_carry_ids_and_extras() -> None:
    formatter = JsonFormatter("NODE_A")
    token = trace_id_var.set("t-1")
    try:
        record = logging.makeLogRecord(
            {
                "msg": "hello %s",
                "args": ("x",),
                "levelname": "INFO",
                "name": "isthmus.test",
                "status": 200,
            }
        )
        entry = json.loads(formatter.format(record))
    finally:
        trace_id_var.reset(token)
    assert entry["msg"] == "hello x" and entry["node_id"] == "NODE_A"
    assert entry["trace_id"] == "t-1" and entry["status"] == 200
