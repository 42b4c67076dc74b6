"""Paillier-DJN: key structure, round trips at the signed boundary, homomorphisms, refusals."""

from __future__ import annotations

import gmpy2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.crypto.phe import (
    KeySizeRefused,
    MalformedCiphertext,
    PaillierPrivateKey,
    PaillierPublicKey,
    PlaintextOutOfRange,
    check_key_bits,
    generate_keypair,
)
from isthmus.wire.errors import InvalidKey

# plaintexts small enough that sums and small products stay in range of a 1024-bit key
SMALL = st.integers(min_value=-(2**400), max_value=2**400)
FACTORS = st.integers(min_value=-(2**100), max_value=2**100)
FAST = settings(max_examples=40, deadline=None)


def test_key_has_the_ppca_structure(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    p, q = sk.p, sk.q
    assert p * q == pk.n
    assert pk.bits == 1024
    assert p % 4 == 3 and q % 4 == 3
    assert gmpy2.gcd(p - 1, q - 1) == 2
    assert gmpy2.is_prime(p) and gmpy2.is_prime(q)
    assert sk.lam == (p - 1) * (q - 1) // 2
    # hs = h^n for h = -x^2: an n-th residue, so hs^lambda = 1 mod n^2; CRT decryption
    # relies on it (a random unit instead of hs fails here and in every round trip)
    assert pow(pk.hs, sk.lam, pk.n * pk.n) == 1
    # h = -x^2 is a quadratic non-residue-times-square: its Jacobi symbol mod n is +1
    assert gmpy2.jacobi(pk.hs % pk.n, pk.n) == 1


@FAST
@given(m=st.integers(min_value=-(2**1022), max_value=2**1022))
def test_round_trip(pk: PaillierPublicKey, sk: PaillierPrivateKey, m: int) -> None:
    m = max(-pk.max_plaintext, min(pk.max_plaintext, m))
    c = pk.encrypt(m)
    assert sk.decrypt(c) == m
    assert sk.decrypt_raw(c) == sk.decrypt_raw_reference(c) == m % pk.n


def test_signed_boundary(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    top = pk.max_plaintext
    assert top == (pk.n - 1) // 2
    for m in (0, 1, -1, top, -top, top - 1, -top + 1):
        assert sk.decrypt(pk.encrypt(m)) == m
    # negatives are n - |m|, and the first value above n/2 is the most negative one
    assert pk.encode_signed(-1) == pk.n - 1
    assert pk.encode_signed(-top) == top + 1
    assert pk.decode_signed(top) == top
    assert pk.decode_signed(top + 1) == -top
    for m in (top + 1, -top - 1, pk.n, -pk.n, 2**2000):
        with pytest.raises(PlaintextOutOfRange, match="out of range"):
            pk.encrypt(m)


def test_non_integer_plaintext_is_refused(pk: PaillierPublicKey) -> None:
    with pytest.raises(PlaintextOutOfRange, match="must be an integer, got float"):
        pk.encrypt(1.5)  # type: ignore[arg-type]


def test_encryption_is_randomised(pk: PaillierPublicKey) -> None:
    assert len({pk.encrypt(7) for _ in range(5)}) == 5


@FAST
@given(a=SMALL, b=SMALL)
def test_add_and_sub(pk: PaillierPublicKey, sk: PaillierPrivateKey, a: int, b: int) -> None:
    ca, cb = pk.encrypt(a), pk.encrypt(b)
    assert sk.decrypt(pk.add(ca, cb)) == a + b
    assert sk.decrypt(pk.sub(ca, cb)) == a - b
    assert sk.decrypt(pk.neg(ca)) == -a
    assert sk.decrypt(pk.add_plain(ca, b)) == a + b
    assert sk.decrypt(pk.rerandomize(ca)) == a


@FAST
@given(a=SMALL, k=FACTORS)
def test_plain_multiply(pk: PaillierPublicKey, sk: PaillierPrivateKey, a: int, k: int) -> None:
    assert sk.decrypt(pk.mul_plain(pk.encrypt(a), k)) == a * k


@FAST
@given(values=st.lists(SMALL, max_size=8))
def test_sum(pk: PaillierPublicKey, sk: PaillierPrivateKey, values: list[int]) -> None:
    assert sk.decrypt(pk.sum(pk.encrypt(v) for v in values)) == sum(values)


def test_malformed_ciphertexts_are_refused(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    n2 = pk.n * pk.n
    good = pk.encrypt(3)
    bad: list[object] = [0, -1, n2, n2 + 1, sk.p, sk.q * 5, pk.n]
    for c in bad:
        for operation in (
            lambda c=c: sk.decrypt(c),  # type: ignore[misc]
            lambda c=c: pk.add(good, c),  # type: ignore[misc]
            lambda c=c: pk.sub(good, c),  # type: ignore[misc]
            lambda c=c: pk.mul_plain(c, 2),  # type: ignore[misc]
            lambda c=c: pk.sum([good, c]),  # type: ignore[misc]
        ):
            with pytest.raises(MalformedCiphertext, match="Paillier ciphertext"):
                operation()
    for c in ("123", 1.0, None, b"\x01"):
        with pytest.raises(MalformedCiphertext, match="not an integer"):
            sk.decrypt(c)  # type: ignore[arg-type]


def test_key_size_policy() -> None:
    check_key_bits(2048)
    check_key_bits(3072)
    check_key_bits(1024, allow_insecure=True)
    with pytest.raises(KeySizeRefused, match="1024 bits is refused: the minimum is 2048"):
        check_key_bits(1024)
    with pytest.raises(KeySizeRefused, match="512 bits"):
        check_key_bits(512, allow_insecure=True)
    with pytest.raises(KeySizeRefused, match="1024"):
        generate_keypair(1024)


def test_partner_public_key_checks(pk: PaillierPublicKey) -> None:
    with pytest.raises(KeySizeRefused, match="1024 bits is refused"):
        PaillierPublicKey.from_parts(pk.n, pk.hs)
    assert PaillierPublicKey.from_parts(pk.n, pk.hs, allow_insecure=True) == pk
    with pytest.raises(InvalidKey, match="hs is not an element"):
        PaillierPublicKey.from_parts(pk.n, 0, allow_insecure=True)
    with pytest.raises(InvalidKey, match="odd"):
        PaillierPublicKey.from_parts(pk.n + 1, pk.hs, allow_insecure=True)


def test_private_key_never_shows_its_factors(sk: PaillierPrivateKey) -> None:
    shown = repr(sk) + str(sk)
    assert str(sk.p) not in shown and hex(sk.p)[2:] not in shown
    with pytest.raises(InvalidKey, match="p \\* q"):
        PaillierPrivateKey(sk.p, sk.q + 2, sk.public_key)


def test_every_key_has_exactly_the_asked_size() -> None:
    for _ in range(8):
        public, private = generate_keypair(1024, allow_insecure=True)
        assert public.bits == 1024
        assert private.p.bit_length() == private.q.bit_length() == 512


def test_keygen_rejects_primes_sharing_more_than_two(monkeypatch: pytest.MonkeyPatch) -> None:
    from isthmus.crypto.phe import paillier

    def prime_7_mod_12() -> int:  # 3 mod 4 and 1 mod 3: gcd(p-1, q-1) is a multiple of 6
        while True:
            candidate = paillier._random_prime(512)
            if candidate % 12 == 7:
                return int(candidate)

    bad = [prime_7_mod_12(), prime_7_mod_12()]
    real = paillier._random_prime
    supply = iter(bad)
    monkeypatch.setattr(paillier, "_random_prime", lambda bits: next(supply, None) or real(bits))
    _public, private = generate_keypair(1024, allow_insecure=True)
    assert private.p not in bad and private.q not in bad
    assert gmpy2.gcd(private.p - 1, private.q - 1) == 2
