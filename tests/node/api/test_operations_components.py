"""Component registration (admin and the spec's north-south path) and discovery by
partners (signed east-west list and query), in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from isthmus.components.builtin.ecdh_psi.component import SPEC as ECDH_PSI
from isthmus.testing import InProcessCluster, InProcessNode

pytestmark = pytest.mark.anyio


@pytest.fixture
async def pair() -> AsyncIterator[tuple[InProcessNode, InProcessNode]]:
    async with InProcessCluster() as cluster:
        a, b = await cluster.start(2)
        await cluster.connect(a, b)
        yield a, b


async def test_register_disable_and_discover(pair: tuple[InProcessNode, InProcessNode]) -> None:
    a, b = pair
    listed = await b.admin_call("GET", "/components")
    assert {"ecdh_psi", "column_select"} <= {c["componentName"] for c in listed}
    newer = {**ECDH_PSI.self_description(), "version": "0.2.0"}
    registered = await b.admin_call(
        "POST", "/components", {"imageUrl": "registry.example/psi:0.2", "component_info": newer}
    )
    assert registered["created"] is True
    await b.admin_call(
        "POST",
        "/components/state",
        {"componentName": "ecdh_psi", "provider": "isthmus", "version": "0.1.0",
         "state": "DISABLED"},
    )  # fmt: skip
    # A partner sees only what is ENABLED.
    seen = (await a.signed_post(b, "/v1/interconn/component/list", {})).json()
    assert seen["code"] == 0
    versions = {(c["code"], c["version"]) for c in seen["data"]["records"]}
    assert ("ecdh_psi", "0.2.0") in versions and ("ecdh_psi", "0.1.0") not in versions
    assert seen["data"]["total"] == len(seen["data"]["records"])
    record = next(r for r in seen["data"]["records"] if r["code"] == "ecdh_psi")
    assert record["developer"] == "isthmus" and set(record) >= {"category", "code", "version"}
    page = (await a.signed_post(b, "/v1/interconn/component/list", {"page_size": 1})).json()
    assert len(page["data"]["records"]) == 1 and page["data"]["total"] == seen["data"]["total"]
    query = {"code": "ecdh_psi", "version": "0.2.0"}  # the spec's fields
    described = (await a.signed_post(b, "/v1/interconn/component/query", query)).json()
    detail = described["data"]
    assert detail["component_info"]["version"] == "0.2.0" and detail["status"] == "ENABLED"
    assert {i["name"] for i in detail["inputs"]} == {"train_data"}
    assert detail["developer"] == "isthmus" and detail["engine"] == "process"
    query = {"componentName": "ecdh_psi", "provider": "isthmus", "version": "0.2.0"}
    described = (await a.signed_post(b, "/v1/interconn/component/query", query)).json()
    assert described["data"]["code"] == "ecdh_psi"
    hidden = {**query, "version": "0.1.0"}
    refused = (await a.signed_post(b, "/v1/interconn/component/query", hidden)).json()
    assert refused["code"] != 0


async def test_the_spec_north_south_path_needs_the_admin_token(
    pair: tuple[InProcessNode, InProcessNode],
) -> None:
    _, b = pair
    body = {"imageUrl": "x", "component_info": {**ECDH_PSI.self_description(), "version": "3"}}
    path = "/v1/platform/schedule/component/register"
    anonymous = await b.admin.post(path, json=body, headers={"authorization": ""})
    assert anonymous.status_code == 401
    accepted = await b.admin.post(path, json=body)
    assert accepted.json()["code"] == 0
    assert "3" in {c["version"] for c in await b.admin_call("GET", "/components")}
    broken = await b.admin.post(path, json={"component_info": {"provider": "x"}})
    assert broken.json()["code"] == 10002


async def test_unsigned_discovery_is_refused(pair: tuple[InProcessNode, InProcessNode]) -> None:
    _, b = pair
    response = await b.interconn.post("/v1/interconn/component/list", json={})
    assert response.json()["code"] != 0
