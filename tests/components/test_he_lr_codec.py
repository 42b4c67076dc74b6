"""HE-LR's wire values (he_lr/codec.py), property-tested: masked scores sum to the true
sum whatever the masks, big integers and seeds round-trip, and a partner's wrong type,
name, length or non-permutation is a MalformedExchange."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.components.builtin.he_lr import codec
from isthmus.wire.errors import MalformedExchange
from isthmus.wire.exchange import ScalarType, pack_array

scores = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=20)


@settings(max_examples=40, deadline=None)
@given(st.lists(scores, min_size=1, max_size=4).filter(lambda s: len({len(x) for x in s}) == 1),
       st.integers(0, 1000))  # fmt: skip
def test_the_holders_masks_cancel_and_only_the_sum_is_revealed(
    per_holder: list[list[float]], message: int
) -> None:
    holders = list(range(1, len(per_holder) + 1))
    seeds: dict[tuple[int, int], bytes] = {
        (i, j): bytes(np.random.default_rng(i * 31 + j).integers(0, 256, 32, dtype=np.uint8))
        for i in holders
        for j in holders
        if i < j
    }
    received = []
    for rank, values in zip(holders, per_holder, strict=True):
        own = {j if i == rank else i: s for (i, j), s in seeds.items() if rank in (i, j)}
        mask = codec.holder_mask(rank, own, message, len(values))
        data = codec.pack_masked_scores(np.array(values), mask)
        received.append(codec.unpack_masked_scores(data, len(values), "scores"))
        if len(holders) > 1:  # one holder's message alone is not its scores
            alone = codec.unmask_sum([received[-1]])
            assert not np.allclose(alone, codec.to_fixed(np.array(values), "v") / codec.SCALE)
    total = codec.unmask_sum(received)
    expected = sum(codec.to_fixed(np.array(v), "v").astype(np.int64) for v in per_holder)
    assert np.array_equal(total, np.asarray(expected) / codec.SCALE)


@given(st.lists(st.integers(-(2**300), 2**300), max_size=10))
def test_big_integers_round_trip(values: list[int]) -> None:
    assert codec.unpack_bigints(codec.pack_bigints(values), len(values), "g") == values


@given(st.binary(min_size=32, max_size=32))
def test_seeds_round_trip(seed: bytes) -> None:
    assert codec.unpack_seed(codec.pack_seed(seed), "seed") == seed


@given(st.permutations(list(range(30))))
def test_row_orders_round_trip(order: list[int]) -> None:
    got = codec.unpack_order(codec.pack_order(np.array(order)), 30, "order")
    assert got.tolist() == order


@pytest.mark.parametrize(
    ("data", "call"),
    [
        (codec.pack_order(np.array([0, 1, 1])), lambda d: codec.unpack_order(d, 3, "order")),
        (codec.pack_order(np.array([0, 1])), lambda d: codec.unpack_order(d, 3, "order")),
        (pack_array(np.zeros(3), ScalarType.FLOAT64),
         lambda d: codec.unpack_masked_scores(d, 3, "scores")),
        (codec.pack_masked_scores(np.zeros(2), np.zeros(2, np.uint64)),
         lambda d: codec.unpack_masked_scores(d, 3, "scores")),
        (codec.pack_bigints([1, 2]), lambda d: codec.unpack_bigints(d, 3, "g")),
        (codec.pack_seed(b"x" * 32)[:-1], lambda d: codec.unpack_seed(d, "seed")),
        (codec.pack_seed(b"x" * 32), lambda d: codec.unpack_bigints(d, 32, "g")),
    ],
)  # fmt: skip
def test_malformed_values_are_refused(data: bytes, call: object) -> None:
    with pytest.raises(MalformedExchange):
        call(data)  # type: ignore[operator]


def test_fixed_point_refuses_what_it_cannot_hold() -> None:
    for bad in (float("nan"), float("inf"), 2.0**42):
        with pytest.raises(ValueError, match="fixed point"):
            codec.to_fixed(np.array([bad]), "v")
    assert codec.to_fixed(np.array([0.3, -0.3]), "v").tolist() == [314572, -314572]
