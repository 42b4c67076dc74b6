"""The recording client: requests are signed as an Isthmus node signs them, every one is
recorded, no secret ever reaches the record, the rate limit holds, a dry run sends nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.conformance.identity import ephemeral
from isthmus.conformance.recording import DryRunViolation, RateLimiter, RecordingClient
from isthmus.conformance.redaction import REDACTED
from isthmus.peer.signing import canonical_string, verify_signature
from isthmus.wire import headers as h

pytestmark = pytest.mark.anyio
KIT = ephemeral()
Handler = Callable[[httpx.Request], httpx.Response]


def _client(handler: Handler, **kwargs: Any) -> RecordingClient:
    return RecordingClient(
        address="http://target.test:9000",
        target_node_id="TARGET",
        identity=KIT.identity,
        rate_per_s=kwargs.pop("rate_per_s", 1000.0),
        transport=httpx.MockTransport(handler),
        **kwargs,
    )


def _echo(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"code": 0, "msg": "success", "data": {"ok": True}})


def _verifies(request: httpx.Request) -> bool:
    message = canonical_string(
        method=request.method,
        path=request.url.path,
        query=request.url.query.decode(),
        timestamp=request.headers[h.TIMESTAMP],
        nonce=request.headers[h.NONCE],
        source_node_id=request.headers[h.SOURCE_NODE_ID],
        target_node_id=request.headers[h.TARGET_NODE_ID],
        body=request.content,
        ptp_headers=request.headers,
    )
    key = KIT.identity.private_key.public_key()
    return verify_signature(key, request.headers[h.AUTH_SIGN], message)


async def test_a_signed_request_verifies_as_an_isthmus_node_verifies_it() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _echo(request)

    client = _client(handler)
    reply = await client.signed(
        "POST",
        "/v1/interconn/chan/push",
        json={"b": 1, "a": [1, 2]},
        params={"z": "1", "a": "2"},
        headers={"x-ptp-session-id": "s-1"},
        label="push",
    )
    await client.aclose()
    assert reply.status == 200 and reply.code == 0 and reply.data == {"ok": True}
    (request,) = seen
    assert request.headers[h.SOURCE_NODE_ID] == KIT.node_id
    assert request.headers[h.TARGET_NODE_ID] == "TARGET"
    assert _verifies(request)
    (exchange,) = client.take()
    assert exchange.label == "push"
    assert exchange.request.startswith("POST /v1/interconn/chan/push?z=1&a=2")
    assert request.headers[h.AUTH_SIGN] not in exchange.request
    assert f"x-auth-sign: {REDACTED}" in exchange.request
    assert client.take() == ()


async def test_a_changed_routing_header_breaks_the_signature() -> None:
    """The x-ptp-* headers a check passes are signed: the verifier must see them."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _echo(request)

    client = _client(handler)
    await client.signed("POST", "/p", content=b"x", headers={"x-ptp-topic": "t1"})
    await client.aclose()
    request = seen[0]
    request.headers["x-ptp-topic"] = "t2"
    assert not _verifies(request)


async def test_unsigned_and_raw_send_what_they_are_told() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(401, content=b"\x00\xffnot json")

    client = _client(handler)
    unsigned = await client.unsigned("GET", "/v1/interconn/node/health")
    raw = await client.raw(
        "POST", "http://other.test/x", content=b"{broken", headers={"x-auth-sign": "zz"}
    )
    await client.aclose()
    assert h.AUTH_SIGN not in seen[0].headers
    assert seen[0].headers[h.SOURCE_NODE_ID] == KIT.node_id
    assert seen[1].url == "http://other.test/x" and seen[1].content == b"{broken"
    assert seen[1].headers["x-auth-sign"] == "zz"
    assert unsigned.json is None and raw.status == 401
    first, second = client.take()
    assert "HTTP 401" in first.response and "bytes of" in first.response
    assert second.request.startswith("POST /x") and "{broken" in second.request


async def test_no_answer_is_recorded_then_raised() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = _client(handler)
    with pytest.raises(httpx.ConnectError):
        await client.unsigned("GET", "/x", label="health")
    await client.aclose()
    (exchange,) = client.take()
    assert exchange.response.startswith("no answer: ConnectError")


async def test_a_dry_run_sends_nothing() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _echo(request)

    client = _client(handler, dry_run=True)
    for call in (
        client.signed("GET", "/a"),
        client.unsigned("GET", "/b"),
        client.raw("GET", "/c"),
    ):
        with pytest.raises(DryRunViolation):
            await call
    await client.aclose()
    assert seen == [] and client.take() == ()


# --- redaction ---------------------------------------------------------------------------

SECRET = st.text(alphabet="0123456789abcdefXYZ+/=", min_size=12, max_size=40)
SECRET_NAMES = st.sampled_from(
    [
        "token",
        "x-ptp-token",
        "auth_credential",
        "private_key",
        "secret",
        "password",
        "x-auth-sign",
        "access_key",
        "signature",
        "session_token",
        "seed",
    ]
)
PEM = SECRET.map(lambda s: f"-----BEGIN PRIVATE KEY-----\n{s}\n-----END PRIVATE KEY-----\n")


@settings(max_examples=60, deadline=None)
@given(
    secret=SECRET,
    name=SECRET_NAMES,
    pem=PEM,
    row=st.lists(SECRET, min_size=1, max_size=3),
    registered=SECRET,
    nested=st.booleans(),
)
def test_no_secret_value_ever_appears_in_an_exchange(
    secret: str, name: str, pem: str, row: list[str], registered: str, nested: bool
) -> None:
    """Secrets in headers and bodies, in requests and answers, by name (header or JSON
    field at any depth), as PEM anywhere, as data rows, or registered with ``secret``."""
    inner = {name: secret, "note": pem, "rows": [row], "echo": registered}
    body = {"data": {"deep": inner}} if nested else inner

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body, headers={name: secret, "x-ptp-token": secret})

    async def scenario() -> tuple[Any, ...]:
        client = _client(handler)
        client.secret(registered)
        await client.signed(
            "POST", "/p", json=body, headers={name: secret}, params={"q": registered}
        )
        await client.unsigned("POST", "/p", content=json.dumps(body).encode())
        await client.raw("POST", "/p", content=pem.encode(), headers={"x-ptp-token": secret})
        await client.aclose()
        return client.take()

    exchanges = asyncio.run(scenario())
    assert len(exchanges) == 3
    for exchange in exchanges:
        text = exchange.label + exchange.request + exchange.response
        for value in (secret, registered, pem.strip(), *row):
            assert value not in text
        assert "BEGIN PRIVATE KEY" not in text


async def test_redaction_keeps_what_is_evidence() -> None:
    """A non-secret field is kept as sent: redaction must not hide the evidence."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": 10002, "msg": "contract_id missing"})

    client = _client(handler)
    await client.signed("POST", "/v1/x", json={"contract_id": "c-1", "status": "APPROVED"})
    await client.aclose()
    (exchange,) = client.take()
    assert '"contract_id": "c-1"' in exchange.request
    assert '"code": 10002' in exchange.response and "contract_id missing" in exchange.response


# --- rate limit --------------------------------------------------------------------------


@given(rate=st.floats(0.5, 50), count=st.integers(1, 60))
def test_the_token_bucket_never_allows_more_than_rate_after_a_one_second_burst(
    rate: float, count: int
) -> None:
    """With a fake clock that only moves when the limiter sleeps: after ``count``
    acquisitions, elapsed time is at least what ``rate`` allows (burst: one second)."""
    clock = [0.0]

    async def fake_sleep(seconds: float) -> None:
        clock[0] += seconds

    async def scenario() -> None:
        limiter = RateLimiter(rate, clock=lambda: clock[0], sleep=fake_sleep)
        for _ in range(count):
            await limiter.acquire()

    asyncio.run(scenario())
    allowed_free = max(1.0, rate)
    assert clock[0] >= (count - allowed_free) / rate - 1e-9
    if count <= allowed_free:
        assert clock[0] == 0.0
