"""Issue #12, item 8: a flood of bad requests cannot grow the audit log without bound.

Before, every refused east-west request added its own (hash-chained, never pruned)
audit row: anyone able to connect could write rows as fast as they could send. Now the
first refusal per (address, reason) and window is written in full, the rest as one
count when the window closes, and an address refused too often is turned away before
any check runs. Every refusal is still accounted for.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.testing.cluster import wait_until
from isthmus.wire import paths
from tests.security.peer_support import audit_events

pytestmark = pytest.mark.multinode

FLOOD = 300
LIMIT = 50


@pytest.fixture(scope="module")
def node() -> Iterator[ProcessNode]:
    env = {
        "ISTHMUS_INTERCONN__REFUSAL_WINDOW_S": "3",
        "ISTHMUS_INTERCONN__REFUSAL_LIMIT": str(LIMIT),
    }
    with ProcessCluster(env=env) as cluster:
        yield cluster.add_node()


def refusals(node: ProcessNode, seqs_before: set[int]) -> list[dict[str, object]]:
    return [
        e
        for e in audit_events(node)
        if e["seq"] not in seqs_before and str(e["action"]).startswith("request.refused")
    ]


def test_a_flood_of_unsigned_requests_costs_a_bounded_number_of_rows(node: ProcessNode) -> None:
    before = {e["seq"] for e in audit_events(node)}
    codes = []
    with httpx.Client(base_url=node.address) as http:
        for i in range(FLOOD):
            # a different claimed sender each time: what the caller chooses is not a key
            answer = http.post(
                paths.NODE_UPDATE,
                json={"contract_id": "x", "name": "flood"},
                headers={"x-source-node-id": f"FLOOD_{i}"},
            )
            codes.append(answer.json()["code"])
    assert codes[:LIMIT] == [20001] * LIMIT  # UNSIGNED, each checked
    assert set(codes[LIMIT:]) == {20012}  # TOO_MANY_REFUSALS: turned away unchecked

    rows = refusals(node, before)
    assert len(rows) <= 2, rows  # the first of each reason, in full
    assert {json.loads(str(r["details"]))["reason"] for r in rows} <= {
        "UNSIGNED",
        "TOO_MANY_REFUSALS",
    }

    def counted() -> int:
        found = refusals(node, before)
        repeated = [r for r in found if r["action"] == "request.refused.repeated"]
        return sum(json.loads(str(r["details"]))["count"] for r in repeated) + len(
            [r for r in found if r["action"] == "request.refused"]
        )

    # when the window closes, the rest are written as counts: every refusal accounted for
    wait_until(lambda: counted() == FLOOD, timeout_s=60, what="the flood's counts")
    assert len(refusals(node, before)) <= 4
    assert node.admin.get("/readyz")["status"] == "ready"


def test_the_limit_ends_with_its_window(node: ProcessNode) -> None:
    def checked_again() -> bool:
        answer = httpx.post(node.address + paths.NODE_UPDATE, json={"contract_id": "x"})
        return bool(answer.json()["code"] == 20001)

    wait_until(checked_again, timeout_s=60, what="the address to be checked again")
