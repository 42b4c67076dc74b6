"""The kit's listener: it records what arrives per path, judges the target's signature
without refusing, answers the success envelope (or what a check set), and bounds what a
caller can make it hold."""

from __future__ import annotations

import json

import httpx
import pytest

from isthmus.conformance import listener as listener_module
from isthmus.conformance.identity import ephemeral
from isthmus.conformance.listener import KitListener, ListenerTimeout
from isthmus.conformance.model import Target
from isthmus.peer.signing import sign_request

pytestmark = pytest.mark.anyio
TARGET = ephemeral()


def _target(**update: object) -> Target:
    base = Target(node_id=TARGET.node_id, address="http://x", public_key_pem=TARGET.public_key_pem)
    return base.model_copy(update=update)


def _signed(path: str, body: bytes, identity=TARGET.identity) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return sign_request(
        identity, method="POST", path=path, query="", target_node_id="KIT", body=body
    )


async def test_a_request_is_recorded_with_its_signature_judged() -> None:
    kit = KitListener(_target())
    await kit.start()
    path = "/v1/interconn/node/contract/confirm"
    body = json.dumps({"contract_id": "c1", "status": "APPROVED"}).encode()
    try:
        async with httpx.AsyncClient(base_url=kit.address) as http:
            good = await http.post(path, content=body, headers=_signed(path, body))
            forged = await http.post(
                path, content=body, headers=_signed(path, body, ephemeral().identity)
            )
            unsigned = await http.post(path + "/x", content=b"not json")
        first = await kit.expect(path, 1.0)
        second = await kit.expect(path, 1.0)
        third = await kit.expect("/v1/interconn/node", 1.0)
        with pytest.raises(ListenerTimeout):
            await kit.expect(path, 0.05)
    finally:
        await kit.stop()
    assert good.json() == {"code": 0, "msg": "success", "data": None}
    assert forged.status_code == 200 and unsigned.status_code == 200  # judged, not refused
    assert first.json == {"contract_id": "c1", "status": "APPROVED"}
    assert (first.signature_valid, second.signature_valid) == (True, False)
    assert third.signature_valid is None and third.json is None and third.body == b"not json"


async def test_no_verdict_for_an_unknown_scheme_or_without_a_key() -> None:
    for target in (_target(signature_scheme="unknown"), _target(public_key_pem=None)):
        kit = KitListener(target)
        await kit.start()
        try:
            async with httpx.AsyncClient(base_url=kit.address) as http:
                await http.post("/p", content=b"{}", headers=_signed("/p", b"{}"))
            assert (await kit.expect("/p", 1.0)).signature_valid is None
        finally:
            await kit.stop()


async def test_a_check_sets_the_answer_and_the_bounds_hold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(listener_module, "MAX_PATHS", 2)
    monkeypatch.setattr(listener_module, "MAX_BODY", 1000)
    kit = KitListener(_target())
    kit.answer("/v1/interconn/chan/invoke", 200, b"\x01\x02", "application/x-protobuf")
    await kit.start()
    try:
        async with httpx.AsyncClient(base_url=kit.address) as http:
            invoke = await http.post("/v1/interconn/chan/invoke", content=b"x")
            too_big = await http.post("/a", content=b"x" * 2000)
            second_path = await http.post("/b", content=b"x")
            third_path = await http.post("/c", content=b"x")
    finally:
        await kit.stop()
    assert invoke.content == b"\x01\x02"
    assert invoke.headers["content-type"] == "application/x-protobuf"
    assert too_big.status_code == 413
    assert second_path.status_code == 200 and third_path.status_code == 429
