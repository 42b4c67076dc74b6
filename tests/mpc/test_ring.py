"""Ring laws of Z/2^64 and Z/2^128 against Python integers, byte layout, fixed point."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.mpc.ring import _K_CHUNK, RING64, RING128, Ring
from isthmus.wire.errors import MpcInputError

RINGS = [RING64, RING128]
EXAMPLES = settings(max_examples=60, deadline=None)


def ints(ring: Ring, count: int) -> st.SearchStrategy[list[int]]:
    edge = st.sampled_from([0, 1, ring.modulus - 1, ring.modulus // 2, ring.modulus // 2 - 1])
    value = st.one_of(st.integers(0, ring.modulus - 1), edge, st.integers(-(2**70), 2**70))
    return st.lists(value, min_size=count, max_size=count)


def ref(ring: Ring, values: Any) -> list[int]:
    return [int(v) % ring.modulus for v in np.asarray(values, dtype=object).ravel()]


def got(ring: Ring, tensor: Any) -> list[int]:
    return [int(v) for v in ring.to_unsigned_int(tensor).ravel()]


@pytest.mark.parametrize("ring", RINGS, ids=str)
@EXAMPLES
@given(data=st.data())
def test_elementwise_laws(ring: Ring, data: st.DataObject) -> None:
    xs = data.draw(ints(ring, 6))
    ys = data.draw(ints(ring, 6))
    a = ring.reshape(ring.from_int(np.array(xs, dtype=object)), (2, 3))
    b = ring.reshape(ring.from_int(np.array(ys, dtype=object)), (2, 3))
    assert ring.shape(a) == (2, 3)
    assert got(ring, a) == ref(ring, xs)
    grid = np.array(xs, dtype=object).reshape(2, 3)
    other = np.array(ys, dtype=object).reshape(2, 3)
    assert got(ring, ring.add(a, b)) == ref(ring, grid + other)
    assert got(ring, ring.sub(a, b)) == ref(ring, grid - other)
    assert got(ring, ring.neg(a)) == ref(ring, -grid)
    assert got(ring, ring.mul(a, b)) == ref(ring, grid * other)
    assert got(ring, ring.sum(a, axis=0)) == ref(ring, grid.sum(axis=0))
    assert got(ring, ring.sum(a, axis=1)) == ref(ring, grid.sum(axis=1))
    assert got(ring, ring.sum(a)) == ref(ring, [sum(xs)])
    assert got(ring, ring.transpose(a)) == ref(ring, grid.T)


def signed(ring: Ring, v: int) -> int:
    v %= ring.modulus
    return v - ring.modulus if v >= ring.modulus // 2 else v


@pytest.mark.parametrize("ring", RINGS, ids=str)
@EXAMPLES
@given(data=st.data())
def test_shifts(ring: Ring, data: st.DataObject) -> None:
    xs = data.draw(ints(ring, 5))
    f = data.draw(st.integers(0, ring.bits - 1))
    a = ring.from_int(np.array(xs, dtype=object))
    assert got(ring, ring.arshift(a, f)) == ref(ring, [signed(ring, x) >> f for x in xs])
    assert got(ring, ring.lshift(a, f)) == ref(ring, [x << f for x in xs])
    assert [int(v) for v in ring.to_signed_int(a)] == [signed(ring, x) for x in xs]


@pytest.mark.parametrize("ring", RINGS, ids=str)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_matmul_is_exact(ring: Ring, data: st.DataObject) -> None:
    m, k, n = (data.draw(st.integers(1, 4)) for _ in range(3))
    xs = np.array(data.draw(ints(ring, m * k)), dtype=object).reshape(m, k)
    ys = np.array(data.draw(ints(ring, k * n)), dtype=object).reshape(k, n)
    out = ring.matmul(ring.from_int(xs), ring.from_int(ys))
    assert ring.shape(out) == (m, n)
    assert got(ring, out) == ref(ring, xs.dot(ys))


@pytest.mark.parametrize("ring", RINGS, ids=str)
def test_matmul_over_several_k_chunks_with_extreme_values(ring: Ring) -> None:
    # every element 2^bits - 1: the largest limbs, summed over more than one k chunk
    k = _K_CHUNK + 3
    rng = np.random.default_rng(7)
    xs = np.full((2, k), ring.modulus - 1, dtype=object)
    ys = np.array([int(v) for v in rng.integers(0, 2**63, size=k * 3)], dtype=object)
    ys = (ys * ys).reshape(k, 3)
    out = ring.matmul(ring.from_int(xs), ring.from_int(ys))
    assert got(ring, out) == ref(ring, xs.dot(ys))


@pytest.mark.parametrize("ring", RINGS, ids=str)
@EXAMPLES
@given(data=st.data())
def test_bytes_round_trip_and_layout(ring: Ring, data: st.DataObject) -> None:
    xs = data.draw(ints(ring, 4))
    a = ring.reshape(ring.from_int(np.array(xs, dtype=object)), (2, 2))
    buf = ring.to_bytes(a)
    assert len(buf) == 4 * ring.element_bytes
    assert np.array_equal(ring.from_bytes(buf, (2, 2)), a)
    width = ring.element_bytes
    first = int.from_bytes(buf[:width], "little")  # low limb first, then high limb
    assert first == xs[0] % ring.modulus


@pytest.mark.parametrize("ring", RINGS, ids=str)
def test_from_bytes_refuses_a_wrong_length(ring: Ring) -> None:
    with (
        pytest.raises(MpcInputError, match="needs 32 bytes, got 31")
        if ring.bits == 64
        else (pytest.raises(MpcInputError, match="needs 64 bytes, got 31"))
    ):
        ring.from_bytes(bytes(31), (2, 2))


@pytest.mark.parametrize("ring", RINGS, ids=str)
@EXAMPLES
@given(
    values=st.lists(st.floats(-(2.0**30), 2.0**30, allow_nan=False), min_size=1, max_size=8),
    f=st.integers(0, 30),
)
def test_encode_drops_the_fraction_toward_zero(ring: Ring, values: list[float], f: int) -> None:
    x = np.array(values)
    enc = ring.encode(x, f)
    expected = [int(np.trunc(v * 2.0**f)) for v in values]
    assert [int(v) for v in ring.to_signed_int(enc)] == expected
    assert np.array_equal(ring.decode(enc, f), np.array(expected, dtype=np.float64) / 2.0**f)


@pytest.mark.parametrize("ring", RINGS, ids=str)
def test_encode_refuses_what_does_not_fit(ring: Ring) -> None:
    with pytest.raises(MpcInputError):
        ring.encode(np.array([np.nan]), 18)
    with pytest.raises(MpcInputError):
        ring.encode(np.array([2.0 ** (ring.bits - 18)]), 18)


def test_int_inputs_of_numpy_dtypes() -> None:
    assert got(RING128, RING128.from_int(np.array([-1, 2], dtype=np.int32))) == [
        RING128.modulus - 1,
        2,
    ]
    assert got(RING128, RING128.from_int(np.array([2**64 - 1], dtype=np.uint64))) == [2**64 - 1]
    assert got(RING64, RING64.from_int([-3])) == [2**64 - 3]
    with pytest.raises(MpcInputError):
        Ring(32)
    with pytest.raises(MpcInputError, match="use encode"):
        RING64.from_int(np.array([1.5]))
