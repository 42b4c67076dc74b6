"""The fixed-base table equals pow() for every exponent, any window."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.crypto.phe.fixed_base import FixedBaseTable

MODULUS = (2**127 - 1) * (2**89 - 1)  # any odd modulus will do
BASE = 0x1234_5678_9ABC_DEF0_1357_9BDF


@pytest.mark.parametrize("window", [1, 4, 5, 8])
@settings(max_examples=60, deadline=None)
@given(e=st.integers(min_value=0, max_value=2**100 - 1))
def test_table_equals_pow(window: int, e: int) -> None:
    table = _table(window)
    assert table.pow(e) == pow(BASE, e, MODULUS)


@pytest.mark.parametrize("e", [0, 1, 2**100 - 1, 2**99, 255, 256, 2**100, 2**300 + 5])
def test_edges_and_fallback(e: int) -> None:
    for window in (5, 8):
        assert _table(window).pow(e) == pow(BASE, e, MODULUS)


def test_refusals() -> None:
    with pytest.raises(ValueError, match="window"):
        FixedBaseTable(BASE, MODULUS, 10, window=0)
    with pytest.raises(ValueError, match="non-negative"):
        _table(8).pow(-1)


_TABLES: dict[int, FixedBaseTable] = {}


def _table(window: int) -> FixedBaseTable:
    if window not in _TABLES:
        _TABLES[window] = FixedBaseTable(BASE, MODULUS, 100, window)
    return _TABLES[window]
