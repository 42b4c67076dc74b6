"""SM2 through libcrypto checked against the standard's example and, both ways, against
the pure-Python signer and verifier it replaces; malformed input is refused, never
raised; the fallback keeps working when libcrypto cannot help."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.crypto import openssl_sm2, sm2
from isthmus.crypto.sm2 import N, Sm2Point

pytestmark = pytest.mark.skipif(
    not openssl_sm2.available(), reason="libcrypto without SM2/SM3 (the fallback is tested)"
)

# GM/T 0003.5-2012 Annex A.2 / GB/T 32918.5-2017 Annex A (fixed k: verify only).
KAT_PUBLIC = Sm2Point(
    0x09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020,
    0xCCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13,
)
KAT_SIGNATURE = sm2.encode_signature(
    0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3,
    0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA,
)

scalars = st.integers(min_value=1, max_value=N - 2)
idents = st.one_of(st.just(sm2.DEFAULT_ID), st.binary(max_size=40))


def _raw_verify(public: Sm2Point, message: bytes, signature: bytes, ident: bytes) -> bool | None:
    return openssl_sm2.verify(public.encode(), message, signature, ident)


def test_standard_example_verifies_in_libcrypto() -> None:
    message = b"message digest"
    assert _raw_verify(KAT_PUBLIC, message, KAT_SIGNATURE, sm2.DEFAULT_ID) is True
    assert _raw_verify(KAT_PUBLIC, b"message digesT", KAT_SIGNATURE, sm2.DEFAULT_ID) is False
    assert _raw_verify(KAT_PUBLIC, message, KAT_SIGNATURE, b"1234567812345679") is False
    assert sm2.verify(KAT_PUBLIC, message, KAT_SIGNATURE)


@settings(max_examples=20, deadline=None)
@given(private=scalars, message=st.binary(max_size=300), ident=idents)
def test_libcrypto_and_python_verify_each_other(private: int, message: bytes, ident: bytes) -> None:
    public = sm2.public_point(private)
    by_openssl = openssl_sm2.sign(private.to_bytes(32, "big"), public.encode(), message, ident)
    assert by_openssl is not None
    assert sm2.verify_python(public, message, by_openssl, ident=ident)
    by_python = sm2.sign_python(private, message, ident=ident, public=public)
    assert _raw_verify(public, message, by_python, ident) is True
    assert sm2.verify(public, message, by_python, ident=ident)
    # the public API signs in libcrypto here; the Python verifier must agree
    assert sm2.verify_python(public, message, sm2.sign(private, message, ident=ident), ident=ident)


@settings(max_examples=30, deadline=None)
@given(
    private=scalars, message=st.binary(max_size=64), position=st.integers(0), bit=st.integers(0, 7)
)
def test_paths_agree_on_tampered_signatures(
    private: int, message: bytes, position: int, bit: int
) -> None:
    public = sm2.public_point(private)
    signature = bytearray(sm2.sign(private, message, public=public))
    signature[position % len(signature)] ^= 1 << bit
    tampered = bytes(signature)
    assert sm2.verify(public, message, tampered) == sm2.verify_python(public, message, tampered)
    assert sm2.verify(public, message, tampered) is False


def test_random_and_foreign_signatures_are_refused() -> None:
    private = sm2.generate_private_scalar()
    public = sm2.public_point(private)
    other = sm2.public_point(sm2.generate_private_scalar())
    message = os.urandom(100)
    good = sm2.sign(private, message)
    assert sm2.verify(public, message, good)
    assert sm2.verify(other, message, good) is False
    assert sm2.verify(Sm2Point.at_infinity(), message, good) is False
    for _ in range(20):
        r, s = (1 + int.from_bytes(os.urandom(32), "big") % (N - 1) for _ in range(2))
        forged = sm2.encode_signature(r, s)
        assert sm2.verify(public, message, forged) is False
        assert sm2.verify_python(public, message, forged) is False


def test_libcrypto_refuses_bad_keys_without_raising() -> None:
    message, ident = b"m", sm2.DEFAULT_ID
    off_curve = b"\x04" + bytes(31) + b"\x01" + bytes(31) + b"\x02"
    assert openssl_sm2.verify(off_curve, message, KAT_SIGNATURE, ident) is None
    assert openssl_sm2.verify(b"\x04", message, KAT_SIGNATURE, ident) is None
    assert openssl_sm2.sign(bytes(32), off_curve, message, ident) is None
    assert openssl_sm2.verify(KAT_PUBLIC.encode(), message, b"", ident) is False
    assert openssl_sm2.verify(KAT_PUBLIC.encode(), message, os.urandom(72), ident) is False


def test_fallback_when_libcrypto_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    private = sm2.generate_private_scalar()
    public = sm2.public_point(private)
    monkeypatch.setattr(openssl_sm2, "sign", lambda *args: None)
    monkeypatch.setattr(openssl_sm2, "verify", lambda *args: None)
    signature = sm2.sign(private, b"x", public=public)
    assert sm2.verify(public, b"x", signature)
    assert not sm2.verify(public, b"y", signature)


def test_fallback_when_libcrypto_lacks_sm2(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object) -> None:
        raise AssertionError("libcrypto used although unavailable")

    monkeypatch.setattr(openssl_sm2, "available", lambda: False)
    monkeypatch.setattr(openssl_sm2, "sign", forbidden)
    monkeypatch.setattr(openssl_sm2, "verify", forbidden)
    assert sm2.verify(KAT_PUBLIC, b"message digest", KAT_SIGNATURE)
    private = sm2.generate_private_scalar()
    public = sm2.public_point(private)
    assert sm2.verify(public, b"x", sm2.sign(private, b"x"))


def test_long_ids_stay_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """libcrypto refuses IDs of 8191 octets; ours takes them, so they never reach it."""
    monkeypatch.setattr(openssl_sm2, "verify", lambda *args: False)
    private = sm2.generate_private_scalar()
    public = sm2.public_point(private)
    ident = b"i" * 8191
    assert sm2.verify(public, b"x", sm2.sign(private, b"x", ident=ident), ident=ident)
    with pytest.raises(ValueError):
        sm2.sign(private, b"x", ident=b"i" * 8192)
