"""The admin reads the console's Partners and Transport pages need, in-process: a
partner's published components (its ``component/list`` through our node), the transport
sessions with what each holds, and the queue depths and bytes per partner."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from isthmus.node import rbac
from isthmus.testing import InProcessCluster, InProcessNode
from isthmus.wire import paths, ptp

pytestmark = pytest.mark.anyio
SESSION, TOKEN = "session_job-console-reads", "tok"


@pytest.fixture
async def pair() -> AsyncIterator[tuple[InProcessNode, InProcessNode]]:
    async with InProcessCluster() as cluster:
        a, b = await cluster.start(2)
        await cluster.connect(a, b)
        yield a, b


async def test_partner_components_are_the_partners_published_list(
    pair: tuple[InProcessNode, InProcessNode],
) -> None:
    a, b = pair
    seen = await a.admin_call("GET", f"/partners/{b.node_id}/components")
    published = {r["code"] for r in seen["records"]}
    assert {"ecdh_psi", "column_select"} <= published
    assert seen["total"] == len(seen["records"])
    await b.admin_call(
        "POST",
        "/components/state",
        {"componentName": "ecdh_psi", "provider": "isthmus", "version": "0.1.0",
         "state": "DISABLED"},
    )  # fmt: skip
    again = await a.admin_call("GET", f"/partners/{b.node_id}/components")
    assert "ecdh_psi" not in {r["code"] for r in again["records"]}
    with pytest.raises(AssertionError, match="no approved contract"):
        await a.admin_call("GET", "/partners/stranger/components")


def test_partner_components_are_for_admins_and_operators() -> None:
    allowed = rbac.allowed_roles("GET", paths.ADMIN_PARTNER_COMPONENTS)
    assert allowed == {rbac.ADMIN, rbac.OPERATOR}


async def test_sessions_and_traffic_show_what_moved(
    pair: tuple[InProcessNode, InProcessNode],
) -> None:
    a, b = pair
    for node, other in ((a, b), (b, a)):
        await node.admin_call(
            "POST",
            "/transport/sessions",
            {"session_id": SESSION, "token": TOKEN, "parties": [other.node_id]},
        )
    headers = {"x-ptp-session-id": SESSION, "x-ptp-token": TOKEN, "x-ptp-topic": "t",
               "x-ptp-target-node-id": b.node_id}  # fmt: skip
    reply = await a.transport.post("/v1/interconn/chan/push", content=b"12345", headers=headers)
    assert ptp.parse_outbound(reply.content)[0] == ptp.PtpCode.OK
    [pending] = await a.admin_call("GET", "/transport/sessions")
    assert pending["session_id"] == SESSION and pending["state"] == "OPEN"
    assert pending["parties"] == [b.node_id]
    assert (pending["out_messages"], pending["out_bytes"]) == (1, 5)
    assert "token" not in str(pending)  # neither the token nor its digest
    assert (await a.admin_call("GET", "/transport/traffic"))["depths"]["out_bytes"] == 5

    assert await a.ctx.transport.forward_once()
    [held] = await b.admin_call("GET", "/transport/sessions")
    assert (held["in_messages"], held["in_bytes"], held["out_messages"]) == (1, 5, 0)
    sent = await a.admin_call("GET", "/transport/traffic")
    assert sent["partners"] == [{"partner": b.node_id, "sent_bytes": 5, "received_bytes": 0}]
    assert sent["depths"]["out_messages"] == 0
    got = await b.admin_call("GET", "/transport/traffic")
    assert got["partners"] == [{"partner": a.node_id, "sent_bytes": 0, "received_bytes": 5}]
    assert got["depths"] == {"out_messages": 0, "out_bytes": 0, "in_messages": 1, "in_bytes": 5}

    await b.admin_call("POST", f"/transport/sessions/{SESSION}/release")
    [released] = await b.admin_call("GET", "/transport/sessions")
    assert released["state"] == "RELEASED" and released["in_messages"] == 0
