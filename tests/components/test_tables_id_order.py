"""``tables.id_order``: how every party aligns its rows for a vertical model without a
message: pandas' sort order (numeric ids as numbers, others as text), never a tie."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.components.errors import AlgorithmError
from isthmus.components.tables import id_order


@given(st.lists(st.text(min_size=1, max_size=8), unique=True), st.randoms())
def test_two_parties_with_the_same_ids_in_any_order_end_aligned(
    ids: list[str], rnd: random.Random
) -> None:
    shuffled = ids[:]
    rnd.shuffle(shuffled)
    ours = [ids[r] for r in id_order(ids, "id")]
    theirs = [shuffled[r] for r in id_order(shuffled, "id")]
    assert ours == theirs


def test_integer_ids_sort_as_numbers_as_pandas_does_and_text_ids_as_text() -> None:
    assert [["10", "9", "-1"][r] for r in id_order(["10", "9", "-1"], "id")] == ["-1", "9", "10"]
    assert [["u10", "u9"][r] for r in id_order(["u10", "u9"], "id")] == ["u10", "u9"]


def test_a_repeated_id_is_refused_by_name() -> None:
    with pytest.raises(AlgorithmError, match="column 'cid' repeats the id 'u1'"):
        id_order(["u1", "u2", "u1"], "cid")
