"""The plaintext SGB reference: gain and leaf weights on a case worked by hand, and the
breast-cancer run SecretFlow measured (1 round, depth 3, bucket_eps 0.1: AUC 0.977148)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import roc_auc_score

from isthmus.components.builtin.sgb.bucketing import bucketize
from tests.components import sgb_reference as ref

# Four rows, one feature already bucketed 0..3, labels 0 0 1 1, margin 0 (p = 1/2):
# g = p - y = [.5, .5, -.5, -.5], h = p(1-p) = 1/4 each. With lambda = 1, gamma = 0:
# split at bucket 1: GL = 1, HL = .5, GR = -1, HR = .5, G = 0, H = 1
# gain = 1/1.5 + 1/1.5 - 0/2 = 4/3; leaves -(1/1.5)*.3 = -0.2 and +0.2.
BINS = np.array([[0], [1], [2], [3]], dtype=np.uint8)
Y = np.array([0.0, 0.0, 1.0, 1.0])


def test_gain_by_hand() -> None:
    assert float(ref.split_gain(1.0, 0.5, -1.0, 0.5, 1.0, 0.0)) == pytest.approx(4 / 3)
    assert float(ref.split_gain(1.0, 0.5, -1.0, 0.5, 1.0, 0.5)) == pytest.approx(4 / 3 - 0.5)
    # split at bucket 0: GL = .5, HL = .25, GR = -.5, HR = .75
    assert float(ref.split_gain(0.5, 0.25, -0.5, 0.75, 1.0, 0.0)) == pytest.approx(
        0.25 / 1.25 + 0.25 / 1.75
    )


def test_leaf_weight_by_hand() -> None:
    assert ref.leaf_weight(1.0, 0.5, 1.0, 0.3) == pytest.approx(-0.2)
    assert ref.leaf_weight(-1.0, 0.5, 1.0, 0.3) == pytest.approx(0.2)
    assert ref.leaf_weight(0.0, 0.0, 1.0, 0.3) == 0.0


def test_gradients() -> None:
    g, h = ref.gradients("logistic", Y, np.zeros(4))
    assert g.tolist() == [0.5, 0.5, -0.5, -0.5] and h.tolist() == [0.25] * 4
    g, h = ref.gradients("linear", Y, np.full(4, 0.25))
    assert g.tolist() == [0.25, 0.25, -0.75, -0.75] and h.tolist() == [1.0] * 4
    with pytest.raises(ValueError, match="objective"):
        ref.gradients("poisson", Y, np.zeros(4))


def test_one_stump_by_hand() -> None:
    booster = ref.train(BINS, Y, 4, max_depth=1)
    (tree,) = booster.trees
    assert tree.splits == {0: (0, 1)}
    assert tree.leaves == pytest.approx({1: -0.2, 2: 0.2})
    assert booster.margin(BINS).tolist() == pytest.approx([-0.2, -0.2, 0.2, 0.2])
    assert booster.predict(BINS) == pytest.approx(1 / (1 + np.exp(-booster.margin(BINS))))


def test_gamma_zero_always_splits_gamma_positive_needs_gain() -> None:
    """SecretFlow's rule: with gamma 0 a node splits even on no gain (an empty child gets
    weight 0); with gamma > 0 only when the gain beats it."""
    flat = np.array([0.0, 1.0, 0.0, 1.0])
    same = np.zeros((4, 1), dtype=np.uint8)
    always = ref.train(same, flat, 2, max_depth=1).trees[0]
    assert always.splits == {0: (0, 0)} and always.leaves[2] == 0.0
    assert ref.train(same, flat, 2, max_depth=1, gamma=0.1).trees[0].splits == {}
    assert ref.train(BINS, Y, 4, max_depth=1, gamma=4 / 3 + 0.01).trees[0].splits == {}
    assert ref.train(BINS, Y, 4, max_depth=1, gamma=4 / 3 - 0.01).trees[0].splits == {0: (0, 1)}


def test_ties_pick_the_first_global_bucket() -> None:
    twin = np.hstack([BINS, BINS])
    assert ref.train(twin, Y, 4, max_depth=1).trees[0].splits == {0: (0, 1)}


def test_squared_loss_boosting_shrinks_the_error() -> None:
    rng = np.random.default_rng(3)
    bins = rng.integers(0, 11, size=(400, 3)).astype(np.uint8)
    y = bins[:, 0] * 0.5 - bins[:, 2] + rng.normal(scale=0.1, size=400)
    errors = [
        float(
            np.mean(
                (ref.train(bins, y, 11, objective="linear", num_round=r).predict(bins) - y) ** 2
            )
        )
        for r in (1, 5, 20)
    ]
    assert errors[0] > errors[1] > errors[2]


def test_breast_cancer_reproduces_secretflows_auc() -> None:
    """peers.md §2: SecretFlow IC SGB, 569 rows, 15 + 15 features, 1 round, depth 3,
    bucket_eps 0.1, lambda 1, gamma 0, learning rate 0.3: train AUC 0.977148. The
    reference over the same buckets lands on the same AUC."""
    data = load_breast_cancer()
    features, labels = data["data"], data["target"].astype(np.float64)
    bucketing = bucketize(features, 0.1)
    booster = ref.train(bucketing.bins, labels, bucketing.bucket_num, num_round=1, max_depth=3)
    assert len(booster.trees[0].leaves) == 8
    auc = roc_auc_score(labels, booster.predict(bucketing.bins))
    assert auc == pytest.approx(0.977148, abs=1e-6)
