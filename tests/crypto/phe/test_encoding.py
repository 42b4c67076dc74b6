"""Fixed point as HEU's FloatEncoder: truncation toward zero at SGB's scale 2^20."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.crypto.phe import (
    SGB_SCALE,
    EncodingError,
    FixedPointEncoder,
    PaillierPrivateKey,
    PaillierPublicKey,
)

REALS = st.floats(min_value=-(2.0**40), max_value=2.0**40, allow_nan=False)


def test_sgb_scale_is_two_to_the_twenty() -> None:
    assert SGB_SCALE == 1_048_576
    assert FixedPointEncoder().scale == SGB_SCALE


def test_truncates_toward_zero_like_heu() -> None:
    # values observed from HEU 0.5.1b0's FloatEncoder(IcPaillier, 2**20) in the SF venv
    encoder = FixedPointEncoder()
    observed = {
        0.3: 314572,
        -0.3: -314572,
        1.0: 1048576,
        5e-7: 0,
        -5e-7: 0,
        2.5 / 2**20: 2,
        3.5 / 2**20: 3,
        -2.5 / 2**20: -2,
    }
    for x, m in observed.items():
        assert encoder.encode(x) == m, x
    assert encoder.decode(314572) == 0.2999992370605469


@given(x=REALS)
def test_round_trip_within_one_unit(x: float) -> None:
    encoder = FixedPointEncoder()
    y = encoder.decode(encoder.encode(x))
    assert abs(y - x) < encoder.precision
    assert abs(y) <= abs(x)  # truncation never moves away from zero


@given(
    x=st.floats(min_value=-(2.0**20), max_value=2.0**20, allow_nan=False),
    digits=st.integers(min_value=0, max_value=9),
)
def test_decimal_scale_round_trip(x: float, digits: int) -> None:
    encoder = FixedPointEncoder(scale=10**digits)
    # one unit plus one rounding of the double product
    bound = encoder.precision + abs(x) * 2**-52
    assert abs(encoder.decode(encoder.encode(x)) - x) <= bound


def test_refusals() -> None:
    encoder = FixedPointEncoder()
    for x in (math.nan, math.inf, -math.inf, 1e308):
        with pytest.raises(EncodingError):
            encoder.encode(x)
    bounded = FixedPointEncoder(max_abs=2**62)
    for x in (2.0**43, -(2.0**43)):
        with pytest.raises(EncodingError, match="too large"):
            bounded.encode(x)
    # unbounded by default, exactly like HEU (observed: 1e40 at 2^20)
    assert encoder.encode(1e40) == 10485760000000000318542738543873797013637169152
    with pytest.raises(ValueError, match="positive"):
        FixedPointEncoder(scale=0)


@settings(max_examples=20, deadline=None)
@given(values=st.lists(st.floats(min_value=-1e3, max_value=1e3), min_size=1, max_size=6))
def test_encrypted_fixed_point_sums(
    pk: PaillierPublicKey, sk: PaillierPrivateKey, values: list[float]
) -> None:
    encoder = FixedPointEncoder()
    encoded = encoder.encode_many(values)
    total = sk.decrypt(pk.sum(pk.encrypt(m) for m in encoded))
    assert total == sum(encoded)
    assert abs(encoder.decode(total) - sum(values)) < len(values) * encoder.precision + 1e-9
