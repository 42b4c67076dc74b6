"""The interoperable RA-TLS CBOR codec: round trips, and every malformed input named."""

from __future__ import annotations

import hashlib

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.tee import ratls_cbor
from isthmus.tee.ratls_cbor import Claims, decode_claims, decode_evidence
from isthmus.wire.errors import TeeMalformed

ALGORITHMS = sorted(ratls_cbor.HASH_IDS)


@st.composite
def claims(draw: st.DrawFn) -> Claims:
    algorithm = draw(st.sampled_from(ALGORITHMS))
    size = hashlib.new(algorithm).digest_size
    key_hash = draw(st.binary(min_size=size, max_size=size))
    nonce = draw(st.none() | st.binary(max_size=80))
    return Claims(hash_algorithm=algorithm, key_hash=key_hash, nonce=nonce)


@settings(max_examples=60, deadline=None)
@given(claims(), st.binary(max_size=2048), st.sampled_from([60000, 0x1A7501, 0x1A7504]))
def test_evidence_round_trips(claim: Claims, quote: bytes, tag: int) -> None:
    buffer = ratls_cbor.encode_claims(claim)
    tagged = decode_evidence(ratls_cbor.encode_evidence(tag, quote, buffer))
    assert (tagged.tag, tagged.evidence, tagged.claims_buffer) == (tag, quote, buffer)
    assert decode_claims(tagged.claims_buffer) == claim


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_decode_or_are_malformed(data: bytes) -> None:
    for decode in (decode_evidence, decode_claims):
        try:
            decode(data)
        except TeeMalformed as exc:
            assert exc.details["key"] in {"evidence", "claims", "pubkey-hash", "nonce"}


def _claims_buffer(**overrides: object) -> bytes:
    body: dict[str, object] = {"pubkey-hash": cbor2.dumps([1, bytes(32)])}
    body.update(overrides)
    return cbor2.dumps(body)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (b"\xd9\xea\x60", "evidence"),  # tag without content
        (cbor2.dumps([b"q", b"c"]), "evidence"),  # not tagged
        (cbor2.dumps(cbor2.CBORTag(60000, [b"q"])), "evidence"),  # one entry
        (cbor2.dumps(cbor2.CBORTag(60000, ["q", b"c"])), "evidence"),  # text, not bytes
        (cbor2.dumps(cbor2.CBORTag(60000, [b"q", b"c"])) + b"\x00", "evidence"),  # trailing
    ],
)
def test_malformed_evidence_is_named(data: bytes, key: str) -> None:
    with pytest.raises(TeeMalformed) as caught:
        decode_evidence(data)
    assert caught.value.details["key"] == key


@pytest.mark.parametrize(
    ("buffer", "key"),
    [
        (cbor2.dumps([1, 2]), "claims"),
        (cbor2.dumps({1: b""}), "claims"),
        (cbor2.dumps({"nonce": b"n"}), "pubkey-hash"),
        (_claims_buffer(**{"pubkey-hash": cbor2.dumps([2, bytes(32)])}), "pubkey-hash"),
        (_claims_buffer(**{"pubkey-hash": cbor2.dumps([1, bytes(31)])}), "pubkey-hash"),
        (_claims_buffer(**{"pubkey-hash": cbor2.dumps([1])}), "pubkey-hash"),
        (_claims_buffer(**{"pubkey-hash": cbor2.dumps([True, bytes(32)])}), "pubkey-hash"),
        (_claims_buffer(**{"pubkey-hash": b"\xff"}), "pubkey-hash"),
        (_claims_buffer(nonce="text"), "nonce"),
    ],
)
def test_malformed_claims_are_named(buffer: bytes, key: str) -> None:
    with pytest.raises(TeeMalformed) as caught:
        decode_claims(buffer)
    assert caught.value.details["key"] == key


def test_unknown_extra_claims_are_ignored() -> None:
    claim = decode_claims(_claims_buffer(**{"x-custom": b"v"}))
    assert claim == Claims(hash_algorithm="sha256", key_hash=bytes(32))
