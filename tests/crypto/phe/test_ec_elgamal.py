"""Exponential EC-ElGamal on SM2 and Ed25519: the group arithmetic against independent
references, the homomorphisms (hypothesis), the decryption bound, the wire conversion and
the refusal of every kind of invalid point, by field name."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl import bindings

from isthmus.crypto import sm2
from isthmus.crypto.phe import FixedPointEncoder
from isthmus.crypto.phe.ec_elgamal import (
    DlogTable,
    EcElGamalPrivateKey,
    EcElGamalPublicKey,
    generate_keypair,
)
from isthmus.crypto.phe.ec_groups import (
    CURVE_ED25519,
    CURVE_SM2,
    EcGroup,
    batch_invert,
    ed25519_group,
    group_for,
    sm2_group,
)
from isthmus.crypto.phe.errors import (
    InvalidPoint,
    MalformedCiphertext,
    PlaintextOutOfRange,
    UnsupportedCurve,
)
from isthmus.wire import exchange as x
from isthmus.wire import exchange_he as h

# Small bound and table: a decryption walks at most BOUND / (2 * TABLE + 1) giant steps.
BOUND = 1 << 20
TABLE = 1 << 9
CURVES = ["SM2", "ED25519"]
GROUPS = [sm2_group(), ed25519_group()]
SCALARS = st.integers(-(2**300), 2**300)
PLAIN = st.integers(-(BOUND // 4) + 1, BOUND // 4 - 1)


@pytest.fixture(scope="module", params=CURVES)
def keys(request: pytest.FixtureRequest) -> tuple[EcElGamalPublicKey, EcElGamalPrivateKey]:
    return generate_keypair(request.param, bound=BOUND, table_size=TABLE)


KEYS = {c: generate_keypair(c, bound=BOUND, table_size=TABLE) for c in CURVES}
KEY = st.sampled_from(CURVES).map(lambda c: KEYS[c])
Keys = tuple[EcElGamalPublicKey, EcElGamalPrivateKey]


# --- the groups ----------------------------------------------------------------------


def test_ed25519_generator_is_rfc8032_base_point() -> None:
    group = ed25519_group()
    assert group.generator.hex() == "58" + "66" * 31
    gx, gy = group.affine(group.generator) or (0, 0)
    assert gx == 15112221349535400772501151409588531511454012693041857206046113283949847762202
    assert gy == 46316835694926478169428394003475163141307993866256225615783033603165251855960


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
def test_order_times_generator_is_identity(group: EcGroup) -> None:
    assert group.base_mul(group.order) == group.identity
    assert group.mul(group.order + 5, group.generator) == group.base_mul(5)
    assert group.base_mul(-1) == group.neg(group.generator)


@given(k=st.integers(1, sm2.N - 1))
@settings(max_examples=25, deadline=None)
def test_sm2_matches_the_signature_code(k: int) -> None:
    """An independent implementation (isthmus.crypto.sm2) gives the same k·G."""
    group = sm2_group()
    expected = sm2.mul_generator(k)
    point = group.base_mul(k)
    assert point == b"\x04" + expected.x.to_bytes(32, "big") + expected.y.to_bytes(32, "big")
    assert group.mul(k, group.generator) == point  # variable-base path


@given(a=SCALARS, b=SCALARS, k=SCALARS)
@settings(max_examples=30, deadline=None)
def test_group_laws(a: int, b: int, k: int) -> None:
    for group in GROUPS:
        pa, pb = group.base_mul(a), group.base_mul(b)
        assert group.add(pa, pb) == group.base_mul(a + b)
        assert group.sub(pa, pb) == group.base_mul(a - b)
        assert group.mul(k, pa) == group.base_mul(k * a)
        assert group.fixed_mul(k, pa) == group.base_mul(k * a)
        assert group.add(pa, group.neg(pa)) == group.identity
        assert group.from_wire(group.to_wire(pa), "p") == pa


@given(a=st.integers(0, 2**64), b=st.integers(1, 2**64))
@settings(max_examples=30, deadline=None)
def test_batch_add_matches_add(a: int, b: int) -> None:
    for group in GROUPS:
        pts = [group.base_mul(a + i) for i in range(-2, 3)]
        q = group.base_mul(b)
        q_affine = group.affine(q)
        assert q_affine is not None
        added = group.batch_add([group.affine(p) for p in pts], q_affine)
        assert added == [group.affine(group.add(p, q)) for p in pts]


def test_batch_add_doubles_and_cancels() -> None:
    group = sm2_group()
    g = group.affine(group.generator)
    minus = group.affine(group.neg(group.generator))
    assert g is not None and minus is not None
    assert group.batch_add([g, minus, None], g) == [
        group.affine(group.base_mul(2)),
        None,
        g,
    ]


def test_batch_invert() -> None:
    p = 1009
    values = [1, 2, 3, 500, 1008]
    assert [v * inv % p for v, inv in zip(values, batch_invert(values, p), strict=True)] == [
        1
    ] * len(values)


# --- the homomorphisms -----------------------------------------------------------------


@given(keys=KEY, a=PLAIN, b=PLAIN, k=st.integers(-3, 3))
@settings(max_examples=30, deadline=None)
def test_homomorphisms(keys: Keys, a: int, b: int, k: int) -> None:
    pk, sk = keys
    ca, cb = pk.encrypt(a), pk.encrypt(b)
    assert sk.decrypt_many([ca, cb]) == [a, b]
    assert sk.decrypt(pk.add(ca, cb)) == a + b
    assert sk.decrypt(pk.sub(ca, cb)) == a - b
    assert sk.decrypt(pk.neg(ca)) == -a
    assert sk.decrypt(pk.mul(ca, k)) == k * a
    assert sk.decrypt(pk.add_plain(ca, b)) == a + b


@given(keys=KEY, values=st.lists(st.integers(-1000, 1000), max_size=12))
@settings(max_examples=20, deadline=None)
def test_sums_over_arrays(keys: Keys, values: list[int]) -> None:
    pk, sk = keys
    cs = pk.encrypt_many(values)
    assert sk.decrypt_many(cs) == values
    assert sk.decrypt(pk.sum(cs)) == sum(values)


@given(keys=KEY, reals=st.lists(st.floats(-100, 100), min_size=1, max_size=8))
@settings(max_examples=20, deadline=None)
def test_fixed_point_sums(keys: Keys, reals: list[float]) -> None:
    """Fixed point at scale 2^8: the decrypted sum decodes to the sum of the truncated
    encodings, within one unit per summand of the real sum."""
    pk, sk = keys
    encoder = FixedPointEncoder(scale=1 << 8)
    encoded = encoder.encode_many(reals)
    total = sk.decrypt(pk.sum(pk.encrypt_many(encoded)))
    assert total == sum(encoded)
    assert abs(encoder.decode(total) - sum(reals)) <= len(reals) / 256 + 1e-9


def test_encryption_is_randomised(keys: Keys) -> None:
    pk, sk = keys
    a, b = pk.encrypt(7), pk.encrypt(7)
    assert a != b
    assert sk.decrypt_many([a, b]) == [7, 7]


# --- the decryption bound --------------------------------------------------------------


@pytest.mark.parametrize("m", [BOUND - 1, -(BOUND - 1), TABLE, -TABLE, 2 * TABLE + 1, 0])
def test_bound_edges_decrypt(keys: Keys, m: int) -> None:
    pk, sk = keys
    assert sk.decrypt(pk.encrypt(m)) == m


@pytest.mark.parametrize("m", [BOUND, -BOUND, BOUND + 2 * TABLE + 5, 2**100])
def test_outside_the_bound_is_refused_not_wrapped(keys: Keys, m: int) -> None:
    pk, sk = keys
    with pytest.raises(PlaintextOutOfRange, match="decryption bound"):
        sk.decrypt(pk.encrypt(m))


def test_plaintext_beyond_the_group_is_refused(keys: Keys) -> None:
    pk, _ = keys
    with pytest.raises(PlaintextOutOfRange):
        pk.encrypt(pk.group.order)


@pytest.mark.parametrize("size", [1, 2, 3, 7])
@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
def test_tiny_tables_walk_every_value(group: EcGroup, size: int) -> None:
    table = DlogTable(group, size)
    values = list(range(-40, 41))
    assert table.solve([group.base_mul(m) for m in values], 41) == values


def test_a_key_collision_is_verified_not_trusted() -> None:
    """A table where 1·G's entry carries 6·G's key (sorted first, a planted 64-bit
    collision) still decrypts right: every hit is checked by recomputing m·G, so the
    wrong candidate ±1 is passed over (a mutation trusting the first hit returns ±1)."""
    group = ed25519_group()
    table = DlogTable(group, 8)
    values = list(table.values)
    table.keys[values.index(1)] = table.keys[values.index(6)]
    order = np.argsort(table.keys, kind="stable")
    table.keys, table.values = table.keys[order], table.values[order]
    assert table.solve([group.base_mul(m) for m in (6, -6, 5, -5, 2)], 100) == [6, -6, 5, -5, 2]


def test_table_size_and_memory() -> None:
    table = DlogTable(sm2_group(), 1000)
    assert table.size == 1000 and table.nbytes == 12 * 1000
    with pytest.raises(ValueError):
        DlogTable(sm2_group(), 0)


# --- the wire and invalid points -------------------------------------------------------


def test_public_key_and_ciphertexts_through_the_exchange(keys: Keys) -> None:
    pk, sk = keys
    for dialect in (x.HEU, x.PPCA):
        received = EcElGamalPublicKey.from_wire(
            h.unpack_ec_elgamal_public_key(h.pack_ec_elgamal_public_key(pk.to_wire(), dialect))
        )
        assert received == pk
        values = np.arange(-3, 3).reshape(3, 2)
        cs = [pk.encrypt(int(v)) for v in values.ravel()]
        packed = h.pack_ec_elgamal_ciphertexts(
            [pk.ciphertext_to_wire(c) for c in cs], values.shape, dialect
        )
        back = pk.ciphertexts_from_wire(h.unpack_ec_elgamal_ciphertexts(packed, dialect))
        assert back.shape == (3, 2)
        assert sk.decrypt_many(list(back.ravel())) == values.ravel().tolist()


def test_wire_encodings_are_the_digest_s() -> None:
    sm2_pk, _ = KEYS["SM2"]
    ed_pk, _ = KEYS["ED25519"]
    assert sm2_pk.to_wire().curve == CURVE_SM2 and sm2_pk.to_wire().h[0] in (2, 3)
    assert len(sm2_pk.to_wire().h) == 33  # X9.62 compressed
    assert ed_pk.to_wire().curve == CURVE_ED25519 and ed_pk.to_wire().h == ed_pk.h  # RFC 8032


def _sm2_off_curve() -> bytes:
    group = sm2_group()
    for i in range(1, 100):
        candidate = b"\x02" + i.to_bytes(32, "big")
        try:
            group.from_wire(candidate, "probe")
        except InvalidPoint:
            return candidate
    raise AssertionError("no x off the curve below 100")


ORDER2 = (2**255 - 19 - 1).to_bytes(32, "little")  # (0, -1): order 2
NON_CANONICAL_Y = (2**255 - 19 + 1).to_bytes(32, "little")  # y = p + 1, i.e. y = 1 not reduced


@pytest.mark.parametrize(
    ("curve", "data", "reason"),
    [
        (CURVE_SM2, b"\x02" + (2**256 - 1).to_bytes(32, "big"), "field prime"),
        (CURVE_SM2, b"\x05" + bytes(32), "X9.62"),
        (CURVE_SM2, b"\x02" + bytes(31), "X9.62"),
        (CURVE_SM2, b"\x04" + bytes(64), "not a point of SM2"),
        (CURVE_ED25519, ORDER2, "prime-order"),
        (CURVE_ED25519, NON_CANONICAL_Y, "prime-order"),
        (CURVE_ED25519, bytes(31), "32 bytes"),
    ],
)
def test_invalid_points_are_refused_by_field(curve: int, data: bytes, reason: str) -> None:
    group = group_for(curve)
    with pytest.raises(InvalidPoint, match=reason) as caught:
        group.from_wire(data, "ciphertext [1].c2")
    assert "ciphertext [1].c2" in caught.value.message
    assert isinstance(caught.value, MalformedCiphertext)


def test_sm2_off_curve_and_mixed_order_ed25519_are_refused() -> None:
    off = _sm2_off_curve()
    with pytest.raises(InvalidPoint, match="no y"):
        sm2_group().from_wire(off, "h")
    group = ed25519_group()
    mixed = bindings.crypto_core_ed25519_add(group.base_mul(3), ORDER2)  # 3G + order-2 point
    with pytest.raises(InvalidPoint, match="prime-order"):
        group.from_wire(bytes(mixed), "h")


def test_a_partner_s_bad_ciphertext_is_named(keys: Keys) -> None:
    pk, _ = keys
    good = pk.ciphertext_to_wire(pk.encrypt(1))
    bad = (good[0], b"\x02" + (2**256 - 1).to_bytes(32, "big"))
    if pk.group.curve_type == CURVE_ED25519:
        bad = (good[0], ORDER2)
    packed = h.pack_ec_elgamal_ciphertexts([good, bad], [1, 2])
    with pytest.raises(InvalidPoint, match=r"ciphertext \[0, 1\]\.c2"):
        pk.ciphertexts_from_wire(h.unpack_ec_elgamal_ciphertexts(packed))


def test_public_key_refusals() -> None:
    with pytest.raises(InvalidPoint, match="identity"):
        EcElGamalPublicKey.from_wire(h.EcElGamalPublicKey(CURVE_SM2, b"\x00"))
    with pytest.raises(InvalidPoint, match="public key h"):
        EcElGamalPublicKey.from_wire(h.EcElGamalPublicKey(CURVE_ED25519, ORDER2))
    with pytest.raises(UnsupportedCurve, match="curve 1"):
        EcElGamalPublicKey.from_wire(h.EcElGamalPublicKey(1, b"\x02" + bytes(32)))


def test_identity_is_a_valid_ciphertext_point(keys: Keys) -> None:
    """Enc(a) - Enc(a) is (O, O): it must survive the wire and decrypt to 0."""
    pk, sk = keys
    c = pk.encrypt(9)
    zero = pk.sub(c, c)
    assert zero.c1 == pk.group.identity
    back = pk.ciphertext_from_wire(pk.ciphertext_to_wire(zero), "c")
    assert sk.decrypt(back) == 0


def test_private_key_repr_hides_the_secret(keys: Keys) -> None:
    _, sk = keys
    assert str(sk.x) not in repr(sk)


@given(k=SCALARS, a=st.integers(1, 2**64))
@settings(max_examples=15, deadline=None)
def test_sm2_python_multiplication_without_openssl(k: int, a: int) -> None:
    """The pure-Python path a machine without OpenSSL's SM2 takes gives the same
    products as the OpenSSL one."""
    from isthmus.crypto.phe import ec_groups

    group = sm2_group()
    point = group.base_mul(a)
    with_openssl = group.mul(k, point)
    original = ec_groups._openssl_sm2
    ec_groups._openssl_sm2 = lambda: None  # type: ignore[assignment]
    try:
        assert group.mul(k, point) == with_openssl == group.base_mul(k * a)
    finally:
        ec_groups._openssl_sm2 = original  # type: ignore[assignment]


@given(keys=KEY, m=PLAIN, r=st.integers(1, 2**255))
@settings(max_examples=20, deadline=None)
def test_owner_encryption_is_the_same_ciphertext(keys: Keys, m: int, r: int) -> None:
    """``(r·G, (m + r·x)·G)`` equals ``(r·G, m·G + r·h)``: same r, same bytes."""
    pk, sk = keys
    assert sk.encrypt(m, r) == pk.encrypt(m, r)
    assert sk.decrypt_many(sk.encrypt_many([m, -m])) == [m, -m]


def test_private_key_parameters_are_checked(keys: Keys) -> None:
    pk, sk = keys
    with pytest.raises(ValueError, match="bound"):
        EcElGamalPrivateKey(pk, sk.x, bound=2**65)
    with pytest.raises(ValueError, match="table size"):
        EcElGamalPrivateKey(pk, sk.x, table_size=0)
    with pytest.raises(ValueError, match="secret scalar"):
        EcElGamalPrivateKey(pk, 0)
