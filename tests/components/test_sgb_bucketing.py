"""SGB feature bucketing: SecretFlow's split points on hand-checked and recorded cases, the
captured ``buckets_counts``, laws over random columns, and the refusals."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.datasets import load_breast_cancer

from isthmus.components.builtin.sgb.bucketing import (
    bucket_num_for,
    bucketize,
    column_split_points,
    sampled_column_count,
)
from isthmus.components.errors import AlgorithmError, ParameterError
from isthmus.wire import exchange as x
from isthmus.wire.proto import handshake_pb2, sgb_handshake_pb2
from tests.support.secretflow_sgb import peer_python
from tests.support.shared import wire_capture

# (column, B = ceil(1/eps)) -> (split points, buckets), as SecretFlow 1.10.0b1's order-map
# builder produced them (run once in the peer venv). The first five tie, so they take the
# skew-aware search; the last interpolates quantiles between three values.
GOLDEN = [
    ([0, 0, 0, 0, 0, 0, 1, 2, 3, 4], 4, [1.0, 3.0, 4.0], [0, 0, 0, 0, 0, 0, 1, 1, 2, 3]),
    ([5, 5, 5, 5, 5, 5, 5, 5, 1, 9, 9, 9], 3, [5.0, 9.0], [1] * 8 + [0, 2, 2, 2]),
    (list(range(20)), 4, [4.75, 9.5, 14.25, 19.0], [0] * 5 + [1] * 5 + [2] * 5 + [3] * 4 + [4]),
    (
        [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 9] + [10] * 10,
        5,
        [4.0, 7.0, 10.0],
        [0] * 6 + [1] * 6 + [2] * 4 + [3] * 10,
    ),
    (
        [0] * 12 + list(range(1, 15)),
        10,
        [1.0, 3.0, 5.0, 7.0, 9.0, 11.0, 12.0, 13.0, 14.0],
        [0] * 12 + [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 7, 8, 9],
    ),
    ([3, 1, 2], 10, [1.2, 1.4, 1.6, 1.8, 2.0, 2.2, 2.4, 2.6, 2.8, 3.0], [10, 0, 5]),
]


@pytest.mark.parametrize(("column", "b", "splits", "buckets"), GOLDEN)
def test_split_points_are_secretflows(
    column: list[int], b: int, splits: list[float], buckets: list[int]
) -> None:
    bucketing = bucketize(np.array(column, dtype=float).reshape(-1, 1), 1.0 / b)
    assert bucketing.bucket_num == b + 1
    real = bucketing.split_points[0, : len(splits)]
    assert real == pytest.approx(splits, abs=1e-12)
    assert np.all(np.isinf(bucketing.split_points[0, len(splits) :]))
    assert bucketing.bins[:, 0].tolist() == buckets


def test_bucket_num_is_ceil_of_the_inverse_plus_one() -> None:
    assert [bucket_num_for(e) for e in (0.1, 0.08, 0.25, 1.0, 0.3)] == [11, 14, 5, 2, 5]


def test_buckets_counts_of_the_captured_round() -> None:
    """Bob (15 breast-cancer features, the second half) announced 196 buckets for the
    negotiated bucket_eps 0.08 and col_sample 0.9: ceil(15 * 0.9) = 14 columns of 14."""
    alice = wire_capture("sgb_ic_alice_to_bob.jsonl")
    bob = wire_capture("sgb_ic_bob_to_alice.jsonl")
    values = {}
    for path in (alice, bob):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            values[record["key"]] = (path.parent / record["dump"]).read_bytes()
    response = handshake_pb2.HandshakeResponse.FromString(values["root:P2P-1:0->1"])
    sgb = x.unpack_any(response.algo_param, sgb_handshake_pb2.SgbParamsResult, "algos")
    announced = x.unpack(values["root:P2P-3:1->0"]).value
    assert announced == 196

    features = load_breast_cancer()["data"]
    assert features.shape == (569, 30)
    bucketing = bucketize(features[:, 15:], sgb.bucket_eps)
    used = sampled_column_count(15, sgb.col_sample_by_tree)
    assert bucketing.buckets_count(list(range(used))) == announced
    assert bucketing.buckets_count() == 15 * 14


def test_sampled_column_count() -> None:
    assert [sampled_column_count(15, c) for c in (1.0, 0.9, 0.5, 0.01)] == [15, 14, 8, 1]
    assert sampled_column_count(0, 0.5) == 0


def test_thresholds_send_buckets_up_to_k_left() -> None:
    col = np.arange(100, dtype=float)
    bucketing = bucketize(col.reshape(-1, 1), 0.1)
    for k in range(bucketing.bucket_num):
        left = bucketing.bins[:, 0] <= k
        assert np.array_equal(left, col < bucketing.threshold(0, k))


def test_wide_buckets_use_uint16() -> None:
    col = np.arange(1000, dtype=float).reshape(-1, 1)
    assert bucketize(col, 0.1).bins.dtype == np.uint8
    wide = bucketize(col, 0.002)
    assert wide.bins.dtype == np.uint16 and wide.bucket_num == 501
    assert int(wide.bins.max()) == 500


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def columns(draw: st.DrawFn) -> np.ndarray:
    """Columns with many ties (a small pool of values) or none, never constant."""
    n = draw(st.integers(2, 300))
    pool = draw(st.lists(finite, min_size=2, max_size=draw(st.sampled_from([3, 12, 400]))))
    col = np.array(draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n)))
    if col.min() == col.max():
        col[0] = col[0] + 1.0
    return col


@settings(max_examples=200, deadline=None)
@given(col=columns(), eps=st.sampled_from([1.0, 0.5, 0.26, 0.1, 0.08, 0.03]))
def test_bucketing_laws(col: np.ndarray, eps: float) -> None:
    bucketing = bucketize(col.reshape(-1, 1), eps)
    bins = bucketing.bins[:, 0].astype(np.int64)
    splits = bucketing.split_points[0]
    n = bucketing.bucket_num
    assert n == math.ceil(1 / eps) + 1 and splits.shape == (n,)
    # every row in exactly one bucket, the one its split points bound
    assert np.all((bins >= 0) & (bins < n))
    lower = np.where(bins > 0, splits[np.maximum(bins - 1, 0)], -np.inf)
    assert np.all((lower <= col) & (col < splits[bins]))
    # monotone: a larger value never gets a smaller bucket
    order = np.argsort(col, kind="stable")
    assert np.all(np.diff(bins[order]) >= 0)
    # split points increase; at most bucket_num buckets are used
    assert np.all(np.diff(splits[np.isfinite(splits)]) > 0)
    assert np.unique(bins).shape[0] <= n
    # the maximum sits in the highest used bucket, and every split point below it is real
    assert bins[np.argmax(col)] == bins.max()
    assert np.all(np.isfinite(splits[: bins.max()]))
    # reproducible: the same column gives the same buckets
    assert np.array_equal(column_split_points(col, n), column_split_points(col.copy(), n))


@settings(max_examples=50, deadline=None)
@given(
    data=hnp.arrays(np.float64, st.tuples(st.integers(2, 60), st.integers(1, 4)), elements=finite)
)
def test_the_table_is_bucketed_column_by_column(data: np.ndarray) -> None:
    data[0] = data[1] + 1.0  # no constant column
    table = bucketize(data, 0.2)
    for f in range(data.shape[1]):
        alone = bucketize(data[:, [f]], 0.2)
        assert np.array_equal(table.bins[:, f], alone.bins[:, 0])
        assert np.array_equal(table.split_points[f], alone.split_points[0])


def test_max_alone_in_the_last_bucket_when_quantiles_are_distinct() -> None:
    col = np.random.default_rng(7).normal(size=500)
    bucketing = bucketize(col.reshape(-1, 1), 0.1)
    last = bucketing.bins[:, 0] == bucketing.bucket_num - 1
    assert last.sum() == 1 and col[last][0] == col.max()


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ([[1.0, 2.0], [float("nan"), 3.0]], "'a' holds NaN"),
        ([[1.0, 2.0], [float("inf"), 3.0]], "'a' holds NaN or infinite"),
        ([[1.0, 2.0], [1.0, 3.0]], "'a' is constant"),
        ([[2.0, "x"], [1.0, "y"]], "'b' is not numeric"),
    ],
)
def test_bad_columns_are_named(table: list[list[object]], problem: str) -> None:
    with pytest.raises(AlgorithmError, match=problem):
        bucketize(np.array(table, dtype=object), 0.1, columns=["a", "b"])


@pytest.mark.parametrize("eps", [0.0, -0.1, 1.5, float("nan"), 1e-6])
def test_bad_bucket_eps_is_a_parameter_error(eps: float) -> None:
    with pytest.raises(ParameterError, match="bucket_eps"):
        bucketize(np.arange(10.0).reshape(-1, 1), eps)


def test_bad_shapes() -> None:
    with pytest.raises(AlgorithmError, match="2-d"):
        bucketize(np.arange(10.0), 0.1)
    with pytest.raises(AlgorithmError, match="no rows"):
        bucketize(np.empty((0, 2)), 0.1)
    with pytest.raises(AlgorithmError, match="column names"):
        bucketize(np.ones((3, 2)), 0.1, columns=["a"])


_SF_SCRIPT = """
import json, sys
import numpy as np
from secretflow.ml.boost.core.order_map_tools import qcut
cases = json.load(sys.stdin)
print(json.dumps([qcut(np.array(c, dtype=float), b)[1] for c, b in cases]))
"""


def test_split_points_match_a_live_secretflow_on_random_columns() -> None:
    """Differential: SecretFlow's own order-map code (in the peer venv) on 300 columns
    with ties of every kind (the peer venv: a loud skip without it, a failure in CI)."""
    python = peer_python()
    rng = np.random.default_rng(15)
    cases: list[tuple[list[float], int]] = []
    for i in range(300):
        n, k = int(rng.integers(2, 300)), int(rng.integers(1, 30))
        kind = i % 3
        if kind == 0:
            col = rng.integers(0, k + 1, n).astype(float)
        elif kind == 1:
            col = np.where(rng.random(n) < 0.7, 0.0, rng.normal(size=n).round(2))
        else:
            col = rng.normal(size=n)
        if col.min() == col.max():
            continue
        cases.append((col.tolist(), int(rng.choice([1, 2, 4, 10, 13, 34]))))
    run = subprocess.run(
        [str(python), "-c", _SF_SCRIPT],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    expected = json.loads(run.stdout.strip().splitlines()[-1])
    for (col, b), want in zip(cases, expected, strict=True):
        got = column_split_points(np.array(col), b + 1)
        assert got.tolist() == want, (b, col)
