"""The report-data layout: [0:32] user data or nonce, [32:64] SHA-256 of the canonical
PEM of the bound key; the hash depends on the key only, not on how its PEM is written."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.crypto.suites import generate_private_key
from isthmus.tee.binding import (
    binding_attributes,
    canonical_pem,
    public_key_hash,
    report_data,
)
from isthmus.wire.errors import TeeMalformed

KEY = generate_private_key("SHA256_ECDSA").public_key()


def test_the_hash_ignores_how_the_pem_is_written() -> None:
    pem = KEY.to_pem()
    body = "".join(pem.splitlines()[1:-1])
    rewrapped = "-----BEGIN PUBLIC KEY-----\r\n" + body + "\r\n-----END PUBLIC KEY-----"
    assert public_key_hash(rewrapped) == public_key_hash(pem)
    assert canonical_pem(pem) == pem.encode()
    assert public_key_hash(pem) == hashlib.sha256(pem.encode()).digest()


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "nothing",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    ],
)
def test_what_is_not_a_public_key_is_refused(bad: str) -> None:
    with pytest.raises(TeeMalformed):
        public_key_hash(bad)


@settings(max_examples=50, deadline=None)
@given(user=st.binary(max_size=32), nonce=st.binary(max_size=32), bind=st.booleans())
def test_the_layout(user: bytes, nonce: bytes, bind: bool) -> None:
    data = report_data(public_key_pem=KEY.to_pem() if bind else None, user_data=user, nonce=nonce)
    assert len(data) == 64
    if nonce and user:
        assert data[:32] == hashlib.sha256(nonce + user).digest()
    else:
        assert data[:32] == (nonce or user).ljust(32, b"\0")
    assert data[32:] == (public_key_hash(KEY.to_pem()) if bind else bytes(32))
    attributes = binding_attributes(data)
    assert attributes["hex_user_data"] == attributes["hex_nonce"] == data[:32].hex().upper()


def test_oversized_fields_are_refused() -> None:
    with pytest.raises(TeeMalformed) as info:
        report_data(public_key_pem=None, nonce=bytes(33))
    assert info.value.details["key"] == "hex_nonce"
    with pytest.raises(TeeMalformed):
        binding_attributes(bytes(63))
