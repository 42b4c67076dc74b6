"""Issue #12, item 8: the actor of an admin action is the token behind the call, never a
header. Before, root's audit name came from ``x-operator``, so whoever held the root
token could file a request as "alice" and approve it as "bob"."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from isthmus.testing import ProcessCluster, ProcessNode
from tests.scheduler.jobs_support import write_dataset
from tests.security.peer_support import audit_events, root_admin

pytestmark = pytest.mark.multinode


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[ProcessNode, ProcessNode]]:
    with ProcessCluster() as cluster:
        a, b = cluster.start(2)
        cluster.connect(a, b)
        write_dataset(b, "t.csv", list(range(10)), "y")
        yield a, b


def test_root_cannot_approve_its_own_request_by_renaming_itself(
    pair: tuple[ProcessNode, ProcessNode],
) -> None:
    a, b = pair
    location = str(b.home / "data" / "demo" / "t.csv")
    with root_admin(b, **{"x-operator": "alice"}) as alice:
        registered = alice.post(
            "/datasets",
            json={"namespace": "demo", "name": "own", "source": "csv", "location": location},
        ).json()
        assert registered["code"] == 0, registered
        asked = alice.post(
            "/audits/grant",
            json={"peer_node_id": a.node_id, "resource_type": "DATASET",
                  "resource_id": "demo#own"},
        ).json()  # fmt: skip
        assert asked["code"] == 0, asked
    audit_id = asked["data"]["audit_id"]
    before = audit_events(b)
    with root_admin(b, **{"x-operator": "bob"}) as bob:
        decided = bob.post(f"/audits/{a.node_id}/{audit_id}/approve", json={}).json()

    assert decided["code"] == 20102, decided  # FORBIDDEN: the same token asked
    (grant,) = [g for g in b.admin.get("/audits") if g["audit_id"] == audit_id]
    assert grant["status"] == "APPLIED" and grant["requested_by"] == "token:root"
    after = audit_events(b)
    assert [e["seq"] for e in after] == [e["seq"] for e in before]  # nothing was written
    assert not [e for e in after if e["action"] == "audit.approved"]
    actors = {e["actor"] for e in after}
    assert "token:root" in actors
    assert not [x for x in actors if "alice" in x or "bob" in x], actors


def test_a_named_token_is_named_whatever_header_it_sends(
    pair: tuple[ProcessNode, ProcessNode],
) -> None:
    _, b = pair
    with root_admin(b) as root:
        created = root.post("/tokens", json={"name": "ops-zoe", "roles": ["operator"]}).json()
    token = created["data"]["token"]

    with httpx.Client(
        base_url=b.config.admin_url + "/admin/v1",
        headers={"authorization": f"Bearer {token}", "x-operator": "root"},
    ) as zoe:
        location = str(b.home / "data" / "demo" / "t.csv")
        answer = zoe.post(
            "/datasets",
            json={"namespace": "demo", "name": "zoe", "source": "csv", "location": location},
        ).json()
    assert answer["code"] == 0, answer
    (event,) = [e for e in audit_events(b, "dataset.registered") if e["subject"] == "demo#zoe"]
    assert event["actor"] == "token:ops-zoe"
