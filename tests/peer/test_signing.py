"""Properties of the canonical request string and of signing (docs/protocol.md §2)."""

from __future__ import annotations

import random
from urllib.parse import quote, urlencode

from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.crypto import generate_private_key
from isthmus.peer.signing import (
    SIGNATURE_VERSION,
    NodeIdentity,
    canonical_string,
    decode_signature,
    normalise_path,
    normalise_query,
    sign_request,
    verify_signature,
)
from isthmus.wire import headers as h

IDENTITY = NodeIdentity("NODE_A", "INST_A", generate_private_key("ED25519"))
PUBLIC = IDENTITY.private_key.public_key()
pairs = st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), max_size=6)
path_segments = st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=5)


@given(pairs, st.randoms())
def test_query_order_does_not_change_the_signature(
    items: list[tuple[str, str]], rnd: random.Random
) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert normalise_query(urlencode(items)) == normalise_query(urlencode(shuffled))


@given(pairs)
def test_query_normalisation_is_idempotent(items: list[tuple[str, str]]) -> None:
    once = normalise_query(urlencode(items))
    assert normalise_query(once) == once


@given(path_segments)
def test_path_encoding_variants_sign_alike(segments: list[str]) -> None:
    raw = "/" + "/".join(segments)
    encoded = "/" + "/".join(quote(s, safe="") for s in segments if "/" not in s)
    if all("/" not in s for s in segments):
        assert normalise_path(raw) == normalise_path(encoded)
    assert normalise_path(normalise_path(raw)) == normalise_path(raw)
    assert "\n" not in normalise_path(raw)


def test_canonical_string_layout_is_as_documented() -> None:
    text = canonical_string(
        method="post",
        path="/v1/interconn/node/update",
        query="b=2&a=1",
        timestamp="1700000000000",
        nonce="n1",
        source_node_id="A",
        target_node_id="B",
        body=b"{}",
        ptp_headers={"X-PTP-Topic": "a b", "x-ptp-session-id": "s1", "x-trace-id": "ignored"},
    ).decode()
    assert text.split("\n") == [
        SIGNATURE_VERSION,
        "POST",
        "/v1/interconn/node/update",
        "a=1&b=2",
        "1700000000000",
        "n1",
        "A",
        "B",
        "x-ptp-session-id=s1&x-ptp-topic=a%20b",
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    ]


@settings(max_examples=50)
@given(body=st.binary(max_size=256), query=pairs, flip=st.integers(min_value=0))
def test_any_change_to_the_body_breaks_the_signature(
    body: bytes, query: list[tuple[str, str]], flip: int
) -> None:
    q = urlencode(query)
    headers = sign_request(
        IDENTITY, method="POST", path="/p", query=q, target_node_id="B", body=body
    )
    message = canonical_string(
        method="POST",
        path="/p",
        query=q,
        timestamp=headers[h.TIMESTAMP],
        nonce=headers[h.NONCE],
        source_node_id="NODE_A",
        target_node_id="B",
        body=body,
    )
    assert verify_signature(PUBLIC, headers[h.AUTH_SIGN], message)
    tampered = bytearray(body or b"\0")
    tampered[flip % len(tampered)] ^= 0x01
    other = canonical_string(
        method="POST",
        path="/p",
        query=q,
        timestamp=headers[h.TIMESTAMP],
        nonce=headers[h.NONCE],
        source_node_id="NODE_A",
        target_node_id="B",
        body=bytes(tampered),
    )
    assert not verify_signature(PUBLIC, headers[h.AUTH_SIGN], other)


@given(st.text(max_size=200))
def test_signature_header_decoding_never_raises(value: str) -> None:
    decoded = decode_signature(value)
    assert decoded is None or isinstance(decoded, bytes)
    assert not verify_signature(PUBLIC, value, b"message")


def test_signed_headers_use_the_spec_spelling() -> None:
    headers = sign_request(
        IDENTITY, method="GET", path="/p", query="", target_node_id="B", body=b""
    )
    assert set(headers) == {
        h.SOURCE_NODE_ID,
        h.TARGET_NODE_ID,
        h.TIMESTAMP,
        h.NONCE,
        h.TRACE_ID,
        h.AUTH_SIGN,
        h.AUTH_TYPE,
        h.CSRF_PROTECTION,
    }
    assert headers[h.TIMESTAMP].isdigit() and len(headers[h.TIMESTAMP]) == 13
