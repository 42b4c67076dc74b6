"""The HE-LR values that are not plain arrays: masked fixed-point scores and big integers.

* **Masked scores** (docs/protocol.md §14): a feature holder's partial scores
  ``u = x·w`` as fixed point (``trunc(u * 2^20)``, two's complement) plus a mask, modulo
  ``2^64``, sent as a UINT64 ``f_ndarray``. The masks of the feature holders cancel in the
  sum (pairwise, from seeds the holders exchanged), so the label holder learns only the
  sum of their scores, never one holder's. With one feature holder the mask is zero.
* **Big integers** (masked gradients the key owner decrypted): an OBJECT ``v_ndarray``
  named ``"bigint"`` whose items are ``Bigint`` protos (sign apart, little-endian
  magnitude): any size, so the mask width is not limited by a machine type.

Guarantees (property-tested): ``unmask_sum`` of the masked messages of every holder
equals the fixed-point sum of their scores whenever that sum fits in 63 bits; the
big-integer codec round-trips every Python ``int``; a partner's wrong type, name or
length is a ``MalformedExchange`` naming the message.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Final

import numpy as np

from isthmus.wire.errors import MalformedExchange
from isthmus.wire.exchange import (
    Array,
    Container,
    ScalarType,
    expect,
    pack_array,
    pack_object_array,
    unpack,
)
from isthmus.wire.exchange_he import from_bigint, to_bigint
from isthmus.wire.proto import phe_runtime_pb2 as he
from isthmus.wire.protobuf import MalformedMessage, parse

FIXED_POINT_BITS: Final = 20
"""Fixed-point fraction bits of every real HE-LR sends (HEU's SGB scale, 2^20)."""

SCALE: Final = 1 << FIXED_POINT_BITS
BIGINT_NAME: Final = "bigint"
SEED_BYTES: Final = 32
_RING: Final = 1 << 64
_MAX_SCORE: Final = float(1 << 42)


def to_fixed(values: Array, what: str) -> Array:
    """``trunc(v * 2^20)`` as int64 (two's complement); refuses NaN, inf, ``|v| >= 2^42``."""
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)) or np.any(np.abs(values) >= _MAX_SCORE):
        raise ValueError(f"{what}: a value is not finite or too large for fixed point")
    fixed: Array = np.trunc(values * SCALE).astype(np.int64)
    return fixed


def mask_stream(seed: bytes, message: int, count: int) -> Array:
    """``count`` pseudo-random uint64: item ``k`` is the first 8 bytes (little-endian) of
    ``SHA-256(seed || u64le(message) || u64le(k))``. ``message`` numbers the masked
    messages of one pair of holders from 0, so no mask is ever used twice."""
    prefix = seed + message.to_bytes(8, "little")
    out = np.empty(count, dtype=np.uint64)
    for k in range(count):
        digest = hashlib.sha256(prefix + k.to_bytes(8, "little")).digest()
        out[k] = int.from_bytes(digest[:8], "little")
    return out


def holder_mask(own: int, seeds: dict[int, bytes], message: int, count: int) -> Array:
    """The mask of feature holder ``own``: ``+stream`` for each partner of higher rank,
    ``-stream`` for each of lower rank (mod 2^64), so the masks of all holders sum to 0."""
    total = np.zeros(count, dtype=np.uint64)
    for partner, seed in sorted(seeds.items()):
        stream = mask_stream(seed, message, count)
        total = total + stream if partner > own else total - stream
    return total


def pack_masked_scores(scores: Array, mask: Array) -> bytes:
    """``(to_fixed(scores) + mask) mod 2^64`` as a UINT64 ``f_ndarray``."""
    fixed = to_fixed(scores, "partial scores").view(np.uint64)
    return pack_array(fixed + mask.astype(np.uint64), ScalarType.UINT64)


def unpack_masked_scores(data: bytes, count: int, what: str) -> Array:
    """A masked-score message: a UINT64 ``f_ndarray`` of exactly ``count`` items."""
    exchange = unpack(data)
    values = expect(exchange, Container.F_NDARRAY, [ScalarType.UINT64], None, what)
    if values.shape != (count,):
        raise MalformedExchange(f"{what}: expected {count} scores, got shape {values.shape}")
    return np.asarray(values, dtype=np.uint64)


def unmask_sum(messages: Sequence[Array]) -> Array:
    """The sum of the holders' masked scores modulo 2^64, as signed reals (the masks
    cancel): ``sum / 2^20``."""
    total = np.zeros(messages[0].shape, dtype=np.uint64) if messages else np.zeros(0, np.uint64)
    for values in messages:
        total = total + values
    return total.view(np.int64).astype(np.float64) / SCALE


def pack_bigints(values: Sequence[int]) -> bytes:
    """Integers as an OBJECT ``v_ndarray`` of ``Bigint`` items named ``"bigint"``."""
    items = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        items[i] = bytes(to_bigint(int(value)).SerializeToString())
    return pack_object_array(items, BIGINT_NAME)


def unpack_bigints(data: bytes, count: int, what: str) -> list[int]:
    """A ``"bigint"`` message of exactly ``count`` items."""
    exchange = unpack(data)
    objects = expect(
        exchange, Container.V_NDARRAY, [ScalarType.OBJECT], frozenset({BIGINT_NAME}), what
    )
    if objects.shape != (count,):
        raise MalformedExchange(f"{what}: expected {count} integers, got shape {objects.shape}")
    out: list[int] = []
    for index, item in enumerate(objects):
        try:
            out.append(from_bigint(parse(he.Bigint, bytes(item), f"{what} item {index}")))
        except MalformedMessage as exc:
            raise MalformedExchange(exc.message) from exc
    return out


def pack_seed(seed: bytes) -> bytes:
    """A mask seed: 32 bytes as a UINT8 ``f_ndarray``."""
    return pack_array(np.frombuffer(seed, dtype=np.uint8), ScalarType.UINT8)


def unpack_seed(data: bytes, what: str) -> bytes:
    values = expect(unpack(data), Container.F_NDARRAY, [ScalarType.UINT8], None, what)
    if values.shape != (SEED_BYTES,):
        raise MalformedExchange(f"{what}: a seed is {SEED_BYTES} bytes, got {values.shape}")
    return bytes(np.asarray(values, dtype=np.uint8).tobytes())


def pack_order(order: Array) -> bytes:
    """An epoch's row order: a UINT32 ``f_ndarray`` permutation of ``0..n-1``."""
    return pack_array(np.asarray(order, dtype=np.uint32), ScalarType.UINT32)


def unpack_order(data: bytes, rows: int, what: str) -> Array:
    """A row order, checked to be a permutation of ``0..rows-1``."""
    values = expect(unpack(data), Container.F_NDARRAY, [ScalarType.UINT32], None, what)
    order = np.asarray(values, dtype=np.int64)
    if order.shape != (rows,) or not np.array_equal(np.sort(order), np.arange(rows)):
        raise MalformedExchange(f"{what}: not a permutation of the {rows} rows")
    return order


def mask_bits(rows: int, max_abs_x: int, sigma: int = 80) -> int:
    """Bits of the gradient mask: the bound on ``|X^T d|`` at scale ``2^40`` (``rows *
    max|x| * 2^20``) plus ``sigma`` bits, so the masked value is within ``2^-sigma`` of
    uniform whatever the gradient (statistical hiding)."""
    bound = max(1, rows) * max(1, max_abs_x) * SCALE
    return math.ceil(math.log2(bound + 1)) + 1 + sigma
