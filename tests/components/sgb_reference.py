"""A plaintext gradient boosting over SGB's buckets: the yardstick for the secure ``sgb``.

Issue 15's acceptance asks that SGB's AUC be within 0.01 of "a plaintext gradient boosting
with the same bucketing". This is that booster: it sees all features of all parties at
once, in the clear, but otherwise follows SecretFlow's SecureBoost (secretflow-lite
1.10.0b1, ``sgb_v``) step by step, so that a secure run and this one should build the
same trees up to ties and fixed-point noise:

* margins start at ``base_score`` (SecretFlow's default 0.0, a margin, not a probability);
  ``logistic``: ``p = sigmoid(margin)``, ``g = p - y``, ``h = p (1 - p)``;
  ``linear`` (squared error): ``g = margin - y``, ``h = 1``;
* level-wise growth: nodes ``0``, ``2i+1``, ``2i+2``; levels ``0 .. max_depth-1`` split,
  level ``max_depth`` holds leaves;
* a split is (feature, bucket ``k``): left = rows whose bucket ``<= k``; its gain is
  ``GL²/(HL+lam) + GR²/(HR+lam) - (GL+GR)²/(HL+HR+lam) - gamma``; the best split of a node is the
  first maximum over the global bucket index ``feature * bucket_num + k`` (the last bucket
  of every feature sends everything left and has gain ``-gamma``);
* SecretFlow's rule for whether a node splits: with ``gamma > 0`` only when the best gain is
  positive; with ``gamma == 0`` *always* (even a useless split, which leaves an empty child);
* leaf weight ``-G/(H+lam) · learning_rate``, 0 for a leaf without rows (``H == 0``).

Row and column sampling are left out (the settings the acceptance compares use 1.0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

OBJECTIVES = ("logistic", "linear")


def sigmoid(margin: NDArray[np.float64]) -> NDArray[np.float64]:
    """The logistic link, as SecretFlow computes it."""
    out: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-margin))
    return out


def gradients(
    objective: str, y: NDArray[np.float64], margin: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """First and second derivatives of the loss in the margin, per row."""
    if objective == "logistic":
        p = sigmoid(margin)
        return p - y, p * (1.0 - p)
    if objective == "linear":
        return margin - y, np.ones_like(margin)
    raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")


def split_gain(
    gl: NDArray[np.float64] | float,
    hl: NDArray[np.float64] | float,
    gr: NDArray[np.float64] | float,
    hr: NDArray[np.float64] | float,
    reg_lambda: float,
    gamma: float,
) -> NDArray[np.float64]:
    """``GL²/(HL+lam) + GR²/(HR+lam) - (GL+GR)²/(HL+HR+lam) - gamma`` (elementwise)."""
    gl, hl, gr, hr = (np.asarray(v, dtype=np.float64) for v in (gl, hl, gr, hr))
    out: NDArray[np.float64] = (
        gl * gl / (hl + reg_lambda)
        + gr * gr / (hr + reg_lambda)
        - (gl + gr) ** 2 / (hl + hr + reg_lambda)
        - gamma
    )
    return out


def leaf_weight(g: float, h: float, reg_lambda: float, learning_rate: float) -> float:
    """``-G/(H+lam) · learning_rate``, and 0 for an empty leaf (``H == 0``)."""
    if h == 0:
        return 0.0
    return -(g / (h + reg_lambda)) * learning_rate


@dataclass
class Tree:
    """One tree: ``splits[node] = (feature, bucket)``, ``leaves[node] = weight``."""

    splits: dict[int, tuple[int, int]] = field(default_factory=dict)
    leaves: dict[int, float] = field(default_factory=dict)

    def leaf_of(self, bins: NDArray[np.unsignedinteger]) -> NDArray[np.int64]:
        """The leaf node each row of ``bins`` (rows x features) reaches."""
        node = np.zeros(bins.shape[0], dtype=np.int64)
        for _ in range(64):
            active = np.isin(node, list(self.splits))
            if not active.any():
                return node
            for nid in np.unique(node[active]).tolist():
                f, k = self.splits[nid]
                at = node == nid
                left = bins[:, f] <= k
                node[at & left] = 2 * nid + 1
                node[at & ~left] = 2 * nid + 2
        raise AssertionError("tree deeper than 64 levels")

    def predict(self, bins: NDArray[np.unsignedinteger]) -> NDArray[np.float64]:
        """The tree's contribution to each row's margin."""
        leaf = self.leaf_of(bins)
        return np.array([self.leaves[n] for n in leaf.tolist()], dtype=np.float64)


@dataclass
class Booster:
    """Trained trees plus the settings needed to predict."""

    objective: str
    base_score: float
    trees: list[Tree]

    def margin(self, bins: NDArray[np.unsignedinteger]) -> NDArray[np.float64]:
        out = np.full(bins.shape[0], self.base_score, dtype=np.float64)
        for tree in self.trees:
            out += tree.predict(bins)
        return out

    def predict(self, bins: NDArray[np.unsignedinteger]) -> NDArray[np.float64]:
        """Probabilities for ``logistic``, the margin itself for ``linear``."""
        m = self.margin(bins)
        return sigmoid(m) if self.objective == "logistic" else m


def cumulative_bucket_sums(
    bins: NDArray[np.unsignedinteger], v: NDArray[np.float64], bucket_num: int
) -> NDArray[np.float64]:
    """``out[f, k]`` = sum of ``v`` over rows whose bucket in feature ``f`` is ``<= k``."""
    width = bins.shape[1]
    flat = (bins.astype(np.int64) + np.arange(width, dtype=np.int64) * bucket_num).ravel()
    sums = np.bincount(flat, weights=np.repeat(v, width), minlength=width * bucket_num)
    out: NDArray[np.float64] = np.cumsum(sums.reshape(width, bucket_num), axis=1)
    return out


def best_split(
    bins: NDArray[np.unsignedinteger],
    g: NDArray[np.float64],
    h: NDArray[np.float64],
    bucket_num: int,
    reg_lambda: float,
    gamma: float,
) -> tuple[int, int, float]:
    """(feature, bucket, gain) of the first best split of the rows given."""
    gl = cumulative_bucket_sums(bins, g, bucket_num)
    hl = cumulative_bucket_sums(bins, h, bucket_num)
    ga, ha = float(g.sum()), float(h.sum())
    gain = split_gain(gl, hl, ga - gl, ha - hl, reg_lambda, gamma).ravel()
    best = int(np.argmax(gain))
    return best // bucket_num, best % bucket_num, float(gain[best])


def train(
    bins: NDArray[np.unsignedinteger],
    y: NDArray[np.float64],
    bucket_num: int,
    *,
    objective: str = "logistic",
    num_round: int = 1,
    max_depth: int = 3,
    reg_lambda: float = 1.0,
    gamma: float = 0.0,
    learning_rate: float = 0.3,
    base_score: float = 0.0,
    first_tree_columns: int | None = None,
) -> Booster:
    """Boost ``num_round`` trees over bucketed features ``bins`` (rows x features).

    ``first_tree_columns``: completely-SGB, the first tree splits only on the first
    that many columns (the label holder's features, which come first)."""
    y = np.asarray(y, dtype=np.float64)
    booster = Booster(objective=objective, base_score=base_score, trees=[])
    margin = np.full(y.shape[0], base_score, dtype=np.float64)
    for index in range(num_round):
        width = bins.shape[1]
        if index == 0 and first_tree_columns is not None:
            width = first_tree_columns
        g, h = gradients(objective, y, margin)
        tree = Tree()
        level = {0: np.arange(y.shape[0])}
        for depth in range(max_depth + 1):
            nxt: dict[int, NDArray[np.intp]] = {}
            for nid, rows in level.items():
                if depth < max_depth:
                    f, k, gain = best_split(
                        bins[rows][:, :width], g[rows], h[rows], bucket_num, reg_lambda, gamma
                    )
                    if gamma == 0 or gain > 0:
                        tree.splits[nid] = (f, k)
                        left = bins[rows, f] <= k
                        nxt[2 * nid + 1] = rows[left]
                        nxt[2 * nid + 2] = rows[~left]
                        continue
                gs, hs = float(g[rows].sum()), float(h[rows].sum())
                tree.leaves[nid] = leaf_weight(gs, hs, reg_lambda, learning_rate)
            level = nxt
        booster.trees.append(tree)
        margin = margin + tree.predict(bins)
    return booster
