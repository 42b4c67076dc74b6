"""EC-ElGamal objects in ``DataExchangeProtocol``: every container that can hold objects,
both dialects, tolerant reading, and real ciphertexts that still decrypt afterwards."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from isthmus.crypto.phe.ec_elgamal import EcElGamalPublicKey, generate_keypair
from isthmus.wire import exchange as x
from isthmus.wire import exchange_he as h
from isthmus.wire.errors import MalformedExchange

KEYS = {c: generate_keypair(c, bound=1 << 16, table_size=1 << 8) for c in ("SM2", "ED25519")}
# A pool of real ciphertexts (wire encodings) per curve, with their plaintexts.
POOL = {
    c: [(pk.ciphertext_to_wire(pk.encrypt(m)), m) for m in range(-8, 9)]
    for c, (pk, _) in KEYS.items()
}
DIALECTS = st.sampled_from([x.HEU, x.PPCA])
CURVE = st.sampled_from(sorted(KEYS))
SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3)
OBJECT_CONTAINERS = [
    x.Container.SCALAR,
    x.Container.V_SCALAR_LIST,
    x.Container.V_NDARRAY,
    x.Container.V_NDARRAY_LIST,
]


@st.composite
def pair_array(draw: st.DrawFn, curve: str, shape: Any = SHAPES) -> tuple[Any, Any]:
    """An object array of ``(c1, c2)`` pairs and the array of their plaintexts."""
    dims = draw(shape)
    count = int(np.prod(dims, dtype=int))
    picks = draw(st.lists(st.sampled_from(POOL[curve]), min_size=count, max_size=count))
    pairs = np.empty(count, dtype=object)
    for i, (pair, _) in enumerate(picks):
        pairs[i] = pair
    plain = np.array([m for _, m in picks], dtype=np.int64)
    return pairs.reshape(dims), plain.reshape(dims)


def _decrypt(curve: str, pairs: Any) -> Any:
    pk, sk = KEYS[curve]
    cts = pk.ciphertexts_from_wire(pairs)
    flat = sk.decrypt_many(list(cts.ravel())) if cts.size else []
    return np.array(flat, dtype=np.int64).reshape(cts.shape)


@given(data=st.data(), curve=CURVE, dialect=DIALECTS, container=st.sampled_from(OBJECT_CONTAINERS))
@settings(max_examples=60, deadline=None)
def test_every_object_container_round_trips(
    data: st.DataObject, curve: str, dialect: x.Dialect, container: x.Container
) -> None:
    if container is x.Container.SCALAR:
        pair, m = data.draw(st.sampled_from(POOL[curve]))
        packed = h.pack_ec_elgamal_value(container, pair, dialect)
        assert h.unpack_ec_elgamal_value(packed, dialect) == (container, pair)
        pk, sk = KEYS[curve]
        assert sk.decrypt(pk.ciphertext_from_wire(pair, "c")) == m
        return
    if container is x.Container.V_NDARRAY_LIST:
        drawn = data.draw(st.lists(pair_array(curve), max_size=3))
        packed = h.pack_ec_elgamal_value(container, [p for p, _ in drawn], dialect)
        kind, back = h.unpack_ec_elgamal_value(packed, dialect)
        assert kind is container and len(back) == len(drawn)
        for (pairs, plain), got in zip(drawn, back, strict=True):
            assert got.shape == pairs.shape and got.tolist() == pairs.tolist()
            assert np.array_equal(_decrypt(curve, got), plain)
        return
    shape = hnp.array_shapes(min_dims=1, max_dims=1, max_side=5)
    pairs, plain = data.draw(
        pair_array(curve, shape if container is x.Container.V_SCALAR_LIST else SHAPES)
    )
    packed = h.pack_ec_elgamal_value(container, pairs, dialect)
    kind, back = h.unpack_ec_elgamal_value(packed, dialect)
    assert kind is container and back.shape == pairs.shape
    assert back.tolist() == pairs.tolist()
    assert np.array_equal(_decrypt(curve, back), plain)


@given(curve=CURVE, writer=DIALECTS, reader=DIALECTS)
@settings(max_examples=20, deadline=None)
def test_reading_is_tolerant_of_names_and_tags(
    curve: str, writer: x.Dialect, reader: x.Dialect
) -> None:
    """Either spelling, tag or no tag: a 1-d array (same order in C and F) reads back
    under the other dialect; a public key too."""
    pairs = [pair for pair, _ in POOL[curve][:5]]
    packed = h.pack_ec_elgamal_value(x.Container.V_NDARRAY, pairs, writer)
    _, back = h.unpack_ec_elgamal_value(packed, reader)
    assert back.tolist() == pairs
    pk, _ = KEYS[curve]
    key = h.unpack_ec_elgamal_public_key(h.pack_ec_elgamal_public_key(pk.to_wire(), writer), reader)
    assert EcElGamalPublicKey.from_wire(key) == pk


def test_names_follow_the_dialect() -> None:
    pk, _ = KEYS["SM2"]
    pair = POOL["SM2"][0][0]
    for dialect, key_name, ct_name in (
        (x.PPCA, "ec_elgamal_public_key", "ec_elgamal_ciphertext"),
        (x.HEU, "public_key", "ciphertext"),
    ):
        assert x.unpack(h.pack_ec_elgamal_public_key(pk.to_wire(), dialect)).type_name == key_name
        packed = h.pack_ec_elgamal_value(x.Container.SCALAR, pair, dialect)
        assert x.unpack(packed).type_name == ct_name


def test_matrix_item_order_follows_the_dialect() -> None:
    """A 2 x 2 matrix: PPCA writes row-major, HEU column-major; each reads its own back."""
    pairs = np.empty((2, 2), dtype=object)
    for i, (pair, _) in enumerate(POOL["ED25519"][:4]):
        pairs.flat[i] = pair
    for dialect in (x.PPCA, x.HEU):
        packed = h.pack_ec_elgamal_value(x.Container.V_NDARRAY, pairs, dialect)
        raw = x.unpack(packed).value  # read as row-major
        items = [h.read_ec_elgamal_ciphertext(i, "c", dialect) for i in raw.ravel()]
        expected = pairs.ravel(order=dialect.object_order).tolist()
        assert items == expected
        assert h.unpack_ec_elgamal_value(packed, dialect)[1].tolist() == pairs.tolist()


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (x.pack_object(b"\x0a\x01\x02", "ec_elgamal_ciphertext"), "c1 or c2 is missing"),
        (x.pack_object(b"\xff\xff", "ec_elgamal_ciphertext"), "not a EcElGamalCiphertext"),
        (x.pack_object(b"", "paillier_ciphertext"), "expected an object named"),
        (x.pack_list([1, 2]), "expected OBJECT"),
    ],
)
def test_malformed_messages_are_refused_by_name(data: bytes, match: str) -> None:
    with pytest.raises(MalformedExchange, match=match):
        h.unpack_ec_elgamal_value(data, x.PPCA)


def test_fixed_size_containers_cannot_hold_ciphertexts() -> None:
    with pytest.raises(ValueError, match="f_ndarray"):
        h.pack_ec_elgamal_value(x.Container.F_NDARRAY, [], x.PPCA)
