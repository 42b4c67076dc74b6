"""DataExchangeProtocol codec: round trips for every container and scalar type, Bigint and
the HE objects (hypothesis), and a partner's malformed bytes refused by name."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pytest
from google.protobuf import any_pb2
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from isthmus.wire import exchange as x
from isthmus.wire import exchange_he as h
from isthmus.wire.errors import LinkProtocolError, MalformedExchange
from isthmus.wire.proto import data_exchange_pb2 as dx
from isthmus.wire.proto import phe_pb2, phe_runtime_pb2, sgb_handshake_pb2

NUMPY_TYPES = [t for t in x.ScalarType if t not in (x.ScalarType.OBJECT, *x._WIDE)]
WIDE = {x.ScalarType.INT128: (-(2**127), 2**127 - 1), x.ScalarType.UINT128: (0, 2**128 - 1)}
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
ORDERS = st.sampled_from(["C", "F"])


def _numpy_array(scalar_type: x.ScalarType, shape: Any = SHAPES) -> st.SearchStrategy[Any]:
    return hnp.arrays(x._DTYPES[scalar_type], shape)


@st.composite
def arrays(draw: st.DrawFn, scalar_type: x.ScalarType, shape: Any = SHAPES) -> Any:
    """An array of any scalar type: numpy's own, object arrays of ints for 128 bits,
    object arrays of bytes for OBJECT."""
    if scalar_type in WIDE:
        lo, hi = WIDE[scalar_type]
        dims = draw(shape)
        values = draw(st.lists(st.integers(lo, hi), min_size=int(np.prod(dims, dtype=int))))
        flat = np.empty(int(np.prod(dims, dtype=int)), dtype=object)
        flat[:] = values[: flat.size]
        return flat.reshape(dims)
    if scalar_type is x.ScalarType.OBJECT:
        dims = draw(shape)
        flat = np.empty(int(np.prod(dims, dtype=int)), dtype=object)
        for i in range(flat.size):
            flat[i] = draw(st.binary(max_size=12))
        return flat.reshape(dims)
    return draw(_numpy_array(scalar_type, shape))


def same(a: Any, b: Any) -> bool:
    """Equal arrays: same shape and type, bytewise equal (NaN and -0.0 included)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype == object:
        return a.tolist() == b.tolist()
    return bool(a.tobytes() == b.tobytes())


ALL_TYPES = st.sampled_from(list(x.ScalarType))
FIXED_TYPES = st.sampled_from([t for t in x.ScalarType if t is not x.ScalarType.OBJECT])


# --- round trips ----------------------------------------------------------------------


@given(data=st.data(), scalar_type=ALL_TYPES)
def test_scalar_round_trip(data: st.DataObject, scalar_type: x.ScalarType) -> None:
    one = data.draw(arrays(scalar_type, st.just(())))
    value = one.item() if one.dtype != object else one[()]
    exchange = x.Exchange(scalar_type, "obj" * (scalar_type == 20), x.Container.SCALAR, value)
    back = x.unpack(x.pack(exchange))
    assert back.scalar_type is scalar_type and back.container is x.Container.SCALAR
    assert same(np.asarray(back.value, dtype=one.dtype), one)


@given(data=st.data(), scalar_type=FIXED_TYPES)
def test_f_scalar_list_round_trip(data: st.DataObject, scalar_type: x.ScalarType) -> None:
    values = data.draw(arrays(scalar_type, hnp.array_shapes(min_dims=1, max_dims=1, min_side=0)))
    exchange = x.Exchange(scalar_type, "", x.Container.F_SCALAR_LIST, values)
    back = x.unpack(x.pack(exchange))
    assert back == x.Exchange(scalar_type, "", x.Container.F_SCALAR_LIST, back.value)
    assert same(back.value, values)


@given(data=st.data(), scalar_type=ALL_TYPES)
def test_v_scalar_list_round_trip(data: st.DataObject, scalar_type: x.ScalarType) -> None:
    values = data.draw(arrays(scalar_type, hnp.array_shapes(min_dims=1, max_dims=1, min_side=0)))
    back = x.unpack(x.pack(x.Exchange(scalar_type, "n", x.Container.V_SCALAR_LIST, values)))
    assert back.container is x.Container.V_SCALAR_LIST and back.type_name == "n"
    assert same(back.value, values)


@given(data=st.data(), scalar_type=FIXED_TYPES)
def test_f_ndarray_round_trip(data: st.DataObject, scalar_type: x.ScalarType) -> None:
    array = data.draw(arrays(scalar_type))
    back = x.unpack(x.pack(x.Exchange(scalar_type, "", x.Container.F_NDARRAY, array)))
    assert same(back.value, array)
    if scalar_type not in WIDE:
        assert x.pack_array(array) == x.pack(x.Exchange(scalar_type, "", back.container, array))


@given(data=st.data(), scalar_type=ALL_TYPES, order=ORDERS)
def test_v_ndarray_round_trip(data: st.DataObject, scalar_type: x.ScalarType, order: Any) -> None:
    array = data.draw(arrays(scalar_type))
    packed = x.pack(x.Exchange(scalar_type, "t", x.Container.V_NDARRAY, array), object_order=order)
    assert same(x.unpack(packed, object_order=order).value, array)


@given(data=st.data(), scalar_type=FIXED_TYPES, count=st.integers(0, 4))
def test_f_ndarray_list_round_trip(
    data: st.DataObject, scalar_type: x.ScalarType, count: int
) -> None:
    items = [data.draw(arrays(scalar_type)) for _ in range(count)]
    back = x.unpack(x.pack(x.Exchange(scalar_type, "", x.Container.F_NDARRAY_LIST, items)))
    assert len(back.value) == count and all(map(same, back.value, items))


@given(data=st.data(), scalar_type=ALL_TYPES, count=st.integers(0, 4), order=ORDERS)
def test_v_ndarray_list_round_trip(
    data: st.DataObject, scalar_type: x.ScalarType, count: int, order: Any
) -> None:
    items = [data.draw(arrays(scalar_type)) for _ in range(count)]
    exchange = x.Exchange(scalar_type, "t", x.Container.V_NDARRAY_LIST, items)
    back = x.unpack(x.pack(exchange, object_order=order), object_order=order)
    assert len(back.value) == count and all(map(same, back.value, items))


def test_column_major_order_puts_a_column_first() -> None:
    objects = np.array([[b"g0", b"h0"], [b"g1", b"h1"]], dtype=object)
    message = dx.DataExchangeProtocol.FromString(x.pack_object_array(objects, "c", "F"))
    assert list(message.v_ndarray.items) == [b"g0", b"g1", b"h0", b"h1"]
    message = dx.DataExchangeProtocol.FromString(x.pack_object_array(objects, "c", "C"))
    assert list(message.v_ndarray.items) == [b"g0", b"h0", b"g1", b"h1"]


@given(st.integers(-(2**127), 2**128 - 1))
def test_python_ints_take_heus_smallest_type(value: int) -> None:
    back = x.unpack(x.pack_scalar(value))
    assert back.value == value
    fitting = [t for t, lo, hi in x._INT_LADDER if lo <= value <= hi]
    assert back.scalar_type is fitting[0] == min(fitting)


@pytest.mark.parametrize("value", [2**128, -(2**127) - 1])
def test_ints_beyond_128_bits_are_our_bug_not_a_message(value: int) -> None:
    with pytest.raises(ValueError, match="does not fit in 128 bits"):
        x.pack_scalar(value)


@given(st.lists(st.integers(-(2**70), 2**70), max_size=8) | st.lists(st.booleans(), min_size=1))
def test_python_lists_round_trip(values: list[Any]) -> None:
    assert x.unpack(x.pack_list(values)).value.tolist() == values


def test_heu_ladder_examples() -> None:
    assert x.smallest_int_type(196, 196) is x.ScalarType.UINT8
    assert x.smallest_int_type(15, 569) is x.ScalarType.INT16
    assert x.smallest_int_type(-1, 200) is x.ScalarType.INT16
    assert x.smallest_int_type(0, 2**64 - 1) is x.ScalarType.UINT64
    assert x.unpack(x.pack_scalar(True)).scalar_type is x.ScalarType.BOOL
    assert x.unpack(x.pack_scalar(0.5)).scalar_type is x.ScalarType.FLOAT64
    assert x.unpack(x.pack_scalar(np.float32(0.5))).scalar_type is x.ScalarType.FLOAT32


@given(
    st.integers()
    | st.integers(-(2**8192), 2**8192)
    | st.sampled_from([0, -1, 1, 2**64, -(2**2048)])
)
def test_bigint_round_trip(value: int) -> None:
    message = h.to_bigint(value)
    assert message.is_neg == (value < 0)
    assert not message.little_endian_value.endswith(b"\x00")  # minimal, as HEU writes
    wire = message.SerializeToString()
    assert h.from_bigint(phe_runtime_pb2.Bigint.FromString(wire)) == value


@given(st.integers(0, 2**100), st.integers(0, 5))
def test_bigint_tolerates_padding_and_negative_zero(value: int, pad: int) -> None:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "little") + b"\x00" * pad
    assert h.from_bigint(phe_runtime_pb2.Bigint(little_endian_value=raw)) == value
    assert h.from_bigint(phe_runtime_pb2.Bigint(is_neg=True, little_endian_value=raw)) == -value


N = (2**127 - 1) * (2**89 - 1)  # not a Paillier modulus, but the codec only needs n > 1
DIALECTS = st.sampled_from([x.HEU, x.PPCA])


@given(
    dialect=DIALECTS,
    cts=hnp.arrays(
        object, hnp.array_shapes(max_dims=2, min_side=0), elements=st.integers(1, N * N - 1)
    ),
)
def test_paillier_ciphertexts_round_trip(dialect: x.Dialect, cts: Any) -> None:
    key = h.PaillierPublicKey(N, 3)
    data = h.pack_paillier_ciphertexts(cts, dialect)
    back = h.unpack_paillier_ciphertexts(data, key, dialect)
    assert back.shape == cts.shape and back.tolist() == cts.tolist()
    # tolerant reading: the other dialect's names and tag are accepted too (same order)
    other = x.PPCA if dialect is x.HEU else x.HEU
    mixed = x.Dialect(
        *[
            getattr(other, f)
            for f in (
                "public_key_name",
                "ciphertext_name",
                "ec_public_key_name",
                "ec_ciphertext_name",
                "object_tag",
            )
        ],
        dialect.object_order,
    )
    assert h.unpack_paillier_ciphertexts(data, key, mixed).tolist() == cts.tolist()


@given(dialect=DIALECTS, n=st.integers(2, 2**3072), data=st.data())
def test_paillier_public_key_round_trip(dialect: x.Dialect, n: int, data: st.DataObject) -> None:
    key = h.PaillierPublicKey(n, data.draw(st.integers(1, n * n - 1)))
    packed = h.pack_paillier_public_key(key, dialect)
    assert x.unpack(packed).type_name == dialect.public_key_name
    assert h.unpack_paillier_public_key(packed, dialect) == key
    assert h.unpack_paillier_public_key(packed, x.PPCA if dialect is x.HEU else x.HEU) == key


@given(
    dialect=DIALECTS,
    curve=st.sampled_from([2, 3]),
    point=st.binary(min_size=1, max_size=33),
    pairs=st.lists(
        st.tuples(st.binary(min_size=1, max_size=33), st.binary(min_size=1, max_size=33)),
        max_size=6,
    ),
)
def test_ec_elgamal_round_trip(
    dialect: x.Dialect, curve: int, point: bytes, pairs: list[tuple[bytes, bytes]]
) -> None:
    key = h.EcElGamalPublicKey(curve, point)
    assert (
        h.unpack_ec_elgamal_public_key(h.pack_ec_elgamal_public_key(key, dialect), dialect) == key
    )
    packed = h.pack_ec_elgamal_ciphertexts(pairs, [len(pairs)], dialect)
    assert h.unpack_ec_elgamal_ciphertexts(packed, dialect).tolist() == pairs


# --- a partner's malformed bytes ------------------------------------------------------


def _raw(**fields: Any) -> bytes:
    return bytes(dx.DataExchangeProtocol(**fields).SerializeToString())


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (_raw(scalar_type=12, scalar=dx.Scalar(buf=b"1")), "unknown scalar type 12"),
        (_raw(scalar_type=8), "holds no container"),
        (_raw(scalar_type=8, scalar=dx.Scalar(buf=b"1234")), "4 bytes for 1 INT64"),
        (_raw(scalar_type=1, scalar=dx.Scalar(buf=b"\x02")), "neither 0 nor 1"),
        (
            _raw(scalar_type=4, f_scalar_list=dx.FScalarList(item_count=3, item_buf=b"\0" * 4)),
            "4 bytes for 3 INT16",
        ),
        (
            _raw(scalar_type=4, f_scalar_list=dx.FScalarList(item_count=-1)),
            "negative item_count",
        ),
        (
            _raw(scalar_type=3, f_ndarray=dx.FNdArray(shape=[3, 2], item_buf=b"\0" * 5)),
            "5 bytes for 6 UINT8",
        ),
        (
            _raw(scalar_type=3, f_ndarray=dx.FNdArray(shape=[2**40, 2**40])),
            "0 bytes for",
        ),
        (_raw(scalar_type=3, f_ndarray=dx.FNdArray(shape=[-1])), "negative dimension"),
        (
            _raw(scalar_type=20, v_ndarray=dx.VNdArray(shape=[2, 2], items=[b"a"] * 3)),
            "3 items for shape [2, 2]",
        ),
        (
            _raw(scalar_type=6, v_scalar_list=dx.VScalarList(items=[b"\0" * 4, b"\0" * 3])),
            "not 4 bytes",
        ),
        (_raw(scalar_type=20, f_ndarray=dx.FNdArray(shape=[1], item_buf=b"a")), "OBJECT items"),
        (
            _raw(
                scalar_type=3,
                f_ndarray_list=dx.FNdArrayList(ndarrays=[dx.FNdArray(shape=[2], item_buf=b"a")]),
            ),
            "f_ndarray_list[0]: 1 bytes for 2",
        ),
        (b"\x0a\xff", "not a DataExchangeProtocol"),
    ],
)
def test_malformed_values_are_refused_by_name(data: bytes, words: str) -> None:
    with pytest.raises(MalformedExchange, match=words.replace("[", r"\[").replace("]", r"\]")):
        x.unpack(data)


def test_the_refusal_is_a_link_protocol_error() -> None:
    assert issubclass(MalformedExchange, LinkProtocolError)


@given(st.binary(max_size=64))
def test_garbage_decodes_or_is_refused(data: bytes) -> None:
    with contextlib.suppress(MalformedExchange):
        x.unpack(data, object_order="F")


@given(cut=st.integers(0, 10**6), order=ORDERS)
def test_truncated_messages_decode_or_are_refused(cut: int, order: Any) -> None:
    full = h.pack_paillier_ciphertexts(np.array([[5, 7], [11, 13]], dtype=object))
    data = full[: cut % len(full)]
    with contextlib.suppress(MalformedExchange):
        h.unpack_paillier_ciphertexts(data, h.PaillierPublicKey(N, 3))


KEY = h.PaillierPublicKey(N, 3)


@pytest.mark.parametrize(
    ("item", "words"),
    [
        (h.paillier_ciphertext_item(N * N), "out of range"),
        (h.paillier_ciphertext_item(0), "out of range"),
        (h.paillier_ciphertext_item(-5), "out of range"),
        (h.serialize_object(phe_runtime_pb2.PaillierCiphertext()), "c is missing"),
        (b"\xff\xff\xff", "not a PaillierCiphertext"),
        (h.paillier_ciphertext_item(5)[:-9], "not a PaillierCiphertext"),
    ],
)
def test_bad_ciphertexts_are_refused(item: bytes, words: str) -> None:
    data = x.pack_object_array(np.array([item], dtype=object), "ciphertext", "F")
    with pytest.raises(MalformedExchange, match=words):
        h.unpack_paillier_ciphertexts(data, KEY)


@pytest.mark.parametrize(
    ("key", "words"),
    [
        (h.PaillierPublicKey(N, N * N), "hs is not in"),
        (h.PaillierPublicKey(N, 0), "hs is not in"),
        (h.PaillierPublicKey(1, 1), "hs is not in|not a modulus"),
    ],
)
def test_bad_public_keys_are_refused(key: h.PaillierPublicKey, words: str) -> None:
    with pytest.raises(MalformedExchange, match=words):
        h.unpack_paillier_public_key(h.pack_paillier_public_key(key))


def test_a_public_key_without_hs_is_refused() -> None:
    item = h.serialize_object(phe_runtime_pb2.PaillierPublicKey(n=h.to_bigint(N)))
    with pytest.raises(MalformedExchange, match="n or hs is missing"):
        h.unpack_paillier_public_key(x.pack_object(item, "public_key"))


def test_a_value_of_the_wrong_kind_is_refused() -> None:
    key = h.pack_paillier_public_key(h.PaillierPublicKey(N, 3))
    with pytest.raises(MalformedExchange, match="ciphertexts: expected v_ndarray, got scalar"):
        h.unpack_paillier_ciphertexts(key)
    with pytest.raises(MalformedExchange, match="expected OBJECT, got INT8"):
        h.unpack_paillier_public_key(x.pack_scalar(3))
    renamed = x.pack_object(x.unpack(key).value, "ciphertext")
    with pytest.raises(MalformedExchange, match="named"):
        h.unpack_paillier_public_key(renamed)


def test_an_any_of_the_wrong_type_is_refused() -> None:
    packed = any_pb2.Any()
    packed.Pack(phe_pb2.PaillierParamsResult(key_size=2048))
    assert x.unpack_any(packed, phe_pb2.PaillierParamsResult, "phe_param").key_size == 2048
    with pytest.raises(MalformedExchange, match=r"SgbParamsResult, got 'type\.googleapis\.com/org"):
        x.unpack_any(packed, sgb_handshake_pb2.SgbParamsResult, "algo_param")
    broken = any_pb2.Any(type_url=packed.type_url, value=b"\x08")
    with pytest.raises(MalformedExchange, match="unreadable PaillierParamsResult"):
        x.unpack_any(broken, phe_pb2.PaillierParamsResult, "phe_param")
