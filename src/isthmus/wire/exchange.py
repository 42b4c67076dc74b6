"""The ``DataExchangeProtocol`` codec: every value one SGB (or HE-LR) party sends another.

PPCA SGB (digest §5.4) sends each value as one ``DataExchangeProtocol`` message: a scalar
type, for OBJECT items a type name, and one container (a scalar, a fixed- or
variable-size list, an n-d array, a list of n-d arrays). This module turns Python values
and numpy arrays into those bytes and back, and the homomorphic-encryption objects
(``Bigint``, Paillier and EC-ElGamal keys and ciphertexts) into OBJECT items.

Guarantees:

* ``unpack(pack_*(v))`` gives ``v`` back, for every container and scalar type (property
  tests); fixed-size items are little-endian on every platform.
* Bytes from a partner either decode or raise ``MalformedExchange`` naming what is wrong
  (item count against shape, unknown scalar type, truncated buffer, an object of the
  wrong kind or out of range); no ``IndexError``, ``struct.error`` or protobuf error
  escapes, so an algorithm never computes on a guess.

SecretFlow's HEU does not write exactly what the PPCA PDF says. What the captures show
(``../shared/wire-captures/sgb_ic_*``), and how we treat it:

* OBJECT type names: HEU writes ``"public_key"`` and ``"ciphertext"``, the PDF
  ``"paillier_public_key"`` / ``"paillier_ciphertext"`` (and ``"ec_elgamal_*"``). We
  accept every spelling and send the one of the ``Dialect`` in use.
* HEU appends an 8-byte little-endian tag after every serialized HE object (the public
  key *and* each ciphertext; value 6 for its IC Paillier). A PDF peer sends none. On
  reading, a buffer that ends with the dialect's tag is read without it; otherwise the
  whole buffer is tried, and, if that is not the message, the buffer without its last
  8 bytes (any tag).
* Item order of OBJECT n-d arrays: HEU's matrices are column-major (Eigen) and it writes
  items in storage order. The captures settle it for the n x 2 gradient matrix: the
  product modulo n² of the first half of the items (column 0 in column-major order)
  equals the encrypted sums the passive party returned for the last bucket of its
  features, while the products of the even / odd items (row-major columns) appear
  nowhere (``tests/wire/test_exchange_captures.py``). Plain numpy arrays (f_ndarray)
  are row-major as the PDF says; their captures are all one column, so nothing there
  contradicts it.
* Integers: HEU types a Python int (or list of ints) with the smallest fitting type,
  signed before unsigned at each width (196 -> UINT8, [569, 15] -> INT16); numpy arrays
  keep their dtype. We do the same, so a re-encoded capture is byte-identical.

What we send to a SecretFlow peer is ``HEU`` (its names, its tag, column-major objects);
``PPCA`` is the PDF's spelling for a peer that follows the document.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt
from google.protobuf import any_pb2
from google.protobuf.message import Message

from isthmus.wire.errors import MalformedExchange
from isthmus.wire.proto import data_exchange_pb2 as dx
from isthmus.wire.protobuf import MalformedMessage, parse

Order = Literal["C", "F"]
Array = npt.NDArray[Any]


class ScalarType(IntEnum):
    """How one item is encoded (``DataExchangeProtocol.scalar_type``)."""

    BOOL = 1
    INT8 = 2
    UINT8 = 3
    INT16 = 4
    UINT16 = 5
    INT32 = 6
    UINT32 = 7
    INT64 = 8
    UINT64 = 9
    INT128 = 10
    UINT128 = 11
    FLOAT16 = 15
    FLOAT32 = 16
    FLOAT64 = 17
    OBJECT = 20


class Container(Enum):
    """Which container of the ``oneof`` holds the items (the protobuf field names)."""

    SCALAR = "scalar"
    F_SCALAR_LIST = "f_scalar_list"
    V_SCALAR_LIST = "v_scalar_list"
    F_NDARRAY = "f_ndarray"
    V_NDARRAY = "v_ndarray"
    F_NDARRAY_LIST = "f_ndarray_list"
    V_NDARRAY_LIST = "v_ndarray_list"


#: numpy dtype of each fixed-size type that numpy has (little-endian).
_DTYPES: dict[ScalarType, np.dtype[Any]] = {
    ScalarType.BOOL: np.dtype("?"),
    ScalarType.INT8: np.dtype("i1"),
    ScalarType.UINT8: np.dtype("u1"),
    ScalarType.INT16: np.dtype("<i2"),
    ScalarType.UINT16: np.dtype("<u2"),
    ScalarType.INT32: np.dtype("<i4"),
    ScalarType.UINT32: np.dtype("<u4"),
    ScalarType.INT64: np.dtype("<i8"),
    ScalarType.UINT64: np.dtype("<u8"),
    ScalarType.FLOAT16: np.dtype("<f2"),
    ScalarType.FLOAT32: np.dtype("<f4"),
    ScalarType.FLOAT64: np.dtype("<f8"),
}
#: 128-bit integers have no numpy dtype: they decode to object arrays of Python ints.
_WIDE = {ScalarType.INT128: True, ScalarType.UINT128: False}
_BY_KIND = {(dt.kind, dt.itemsize): st for st, dt in _DTYPES.items()}
#: The smallest-type ladder HEU's serializer climbs: signed first at each width.
_INT_LADDER = (
    (ScalarType.INT8, -(2**7), 2**7 - 1),
    (ScalarType.UINT8, 0, 2**8 - 1),
    (ScalarType.INT16, -(2**15), 2**15 - 1),
    (ScalarType.UINT16, 0, 2**16 - 1),
    (ScalarType.INT32, -(2**31), 2**31 - 1),
    (ScalarType.UINT32, 0, 2**32 - 1),
    (ScalarType.INT64, -(2**63), 2**63 - 1),
    (ScalarType.UINT64, 0, 2**64 - 1),
    (ScalarType.INT128, -(2**127), 2**127 - 1),
    (ScalarType.UINT128, 0, 2**128 - 1),
)

PUBLIC_KEY_NAMES = frozenset({"public_key", "paillier_public_key"})
CIPHERTEXT_NAMES = frozenset({"ciphertext", "paillier_ciphertext"})
EC_PUBLIC_KEY_NAMES = frozenset({"public_key", "ec_elgamal_public_key"})
EC_CIPHERTEXT_NAMES = frozenset({"ciphertext", "ec_elgamal_ciphertext"})


@dataclass(frozen=True)
class Dialect:
    """How HE objects are spelt: type names, the tag after each object, item order."""

    public_key_name: str
    ciphertext_name: str
    ec_public_key_name: str
    ec_ciphertext_name: str
    #: appended to every serialized HE object (b"" for none)
    object_tag: bytes
    #: storage order of OBJECT n-d arrays
    object_order: Order


#: SecretFlow / HEU as captured: what Isthmus sends to a SecretFlow peer.
HEU = Dialect(
    "public_key", "ciphertext", "public_key", "ciphertext", (6).to_bytes(8, "little"), "F"
)
#: The PPCA PDF's spelling.
PPCA = Dialect(
    "paillier_public_key",
    "paillier_ciphertext",
    "ec_elgamal_public_key",
    "ec_elgamal_ciphertext",
    b"",
    "C",
)


@dataclass(frozen=True)
class Exchange:
    """One decoded ``DataExchangeProtocol``.

    ``value`` by container: SCALAR a ``bool``/``int``/``float`` (``bytes`` for OBJECT);
    F_SCALAR_LIST and V_SCALAR_LIST a 1-d array; F_NDARRAY and V_NDARRAY an n-d array;
    the two list containers a ``list`` of arrays. OBJECT items are ``bytes`` in object
    arrays, 128-bit integers Python ``int`` in object arrays.
    """

    scalar_type: ScalarType
    type_name: str
    container: Container
    value: Any


# --- integers and scalar types --------------------------------------------------------


def smallest_int_type(low: int, high: int) -> ScalarType:
    """The first type of HEU's ladder (int8, uint8, int16, ...) holding ``low..high``."""
    for scalar_type, lo, hi in _INT_LADDER:
        if lo <= low and high <= hi:
            return scalar_type
    raise ValueError(f"{low}..{high} does not fit in 128 bits")


def scalar_type_of(dtype: npt.DTypeLike) -> ScalarType:
    """The scalar type of a numpy dtype (bool, ints, floats up to 64 bits)."""
    dt = np.dtype(dtype)
    found = _BY_KIND.get((dt.kind, dt.itemsize))
    if found is None:
        raise ValueError(f"no DataExchangeProtocol scalar type for {dt}")
    return found


def _item_size(scalar_type: ScalarType) -> int:
    if scalar_type in _WIDE:
        return 16
    return _DTYPES[scalar_type].itemsize


def _encode_fixed(scalar_type: ScalarType, values: Array) -> bytes:
    flat = np.asarray(values).reshape(-1)
    if scalar_type in _WIDE:
        signed = _WIDE[scalar_type]
        try:
            return b"".join(int(v).to_bytes(16, "little", signed=signed) for v in flat)
        except OverflowError as exc:
            raise ValueError(f"a value does not fit in {scalar_type.name}") from exc
    return flat.astype(_DTYPES[scalar_type], copy=False).tobytes()


def _decode_fixed(scalar_type: ScalarType, buf: bytes, count: int, what: str) -> Array:
    size = _item_size(scalar_type)
    if len(buf) != count * size:
        raise MalformedExchange(
            f"{what}: {len(buf)} bytes for {count} {scalar_type.name} items of {size} bytes"
        )
    if scalar_type in _WIDE:
        signed = _WIDE[scalar_type]
        items = (
            int.from_bytes(buf[i : i + size], "little", signed=signed)
            for i in range(0, len(buf), size)
        )
        return np.fromiter(items, dtype=object, count=count)
    if scalar_type is ScalarType.BOOL:
        raw = np.frombuffer(buf, dtype=np.uint8)
        if raw.size and int(raw.max()) > 1:
            raise MalformedExchange(f"{what}: a BOOL item is neither 0 nor 1")
        return raw.astype(bool)
    return np.frombuffer(buf, dtype=_DTYPES[scalar_type]).copy()


def _scalar_type(value: int, what: str) -> ScalarType:
    try:
        return ScalarType(value)
    except ValueError:
        raise MalformedExchange(f"{what}: unknown scalar type {value}") from None


# --- packing --------------------------------------------------------------------------


def _message(scalar_type: ScalarType, type_name: str = "") -> dx.DataExchangeProtocol:
    return dx.DataExchangeProtocol(scalar_type=int(scalar_type), scalar_type_name=type_name)


def _bytes(message: dx.DataExchangeProtocol, container: Container) -> bytes:
    """The message, with ``container`` present even when empty (an empty list is still
    a list: without this the oneof would be unset on the wire)."""
    getattr(message, container.value).SetInParent()
    return bytes(message.SerializeToString())


def _type_of_values(values: Sequence[object] | Array) -> ScalarType:
    """Bools -> BOOL, ints -> the smallest fitting type, otherwise FLOAT64; a numpy
    array keeps its dtype."""
    if isinstance(values, np.ndarray) and values.dtype != object:
        return scalar_type_of(values.dtype)
    items = list(values)
    if all(isinstance(v, bool | np.bool_) for v in items) and items:
        return ScalarType.BOOL
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in items):
        ints = [int(v) for v in items]
        return smallest_int_type(min(ints, default=0), max(ints, default=0))
    return ScalarType.FLOAT64


def pack_scalar(
    value: bool | int | float | np.generic, scalar_type: ScalarType | None = None
) -> bytes:
    """One number in the ``scalar`` container (type inferred as HEU does if not given)."""
    st = scalar_type if scalar_type is not None else _type_of_values([value])
    if isinstance(value, np.generic) and scalar_type is None:
        st = scalar_type_of(value.dtype)
    message = _message(st)
    message.scalar.buf = _encode_fixed(st, np.array([value], dtype=object))
    return _bytes(message, Container.SCALAR)


def pack_object(item: bytes, type_name: str) -> bytes:
    """One serialized object (e.g. a public key) in the ``scalar`` container."""
    message = _message(ScalarType.OBJECT, type_name)
    message.scalar.buf = item
    return _bytes(message, Container.SCALAR)


def pack_list(
    values: Sequence[bool | int | float] | Array, scalar_type: ScalarType | None = None
) -> bytes:
    """Numbers in the ``f_scalar_list`` container."""
    st = scalar_type if scalar_type is not None else _type_of_values(values)
    items = np.asarray(values, dtype=object if st in _WIDE else None).reshape(-1)
    message = _message(st)
    message.f_scalar_list.item_count = int(items.size)
    message.f_scalar_list.item_buf = _encode_fixed(st, items)
    return _bytes(message, Container.F_SCALAR_LIST)


def pack_object_list(items: Sequence[bytes], type_name: str) -> bytes:
    """Serialized objects in the ``v_scalar_list`` container."""
    message = _message(ScalarType.OBJECT, type_name)
    message.v_scalar_list.items.extend(items)
    return _bytes(message, Container.V_SCALAR_LIST)


def _fill_f(target: dx.FNdArray, array: Array, st: ScalarType) -> None:
    target.shape.extend(int(d) for d in array.shape)
    target.item_buf = _encode_fixed(st, np.ascontiguousarray(array) if st not in _WIDE else array)


def pack_array(array: Array, scalar_type: ScalarType | None = None) -> bytes:
    """A numpy array in the ``f_ndarray`` container, row-major (its dtype gives the
    type unless ``scalar_type`` says otherwise; 128-bit types take object arrays)."""
    st = scalar_type if scalar_type is not None else scalar_type_of(array.dtype)
    message = _message(st)
    _fill_f(message.f_ndarray, np.asarray(array), st)
    return _bytes(message, Container.F_NDARRAY)


def pack_array_list(arrays: Sequence[Array], scalar_type: ScalarType | None = None) -> bytes:
    """Arrays of one type in the ``f_ndarray_list`` container (e.g. sample bitmaps)."""
    if scalar_type is None:
        if not arrays:
            raise ValueError("an empty array list needs its scalar_type")
        scalar_type = scalar_type_of(arrays[0].dtype)
    message = _message(scalar_type)
    for array in arrays:
        _fill_f(message.f_ndarray_list.ndarrays.add(), np.asarray(array), scalar_type)
    return _bytes(message, Container.F_NDARRAY_LIST)


def _v_item_bytes(st: ScalarType, array: Array, order: Order) -> list[bytes]:
    flat = array.ravel(order=order).tolist()
    if st is ScalarType.OBJECT:
        return [bytes(item) for item in flat]
    return [_encode_fixed(st, np.array([item], dtype=object)) for item in flat]


def _fill_v(target: dx.VNdArray, array: Array, order: Order, st: ScalarType) -> None:
    target.shape.extend(int(d) for d in array.shape)
    target.items.extend(_v_item_bytes(st, array, order))


def pack_object_array(objects: Array, type_name: str, order: Order = "C") -> bytes:
    """An object array of serialized items in the ``v_ndarray`` container, items in
    ``order`` (``"F"`` for HEU's matrices)."""
    message = _message(ScalarType.OBJECT, type_name)
    _fill_v(message.v_ndarray, objects, order, ScalarType.OBJECT)
    return _bytes(message, Container.V_NDARRAY)


def pack_object_array_list(arrays: Sequence[Array], type_name: str, order: Order = "C") -> bytes:
    """Object arrays in the ``v_ndarray_list`` container."""
    message = _message(ScalarType.OBJECT, type_name)
    for objects in arrays:
        _fill_v(message.v_ndarray_list.ndarrays.add(), objects, order, ScalarType.OBJECT)
    return _bytes(message, Container.V_NDARRAY_LIST)


def _as_array(value: Any) -> Array:
    """``value`` as an array; a list of ``bytes`` becomes an object array (numpy's own
    bytes dtype would drop trailing zero bytes)."""
    if isinstance(value, np.ndarray):
        return value
    items = list(value)
    if items and isinstance(items[0], bytes | bytearray):
        return np.fromiter((bytes(i) for i in items), dtype=object, count=len(items))
    return np.asarray(items)


def pack(exchange: Exchange, *, object_order: Order = "C") -> bytes:
    """Any ``Exchange`` (as ``unpack`` returns it) back to bytes: ``pack(unpack(b))``
    is ``b`` for what HEU and Isthmus write (canonical protobuf, same item order)."""
    st, value = exchange.scalar_type, exchange.value
    message = _message(st, exchange.type_name)
    container = exchange.container
    if container is Container.SCALAR:
        if st is ScalarType.OBJECT:
            message.scalar.buf = bytes(value)
        else:
            message.scalar.buf = _encode_fixed(st, np.array([value], dtype=object))
    elif container is Container.F_SCALAR_LIST:
        items = _as_array(value).reshape(-1)
        message.f_scalar_list.item_count = int(items.size)
        message.f_scalar_list.item_buf = _encode_fixed(st, items)
    elif container is Container.V_SCALAR_LIST:
        message.v_scalar_list.items.extend(_v_item_bytes(st, _as_array(value).reshape(-1), "C"))
    elif container is Container.F_NDARRAY:
        _fill_f(message.f_ndarray, np.asarray(value), st)
    elif container is Container.V_NDARRAY:
        _fill_v(message.v_ndarray, np.asarray(value), object_order, st)
    elif container is Container.F_NDARRAY_LIST:
        for array in value:
            _fill_f(message.f_ndarray_list.ndarrays.add(), np.asarray(array), st)
    else:
        for array in value:
            _fill_v(message.v_ndarray_list.ndarrays.add(), np.asarray(array), object_order, st)
    return _bytes(message, container)


# --- unpacking ------------------------------------------------------------------------


def _count(shape: Sequence[int], what: str) -> int:
    if any(d < 0 for d in shape):
        raise MalformedExchange(f"{what}: negative dimension in shape {list(shape)}")
    return math.prod(shape)


def _objects(items: Sequence[bytes], shape: Sequence[int], order: Order, what: str) -> Array:
    count = _count(shape, what)
    if len(items) != count:
        raise MalformedExchange(f"{what}: {len(items)} items for shape {list(shape)}")
    flat = np.fromiter((bytes(i) for i in items), dtype=object, count=count)
    return flat.reshape(tuple(shape), order=order)


def _v_items(
    st: ScalarType, items: Sequence[bytes], shape: Sequence[int], order: Order, what: str
) -> Array:
    if st is ScalarType.OBJECT:
        return _objects(items, shape, order, what)
    count = _count(shape, what)
    if len(items) != count:
        raise MalformedExchange(f"{what}: {len(items)} items for shape {list(shape)}")
    size = _item_size(st)
    if any(len(i) != size for i in items):
        raise MalformedExchange(f"{what}: a {st.name} item is not {size} bytes")
    return _decode_fixed(st, b"".join(items), count, what).reshape(tuple(shape), order=order)


def _f_array(st: ScalarType, array: dx.FNdArray, what: str) -> Array:
    if st is ScalarType.OBJECT:
        raise MalformedExchange(f"{what}: OBJECT items in a fixed-size container")
    shape = list(array.shape)
    count = _count(shape, what)
    return _decode_fixed(st, array.item_buf, count, what).reshape(tuple(shape))


def unpack(data: bytes, *, object_order: Order = "C") -> Exchange:
    """Read one ``DataExchangeProtocol`` from a partner (``object_order``: the item
    order of OBJECT n-d arrays, ``HEU.object_order`` for SecretFlow).

    Raises ``MalformedExchange`` naming what is wrong, for any bytes that are not a
    consistent message."""
    try:
        message = parse(dx.DataExchangeProtocol, data, "value is not a DataExchangeProtocol")
    except MalformedMessage as exc:
        raise MalformedExchange(exc.message) from exc
    st = _scalar_type(message.scalar_type, "DataExchangeProtocol")
    kind = message.WhichOneof("container")
    if kind is None:
        raise MalformedExchange(f"DataExchangeProtocol ({st.name}) holds no container")
    container = Container(kind)
    name = message.scalar_type_name
    what = container.value
    value: Any
    if container is Container.SCALAR:
        buf = message.scalar.buf
        value = buf if st is ScalarType.OBJECT else _decode_fixed(st, buf, 1, what)[0]
        if isinstance(value, np.generic):
            value = value.item()
    elif container is Container.F_SCALAR_LIST:
        if st is ScalarType.OBJECT:
            raise MalformedExchange(f"{what}: OBJECT items in a fixed-size container")
        count = message.f_scalar_list.item_count
        if count < 0:
            raise MalformedExchange(f"{what}: negative item_count {count}")
        value = _decode_fixed(st, message.f_scalar_list.item_buf, count, what)
    elif container is Container.V_SCALAR_LIST:
        items = list(message.v_scalar_list.items)
        value = _v_items(st, items, [len(items)], "C", what)
    elif container is Container.F_NDARRAY:
        value = _f_array(st, message.f_ndarray, what)
    elif container is Container.V_NDARRAY:
        v = message.v_ndarray
        value = _v_items(st, list(v.items), list(v.shape), object_order, what)
    elif container is Container.F_NDARRAY_LIST:
        value = [
            _f_array(st, a, f"{what}[{i}]") for i, a in enumerate(message.f_ndarray_list.ndarrays)
        ]
    else:
        value = [
            _v_items(st, list(a.items), list(a.shape), object_order, f"{what}[{i}]")
            for i, a in enumerate(message.v_ndarray_list.ndarrays)
        ]
    return Exchange(st, name, container, value)


AnyT = TypeVar("AnyT", bound=Message)


def unpack_any(packed: any_pb2.Any, kind: type[AnyT], what: str) -> AnyT:
    """The message an ``Any`` (a handshake parameter) holds, if it is a ``kind``;
    otherwise ``MalformedExchange`` naming the type URL found."""
    if not packed.Is(kind.DESCRIPTOR):
        raise MalformedExchange(
            f"{what}: expected {kind.DESCRIPTOR.full_name}, got {packed.type_url or 'nothing'!r}"
        )
    try:
        return parse(kind, packed.value, f"{what}: unreadable {kind.DESCRIPTOR.name}")
    except MalformedMessage as exc:
        raise MalformedExchange(exc.message) from exc


def expect(
    exchange: Exchange,
    container: Container,
    scalar_types: Sequence[ScalarType] | None = None,
    type_names: frozenset[str] | None = None,
    what: str = "value",
) -> Any:
    """``exchange.value`` if it has the container, scalar type and name expected;
    otherwise ``MalformedExchange`` naming what ``what`` should have been."""
    if exchange.container is not container:
        raise MalformedExchange(
            f"{what}: expected {container.value}, got {exchange.container.value}"
        )
    if scalar_types is not None and exchange.scalar_type not in scalar_types:
        wanted = "/".join(t.name for t in scalar_types)
        raise MalformedExchange(f"{what}: expected {wanted}, got {exchange.scalar_type.name}")
    if type_names is not None and exchange.type_name not in type_names:
        raise MalformedExchange(
            f"{what}: expected an object named {sorted(type_names)}, got {exchange.type_name!r}"
        )
    return exchange.value
