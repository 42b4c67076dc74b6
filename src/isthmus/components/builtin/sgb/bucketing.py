"""Feature bucketing for SGB, reproducing SecretFlow's split points (digest §5.4 step 2).

Every party buckets its own feature columns before training; the active party then picks
splits by *global bucket index* (``buckets_counts`` maps it back to a party and a local
bucket), so both sides must derive the same buckets from the same data, and a SecretFlow
peer must derive the ones we do. The rule, read from secretflow-lite 1.10.0b1 (order-map
builder) and checked against the captured ``buckets_counts``:

* ``B = ceil(1 / bucket_eps)``; every feature has ``bucket_num = B + 1`` buckets.
* Split points: the ``B`` quantiles ``q(i / B)``, ``i = 1..B`` (numpy's default linear
  interpolation), deduplicated. If they are ``B`` distinct values they are the split
  points (the last is the column's maximum). Otherwise (ties) a skew-aware search walks
  the sorted column aiming at ``ceil(remaining / buckets_left)`` rows per bucket and cuts
  only where the value changes; a column with at most ``B`` distinct values is cut at
  each distinct value but the smallest. The maximum is appended when it is not already
  the last split point.
* Row ``x`` goes to bucket ``k`` with ``split[k-1] <= x < split[k]`` (``np.digitize``):
  the maximum lands in the highest non-empty bucket, alone when the quantile rule
  applied. Split points are padded with ``+inf`` to ``bucket_num``, so the split at
  bucket ``k`` (left child = buckets ``<= k``) is the threshold ``x < split[k]``.

One deliberate difference: a column whose search finds no cut at all (SecretFlow then
fails with an IndexError) gets the single split point ``max``. Constant columns, NaN and
non-numeric values are refused with an error naming the column: a constant column can
never split, and NaN has no place in the order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from isthmus.components.errors import AlgorithmError, ParameterError

__all__ = [
    "Bucketing",
    "bucket_num_for",
    "bucketize",
    "column_split_points",
    "sampled_column_count",
]

_MAX_BUCKET_NUM = 1 << 16


def bucket_num_for(bucket_eps: float) -> int:
    """Buckets per feature for ``bucket_eps``: ``ceil(1 / bucket_eps) + 1``.

    ``bucket_eps`` must lie in ``(0, 1]`` (SecretFlow's range for ``sketch_eps``) and give
    at most 65536 buckets, so that an index fits a uint16.
    """
    if not isinstance(bucket_eps, (int, float)) or isinstance(bucket_eps, bool):
        raise ParameterError("bucket_eps", f"must be a number, got {bucket_eps!r}")
    if not (0.0 < float(bucket_eps) <= 1.0):
        raise ParameterError("bucket_eps", f"must be in (0, 1], got {bucket_eps!r}")
    num = math.ceil(1.0 / float(bucket_eps)) + 1
    if num > _MAX_BUCKET_NUM:
        raise ParameterError(
            "bucket_eps", f"{bucket_eps!r} gives {num} buckets, more than {_MAX_BUCKET_NUM}"
        )
    return num


def sampled_column_count(features: int, col_sample: float) -> int:
    """Columns a party uses in a tree: ``max(ceil(features * col_sample), 1)``.

    SecretFlow samples only when ``col_sample < 1``; otherwise every column is used.
    """
    if features <= 0:
        return 0
    if col_sample >= 1.0:
        return features
    return max(math.ceil(features * col_sample), 1)


def _skew_split_points(sorted_x: NDArray[np.float64], b: int) -> list[float]:
    """The search SecretFlow falls back to when quantiles tie, over runs of equal values.

    It visits the sorted column in the same order as SecretFlow's element-by-element scan
    but jumps over runs of equal values, so it costs ``O(B log n)`` instead of ``O(n)``.
    """
    n = int(sorted_x.shape[0])
    values, starts = np.unique(sorted_x, return_index=True)
    categories: list[float] = []
    splits: list[float] = []
    expected = math.ceil(n / b)

    def cut(idx: int) -> bool:
        """Record a split at ``idx``; True when the search is complete."""
        nonlocal expected
        splits.append(float(sorted_x[idx]))
        if len(splits) == b - 1:
            return True
        expected = idx + math.ceil((n - idx) / (b - len(splits)))
        return False

    done = False
    fast_from: int | None = None  # the run where the skipping scan starts
    # Phase 1: while at most B + 1 distinct values have been seen, cuts fall on run starts.
    for r in range(values.shape[0]):
        start = int(starts[r])
        if len(categories) <= b:
            categories.append(float(values[r]))
        else:
            fast_from = r
        if start >= expected and cut(start):
            done = True
            break
        if fast_from is not None:
            break
    # Phase 2: jump to the expected index, then past the run of the last marked value.
    if not done and fast_from is not None:
        last = float(values[fast_from])
        idx = int(starts[fast_from])
        while True:
            idx = max(idx, expected)
            if idx < n and sorted_x[idx] == last:
                idx = int(np.searchsorted(sorted_x, last, side="right"))
            if idx >= n:
                break
            last = float(sorted_x[idx])
            if cut(idx):
                break
    if len(categories) <= b:
        return categories[1:]
    top = float(sorted_x[-1])
    if not splits or splits[-1] != top:
        splits.append(top)
    return splits


def column_split_points(x: NDArray[np.float64], bucket_num: int) -> NDArray[np.float64]:
    """The real (unpadded) split points of one column, increasing, at most ``bucket_num - 1``.

    ``x`` must be finite and 1-d; see the module docstring for the rule.
    """
    b = bucket_num - 1
    quantiles = np.unique(np.quantile(x, [i / b for i in range(1, b + 1)]))
    if quantiles.shape[0] >= b:
        return quantiles.astype(np.float64)
    return np.asarray(_skew_split_points(np.sort(x), b), dtype=np.float64)


@dataclass(frozen=True)
class Bucketing:
    """One party's bucketed features.

    ``bins[r, f]`` is row ``r``'s bucket in feature ``f`` (uint8 when ``bucket_num <= 256``,
    else uint16); ``split_points[f, k]`` is the exclusive upper bound of bucket ``k``
    (``+inf`` for the buckets past the last real split point); every feature has
    ``bucket_num`` buckets.
    """

    columns: tuple[str, ...]
    bucket_num: int
    split_points: NDArray[np.float64]
    bins: NDArray[np.unsignedinteger]

    @property
    def feature_buckets(self) -> list[int]:
        """Buckets per feature, in column order (all equal to ``bucket_num``)."""
        return [self.bucket_num] * len(self.columns)

    def buckets_count(self, columns: Sequence[int] | None = None) -> int:
        """This party's entry of ``buckets_counts``: the buckets of the columns it uses.

        ``columns`` are the sampled column indices of a tree (``None``: all columns).
        """
        used = len(self.columns) if columns is None else len(columns)
        return used * self.bucket_num

    def threshold(self, feature: int, bucket: int) -> float:
        """The split value of (feature, bucket): rows with ``x < threshold`` go left."""
        return float(self.split_points[feature, bucket])


def _as_float_column(raw: NDArray[np.generic], name: str) -> NDArray[np.float64]:
    """``raw`` as finite float64, or an error naming the column (strings are refused)."""
    if raw.dtype.kind in "USO" and any(isinstance(v, (str, bytes)) for v in raw.tolist()):
        raise AlgorithmError(f"feature column {name!r} is not numeric")
    try:
        col = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AlgorithmError(f"feature column {name!r} is not numeric") from exc
    if not np.all(np.isfinite(col)):
        raise AlgorithmError(f"feature column {name!r} holds NaN or infinite values")
    return col


def bucketize(
    features: ArrayLike, bucket_eps: float, columns: Sequence[str] | None = None
) -> Bucketing:
    """Bucket every column of ``features`` (rows x columns) as a SecretFlow peer would.

    Raises ``ParameterError`` for a bad ``bucket_eps`` and ``AlgorithmError`` naming the
    column for non-numeric, NaN/infinite or constant columns, or an empty table.
    """
    bucket_num = bucket_num_for(bucket_eps)
    arr = np.asarray(features)
    if arr.ndim != 2:
        raise AlgorithmError(f"features must be a 2-d table, got shape {arr.shape}")
    rows, width = arr.shape
    names = tuple(columns) if columns is not None else tuple(f"f{i}" for i in range(width))
    if len(names) != width:
        raise AlgorithmError(f"{len(names)} column names for {width} feature columns")
    if rows == 0:
        raise AlgorithmError("the feature table has no rows")
    dtype: type[np.unsignedinteger] = np.uint8 if bucket_num <= 256 else np.uint16
    bins = np.empty((rows, width), dtype=dtype)
    splits = np.full((width, bucket_num), np.inf, dtype=np.float64)
    for f in range(width):
        col = _as_float_column(arr[:, f], names[f])
        if col.min() == col.max():
            raise AlgorithmError(
                f"feature column {names[f]!r} is constant: it cannot split any node"
            )
        pts = column_split_points(col, bucket_num)
        splits[f, : pts.shape[0]] = pts
        bins[:, f] = np.digitize(col, pts)
    return Bucketing(columns=names, bucket_num=bucket_num, split_points=splits, bins=bins)
