"""Homomorphic-encryption objects as ``DataExchangeProtocol`` items (digest §5.4).

``Bigint`` <-> Python ``int`` (sign apart, magnitude little-endian with no leading zero
bytes, zero as an empty magnitude: what HEU writes, so a capture re-encodes
byte-identically); the Paillier public key ``(n, hs)`` in a ``scalar`` OBJECT; Paillier
ciphertext arrays in a ``v_ndarray`` of OBJECT items; EC-ElGamal keys and ciphertexts
likewise. Spellings and item order follow a ``Dialect`` (``isthmus.wire.exchange``):
reading accepts both spellings and the object tag or its absence; writing uses the
dialect given.

What a partner sends is checked before anyone computes on it: a public key has
``n > 1`` and ``0 < hs < n²``; a Paillier ciphertext is ``0 < c < n²`` (``c = 1`` is the
noiseless encryption of 0 that HEU sends for an empty bucket); nothing is negative.
Every failure is a ``MalformedExchange`` naming the item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from isthmus.wire.errors import MalformedExchange
from isthmus.wire.exchange import (
    CIPHERTEXT_NAMES,
    EC_CIPHERTEXT_NAMES,
    EC_PUBLIC_KEY_NAMES,
    HEU,
    PUBLIC_KEY_NAMES,
    Array,
    Container,
    Dialect,
    Exchange,
    ScalarType,
    expect,
    pack,
    pack_object,
    pack_object_array,
    pack_object_array_list,
    unpack,
)
from isthmus.wire.proto import phe_runtime_pb2 as he
from isthmus.wire.protobuf import MalformedMessage, parse

_TAG_SIZE = 8
MessageT = TypeVar(
    "MessageT",
    he.PaillierPublicKey,
    he.PaillierCiphertext,
    he.EcElGamalPublicKey,
    he.EcElGamalCiphertext,
)


def to_bigint(value: int) -> he.Bigint:
    """``value`` as a ``Bigint``: sign apart, minimal little-endian magnitude."""
    magnitude = abs(value)
    return he.Bigint(
        is_neg=value < 0,
        little_endian_value=magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "little"),
    )


def from_bigint(message: he.Bigint) -> int:
    """The integer a ``Bigint`` holds (a negative zero is zero; leading zero bytes of
    the magnitude are allowed)."""
    magnitude = int.from_bytes(message.little_endian_value, "little")
    return -magnitude if message.is_neg else magnitude


def serialize_object(message: Any, dialect: Dialect = HEU) -> bytes:
    """One HE object's item bytes: the protobuf, then the dialect's tag."""
    return bytes(message.SerializeToString()) + dialect.object_tag


def parse_object(kind: type[MessageT], item: bytes, what: str, dialect: Dialect = HEU) -> MessageT:
    """An item read as ``kind``, with or without an 8-byte tag after it.

    A buffer ending with the dialect's tag is read without it; otherwise the whole
    buffer is tried, then the buffer less its last 8 bytes (another peer's tag)."""
    tag = dialect.object_tag
    tries = [item[: -len(tag)]] if tag and item.endswith(tag) else []
    tries.append(item)
    if len(item) >= _TAG_SIZE:
        tries.append(item[:-_TAG_SIZE])
    for candidate in tries:
        try:
            return parse(kind, candidate, what)
        except MalformedMessage:
            continue
    raise MalformedExchange(f"{what}: not a {kind.DESCRIPTOR.name}")


# --- Paillier -------------------------------------------------------------------------


@dataclass(frozen=True)
class PaillierPublicKey:
    """A DJN Paillier public key: modulus ``n`` and fixed base ``hs = h^n mod n²``."""

    n: int
    hs: int


def paillier_public_key_item(key: PaillierPublicKey, dialect: Dialect = HEU) -> bytes:
    return serialize_object(he.PaillierPublicKey(n=to_bigint(key.n), hs=to_bigint(key.hs)), dialect)


def pack_paillier_public_key(key: PaillierPublicKey, dialect: Dialect = HEU) -> bytes:
    """The public key message the key owner sends first (scalar OBJECT)."""
    return pack_object(paillier_public_key_item(key, dialect), dialect.public_key_name)


def read_paillier_public_key(item: bytes, dialect: Dialect = HEU) -> PaillierPublicKey:
    """One public-key item, checked (``n > 1``, ``0 < hs < n²``)."""
    what = "Paillier public key"
    message = parse_object(he.PaillierPublicKey, item, what, dialect)
    if not (message.HasField("n") and message.HasField("hs")):
        raise MalformedExchange(f"{what}: n or hs is missing")
    n, hs = from_bigint(message.n), from_bigint(message.hs)
    if n <= 1:
        raise MalformedExchange(f"{what}: n is not a modulus")
    if not 0 < hs < n * n:
        raise MalformedExchange(f"{what}: hs is not in (0, n²)")
    return PaillierPublicKey(n, hs)


def unpack_paillier_public_key(data: bytes, dialect: Dialect = HEU) -> PaillierPublicKey:
    """The public key message, under any of its names."""
    exchange = unpack(data, object_order=dialect.object_order)
    item = expect(
        exchange, Container.SCALAR, [ScalarType.OBJECT], PUBLIC_KEY_NAMES, "Paillier public key"
    )
    return read_paillier_public_key(item, dialect)


def paillier_ciphertext_item(c: int, dialect: Dialect = HEU) -> bytes:
    return serialize_object(he.PaillierCiphertext(c=to_bigint(c)), dialect)


def read_paillier_ciphertext(
    item: bytes, n_squared: int | None, what: str, dialect: Dialect = HEU
) -> int:
    """One ciphertext item; with ``n_squared``, checked to be in ``(0, n²)``."""
    message = parse_object(he.PaillierCiphertext, item, what, dialect)
    if not message.HasField("c"):
        raise MalformedExchange(f"{what}: c is missing")
    c = from_bigint(message.c)
    if c <= 0 or (n_squared is not None and c >= n_squared):
        raise MalformedExchange(f"{what}: ciphertext out of range")
    return c


def pack_paillier_ciphertexts(values: Array, dialect: Dialect = HEU) -> bytes:
    """An array of ciphertexts (Python ints, any shape) as a ``v_ndarray`` message, items
    in the dialect's order (column-major for HEU)."""
    items = np.frompyfunc(lambda c: paillier_ciphertext_item(int(c), dialect), 1, 1)(
        np.asarray(values, dtype=object)
    )
    return pack_object_array(
        np.asarray(items, dtype=object), dialect.ciphertext_name, dialect.object_order
    )


def unpack_paillier_ciphertexts(
    data: bytes, key: PaillierPublicKey | None = None, dialect: Dialect = HEU
) -> Array:
    """A ``v_ndarray`` of ciphertexts as an object array of Python ints, shaped as sent;
    with ``key``, every item is checked to be in ``(0, n²)``."""
    exchange = unpack(data, object_order=dialect.object_order)
    objects = expect(
        exchange, Container.V_NDARRAY, [ScalarType.OBJECT], CIPHERTEXT_NAMES, "ciphertexts"
    )
    n_squared = key.n * key.n if key is not None else None
    out = np.empty(objects.shape, dtype=object)
    for index, item in np.ndenumerate(objects):
        out[index] = read_paillier_ciphertext(item, n_squared, f"ciphertext {index}", dialect)
    return out


# --- EC-ElGamal -----------------------------------------------------------------------


@dataclass(frozen=True)
class EcElGamalPublicKey:
    """An exponential EC-ElGamal public key: the curve (``CurveType``) and ``h = xG``."""

    curve: int
    h: bytes


def pack_ec_elgamal_public_key(key: EcElGamalPublicKey, dialect: Dialect = HEU) -> bytes:
    item = serialize_object(he.EcElGamalPublicKey(curve_name=key.curve, h=key.h), dialect)
    return pack_object(item, dialect.ec_public_key_name)


def unpack_ec_elgamal_public_key(data: bytes, dialect: Dialect = HEU) -> EcElGamalPublicKey:
    exchange = unpack(data, object_order=dialect.object_order)
    what = "EC-ElGamal public key"
    item = expect(exchange, Container.SCALAR, [ScalarType.OBJECT], EC_PUBLIC_KEY_NAMES, what)
    message = parse_object(he.EcElGamalPublicKey, item, what, dialect)
    if not message.h:
        raise MalformedExchange(f"{what}: h is missing")
    return EcElGamalPublicKey(message.curve_name, bytes(message.h))


def ec_elgamal_ciphertext_item(c1: bytes, c2: bytes, dialect: Dialect = HEU) -> bytes:
    """One ``EcElGamalCiphertext`` item (points already in their wire encoding)."""
    return serialize_object(he.EcElGamalCiphertext(c1=c1, c2=c2), dialect)


def read_ec_elgamal_ciphertext(
    item: bytes, what: str, dialect: Dialect = HEU
) -> tuple[bytes, bytes]:
    """One ciphertext item as ``(c1, c2)``, both present (the points are checked by the
    crypto layer, which knows the curve: ``isthmus.crypto.phe.ec_elgamal``)."""
    message = parse_object(he.EcElGamalCiphertext, item, what, dialect)
    if not (message.c1 and message.c2):
        raise MalformedExchange(f"{what}: c1 or c2 is missing")
    return bytes(message.c1), bytes(message.c2)


def pack_ec_elgamal_ciphertexts(
    pairs: Sequence[tuple[bytes, bytes]], shape: Sequence[int], dialect: Dialect = HEU
) -> bytes:
    """``(c1, c2)`` point pairs (in row-major order of ``shape``) as a ``v_ndarray``,
    items in the dialect's order."""
    items = np.empty(len(pairs), dtype=object)
    for i, (c1, c2) in enumerate(pairs):
        items[i] = ec_elgamal_ciphertext_item(c1, c2, dialect)
    return pack_object_array(
        items.reshape(tuple(shape)), dialect.ec_ciphertext_name, dialect.object_order
    )


def unpack_ec_elgamal_ciphertexts(data: bytes, dialect: Dialect = HEU) -> Array:
    """A ``v_ndarray`` of EC-ElGamal ciphertexts as an object array of ``(c1, c2)``."""
    exchange = unpack(data, object_order=dialect.object_order)
    objects = expect(
        exchange, Container.V_NDARRAY, [ScalarType.OBJECT], EC_CIPHERTEXT_NAMES, "ciphertexts"
    )
    out = np.empty(objects.shape, dtype=object)
    for index, item in np.ndenumerate(objects):
        out[index] = read_ec_elgamal_ciphertext(item, f"ciphertext {list(index)}", dialect)
    return out


def _pairs_to_items(value: Any, dialect: Dialect) -> Array:
    pairs = _pair_array(value)
    items = np.empty(pairs.shape, dtype=object)
    for index, pair in np.ndenumerate(pairs):
        items[index] = ec_elgamal_ciphertext_item(pair[0], pair[1], dialect)
    return items


def _items_to_pairs(items: Array, what: str, dialect: Dialect) -> Array:
    out = np.empty(items.shape, dtype=object)
    for index, item in np.ndenumerate(items):
        out[index] = read_ec_elgamal_ciphertext(item, f"{what} {list(index)}", dialect)
    return out


def pack_ec_elgamal_value(container: Container, value: Any, dialect: Dialect = HEU) -> bytes:
    """EC-ElGamal ciphertexts in any container that holds objects: ``SCALAR`` one
    ``(c1, c2)``; ``V_SCALAR_LIST`` and ``V_NDARRAY`` an object array of pairs (n-d for
    the latter, items in the dialect's order); ``V_NDARRAY_LIST`` a list of such arrays.
    The fixed-size containers cannot hold objects (``ValueError``)."""
    name = dialect.ec_ciphertext_name
    if container is Container.SCALAR:
        return pack_object(ec_elgamal_ciphertext_item(value[0], value[1], dialect), name)
    if container is Container.V_SCALAR_LIST:
        items = _pairs_to_items(value, dialect)
        return pack(Exchange(ScalarType.OBJECT, name, container, items.reshape(-1)))
    if container is Container.V_NDARRAY:
        return pack_object_array(_pairs_to_items(value, dialect), name, dialect.object_order)
    if container is Container.V_NDARRAY_LIST:
        arrays = [_pairs_to_items(a, dialect) for a in value]
        return pack_object_array_list(arrays, name, dialect.object_order)
    raise ValueError(f"{container.value} cannot hold EC-ElGamal ciphertexts")


def _pair_array(value: Any) -> Array:
    """A sequence of ``(c1, c2)`` as a 1-d object array of tuples (numpy would otherwise
    make a 2-d array of bytes)."""
    if isinstance(value, np.ndarray):
        return value
    items = list(value)
    out = np.empty(len(items), dtype=object)
    for i, pair in enumerate(items):
        out[i] = (bytes(pair[0]), bytes(pair[1]))
    return out


def unpack_ec_elgamal_value(data: bytes, dialect: Dialect = HEU) -> tuple[Container, Any]:
    """Any message of EC-ElGamal ciphertexts (either spelling, tag or none), as
    :func:`pack_ec_elgamal_value` takes it; ``MalformedExchange`` for anything else."""
    exchange = unpack(data, object_order=dialect.object_order)
    what = "ciphertexts"
    if exchange.scalar_type is not ScalarType.OBJECT:
        raise MalformedExchange(f"{what}: expected OBJECT, got {exchange.scalar_type.name}")
    if exchange.type_name not in EC_CIPHERTEXT_NAMES:
        raise MalformedExchange(
            f"{what}: expected an object named {sorted(EC_CIPHERTEXT_NAMES)}, "
            f"got {exchange.type_name!r}"
        )
    container, value = exchange.container, exchange.value
    if container is Container.SCALAR:
        return container, read_ec_elgamal_ciphertext(value, "ciphertext", dialect)
    if container is Container.V_NDARRAY_LIST:
        return container, [
            _items_to_pairs(a, f"ciphertext list[{i}]", dialect) for i, a in enumerate(value)
        ]
    return container, _items_to_pairs(value, "ciphertext", dialect)
