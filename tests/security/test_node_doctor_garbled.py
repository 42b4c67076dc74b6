"""Issue #12, item 13 (the doctor's part): a partner that answers garbage is the
partner's fault. Before, a garbled reply made ``doctor`` itself answer 500 (and the
report on every other partner was lost with it)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from isthmus.node.admin_client import AdminApiError
from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.wire import paths
from tests.security.peer_support import CannedPartner, add_approved_contract

pytestmark = pytest.mark.multinode

OK_HEALTH = json.dumps({"code": 0, "msg": "", "data": {"status": "ok"}}).encode()
GARBLED = {
    # a clock that is not a number
    "GARBLED_HEALTH": {
        paths.NODE_HEALTH: json.dumps({"code": 0, "data": {"timestamp": "soon"}}).encode()
    },
    # a contract status no spec knows
    "GARBLED_QUERY": {
        paths.NODE_HEALTH: OK_HEALTH,
        paths.NODE_CONTRACT_QUERY: json.dumps({"code": 0, "data": {"status": "MAYBE"}}).encode(),
    },
    # JSON nested far deeper than any parser should follow
    "DEEP_REPLY": {paths.NODE_HEALTH: b"[" * 200_000 + b"]" * 200_000},
    # not JSON at all
    "NOT_JSON": {paths.NODE_HEALTH: b"<html>hello</html>"},
}


@pytest.fixture(scope="module")
def node() -> Iterator[ProcessNode]:
    partners = {name: CannedPartner(replies) for name, replies in GARBLED.items()}
    try:
        with ProcessCluster() as cluster:
            node = cluster.add_node()
            for name, partner in partners.items():
                add_approved_contract(node, name, partner.address)
            yield node
    finally:
        for partner in partners.values():
            partner.close()


def test_doctor_reports_each_garbled_partner_as_its_fault(node: ProcessNode) -> None:
    try:
        report = node.admin.get("/doctor")
    except AdminApiError as exc:  # the 500 of before
        pytest.fail(f"doctor failed instead of reporting: {exc.node_code} {exc.message}")
    results = {p["peer_node_id"]: p for p in report["peers"]}
    assert set(results) == set(GARBLED)
    for name, result in results.items():
        assert result["ok"] is False, result
        assert result["code"] == 40003, (name, result)  # PEER_PROTOCOL
        assert result["diagnosis"], result
    assert report["ok"] is False
    assert node.admin.get("/readyz")["status"] == "ready"
