"""The disk-backed bookkeeping of a PSI party: deduplicated keys in sending order mapped
back to every row, and bucketed dual values intersected exactly."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.components.builtin.ecdh_psi.hashed import HashedSpool, _unique
from isthmus.components.builtin.ecdh_psi.spool import DualTable, ItemSpool, has_bit, set_bit
from isthmus.crypto.ecdh import CURVE25519


@settings(max_examples=30, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=6), max_size=300), st.integers(1, 9))
def test_keys_are_deduplicated_and_rows_map_back(keys: list[bytes], batch: int) -> None:
    with tempfile.TemporaryDirectory() as work:
        check_spool(Path(work), keys, batch)


def check_spool(work: Path, keys: list[bytes], batch: int) -> None:
    spool = ItemSpool(work, buckets=4)
    spool.build(keys)
    batches = list(spool.batches(batch))
    sent = [k for b in batches for k in b]
    assert sorted(sent) == sorted(set(keys)) and spool.unique == len(set(keys))
    assert all(len(b) <= batch for b in batches)
    with pytest.raises(RuntimeError, match=r"ItemSpool\.batches"):
        next(spool.batches(batch))
    chosen = set(sent[::2])
    positions = bytearray((len(sent) + 7) // 8)
    for position, key in enumerate(sent):
        if key in chosen:
            set_bit(positions, position)
    rows = spool.matched_rows(positions)
    assert [has_bit(rows, r) for r in range(len(keys))] == [k in chosen for k in keys]


@settings(max_examples=30, deadline=None)
@given(
    st.sets(st.binary(min_size=12, max_size=12), max_size=200),
    st.sets(st.binary(min_size=12, max_size=12), max_size=200),
)
def test_dual_tables_intersect_exactly(mine: set[bytes], theirs: set[bytes]) -> None:
    with tempfile.TemporaryDirectory() as work:
        check_table(Path(work), mine, theirs)


def check_table(work: Path, mine: set[bytes], theirs: set[bytes]) -> None:
    table = DualTable(work, 12, buckets=8)
    ordered = sorted(mine)
    table.add_mine(0, ordered[:50])
    table.add_mine(50, ordered[50:])
    table.add_peer(sorted(theirs))
    matched = table.matches(len(ordered))
    assert {v for i, v in enumerate(ordered) if has_bit(matched, i)} == mine & theirs


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.binary(min_size=3, max_size=3), max_size=60),
    st.lists(st.binary(min_size=3, max_size=3), max_size=60),
)
def test_dual_tables_intersect_narrow_values_with_shared_prefixes(
    mine: list[bytes], theirs: list[bytes]
) -> None:
    """3-byte values over a tiny alphabet share prefixes and end in zero bytes: the
    string fallback and the prefix search must both be exact."""
    mine = sorted({bytes(b % 3 for b in v) for v in mine})
    theirs = [bytes(b % 3 for b in v) for v in theirs]
    with tempfile.TemporaryDirectory() as work:
        table = DualTable(Path(work), 3, buckets=2)
        table.add_mine(0, mine)
        table.add_peer(theirs)
        matched = table.matches(len(mine))
    assert {v for i, v in enumerate(mine) if has_bit(matched, i)} == set(mine) & set(theirs)


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.binary(min_size=8, max_size=8), st.booleans(), max_size=80))
def test_dual_tables_compare_past_the_prefix(prefixes: dict[bytes, bool]) -> None:
    """Mine and theirs share every 8-byte prefix; only the tails tell a match."""
    theirs = [p + b"\x01\x02\x03\x04" for p in prefixes]
    mine = [
        p + (b"\x01\x02\x03\x04" if same else b"\x01\x02\x03\x05") for p, same in prefixes.items()
    ]
    with tempfile.TemporaryDirectory() as work:
        table = DualTable(Path(work), 12, buckets=4)
        table.add_mine(0, mine)
        table.add_peer(theirs)
        matched = table.matches(len(mine))
    assert [has_bit(matched, i) for i in range(len(mine))] == list(prefixes.values())


@settings(max_examples=30, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=4), max_size=300), st.integers(1, 9))
def test_hashed_spool_sends_each_keys_point_once_and_rows_map_back(
    keys: list[bytes], batch: int
) -> None:
    by_point = {hashlib.sha256(k).digest(): k for k in keys}
    with tempfile.TemporaryDirectory() as work:
        spool = HashedSpool(Path(work), CURVE25519.hash_packed, 32, buckets=4)
        spool.build(keys)
        batches = list(spool.batches(batch))
        packed = b"".join(batches)
        sent = [by_point[packed[i : i + 32]] for i in range(0, len(packed), 32)]
        assert sorted(sent) == sorted(set(keys)) and spool.unique == len(set(keys))
        assert all(0 < len(b) <= 32 * batch for b in batches)
        with pytest.raises(RuntimeError, match=r"HashedSpool\.batches"):
            next(spool.batches(batch))
        chosen = set(sent[1::2])
        positions = bytearray((len(sent) + 7) // 8)
        for position, key in enumerate(sent):
            if key in chosen:
                set_bit(positions, position)
        rows = spool.matched_rows(positions)
    assert [has_bit(rows, r) for r in range(len(keys))] == [k in chosen for k in keys]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 2)), max_size=40))
def test_hashed_spool_unique_agrees_with_numpy(cells: list[tuple[int, int]]) -> None:
    """Points that share the 8 sorted bytes but differ elsewhere, and true repeats."""
    points = np.zeros((len(cells), 32), dtype=np.uint8)
    for row, (prefix, tail) in enumerate(cells):
        points[row, 8:16], points[row, 31] = prefix, tail
    first, inverse = _unique(points)
    _, want_first = np.unique(points.view("S32").ravel(), return_index=True)
    assert sorted(first.tolist()) == sorted(want_first.tolist())
    assert (points[first[inverse]] == points).all()
